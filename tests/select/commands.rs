//! `which` and `exec` as people run them, and what `doctor` says of the rules.

use std::time::{Duration, Instant};

use super::*;

/// A helper environment with alice's token for `work` and bob's as the default.
fn two_accounts(keyring: &SecretService) -> Env {
    let mut env = Env::new(keyring);
    ok(&env.store("127.0.0.1:5000", "bob", "bob-secret"));
    as_integration(&mut env, "work", |env| {
        ok(&env.store("127.0.0.1:5000", "alice", "alice-secret"))
    });
    env
}

#[test]
fn which_says_what_get_returns_here_and_why() {
    let keyring = SecretService::start();
    let mut env = two_accounts(&keyring);
    env.write_config_toml(&format!("stale_after_days = 90\n\n{WORK_RULE}"));
    let work = env.home_dir("work/app");
    let oss = env.home_dir("oss/lib");
    let which = |env: &Env, dir, args: &[&str]| {
        let mut all = vec!["which"];
        all.extend(args);
        env.client_in(dir, BIN, &all, "")
    };
    assert_eq!(
        ok(&which(&env, &work, &["http://127.0.0.1:5000/"])),
        "work@127.0.0.1:5000 as alice: rule 1 in config.toml line 3: dir ~/work/**\n"
    );
    assert_eq!(
        ok(&which(&env, &oss, &["127.0.0.1:5000"])),
        "default@127.0.0.1:5000 as bob: the default token of 127.0.0.1:5000\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&which(&env, &work, &["127.0.0.1:5000", "--json"]))).unwrap();
    assert_eq!(json["token"], "work@127.0.0.1:5000");
    assert_eq!(json["chosen_by"], "rule 1");
    assert_eq!(json["found"], true);
    let all = ok(&which(&env, &work, &[]));
    assert!(
        all.starts_with("REGISTRY") && all.contains("work@127.0.0.1:5000"),
        "{all}"
    );
    as_integration(&mut env, "ci", |env| {
        let none = which(env, &work, &["127.0.0.1:5000"]);
        assert_eq!(
            fails(&none),
            "ci@127.0.0.1:5000 (not stored: get finds nothing): DOCKER_PAT_INTEGRATION=ci\n"
        );
    });
    // An inactive token chosen by a rule is "not found", never bob's token.
    ok(&env.run(&["deactivate", "work@127.0.0.1:5000"], ""));
    assert_eq!(
        fails(&env.client_in(&work, BIN, &["get"], "127.0.0.1:5000")),
        "credentials not found in native keychain\n"
    );
    assert!(
        fails(&which(&env, &work, &["127.0.0.1:5000"])).contains("(inactive: get finds nothing)")
    );
    assert_eq!(
        ok(&env.client_in(&work, BIN, &["list"], "")),
        "{}\n",
        "list shows exactly what get returns here"
    );
    assert_eq!(
        ok(&env.client_in(&oss, BIN, &["list"], "")),
        "{\"127.0.0.1:5000\":\"bob\"}\n"
    );
}

#[test]
fn a_symlinked_project_matches_as_the_user_sees_it() {
    let keyring = SecretService::start();
    let env = two_accounts(&keyring);
    env.write_config_toml(WORK_RULE);
    let real = env.root.path().join("elsewhere/app");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(env.home().join("work")).unwrap();
    let link = env.home().join("work/app");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut command = env.command(BIN);
    command.arg("get").current_dir(&link).env("PWD", &link);
    assert_eq!(
        ok(&run_with_input(command, "127.0.0.1:5000", BIN)),
        get_reply("127.0.0.1:5000", "alice", "alice-secret")
    );
    let mut command = env.command(BIN);
    command.arg("get").current_dir(&link).env("PWD", env.home());
    assert_eq!(
        ok(&run_with_input(command, "127.0.0.1:5000", BIN)),
        get_reply("127.0.0.1:5000", "bob", "bob-secret"),
        "a $PWD that is another directory is not believed"
    );
}

#[test]
fn exec_passes_the_integration_the_exit_status_and_signals() {
    let keyring = SecretService::start();
    let env = two_accounts(&keyring);
    let home = env.home();
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "--integration", "work", "--"];
        all.extend(args);
        env.client_in(&home, BIN, &all, "")
    };
    let out = exec(&[
        "sh",
        "-c",
        "echo \"$DOCKER_PAT_INTEGRATION\"; docker-credential-pat get <<EOF\n127.0.0.1:5000\nEOF\nexit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        stdout(&out),
        format!(
            "work\n{}",
            get_reply("127.0.0.1:5000", "alice", "alice-secret")
        )
    );
    assert_eq!(
        exec(&["sh", "-c", "kill -TERM $$"]).status.code(),
        Some(143)
    );
    assert_eq!(exec(&["/nonexistent/program"]).status.code(), Some(127));

    // Nothing runs for an integration that has no token.
    let marker = env.root.path().join("ran");
    let refused = env.client_in(
        &home,
        BIN,
        &[
            "exec",
            "--integration",
            "nobody",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("no token belongs to integration nobody"));
    assert!(!marker.exists());

    // A signal sent to exec reaches the command, which reports it.
    let trap = env.root.path().join("trapped");
    let script = format!(
        "trap 'echo term > {}; exit 5' TERM; touch {}.ready; i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        trap.display(),
        trap.display()
    );
    let mut command = env.command(BIN);
    command.args(["exec", "--integration", "work", "--", "sh", "-c", &script]);
    let child = command.spawn().unwrap();
    let ready = trap.with_extension("ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the command did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_with_timeout(child, Duration::from_secs(15), "exec after SIGTERM").status;
    assert_eq!(status.code(), Some(5), "the command's own exit status");
    assert_eq!(std::fs::read_to_string(&trap).unwrap(), "term\n");
}

#[test]
fn doctor_flags_rules_that_cannot_choose_and_a_malformed_one_names_its_line() {
    let keyring = SecretService::start();
    let mut env = two_accounts(&keyring);
    env.home_dir("work/app");
    env.write_config_toml(&format!(
        "{WORK_RULE}
[[select]]
dir = \"~/nowhere/**\"
integration = \"work\"

[[select]]
env = \"CI\"
integration = \"ghost\"

[[select]]
dir = \"~/work/app/**\"
integration = \"default\"

[[select]]
registry = \"ghcr.io\"
integration = \"work\"
"
    ));
    // Wired for podman, but a plaintext podman login would win over the helper.
    let auth = env.root.path().join("auth.json");
    std::fs::write(
        &auth,
        "{\"credHelpers\":{\"docker.io\":\"pat\"},\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"Ym9iOng=\"}}}",
    )
    .unwrap();
    env.set("REGISTRY_AUTH_FILE", auth.to_str().unwrap());
    let report = env.run(&["doctor", "--json"], "");
    let findings: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    let messages = |check: &str| -> Vec<String> {
        findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == check && f["status"] != "ok")
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let select = messages("select");
    assert_eq!(select.len(), 4, "{select:#?}");
    assert!(
        select[0].starts_with("rule 2 (config.toml line 5) can never match"),
        "{select:#?}"
    );
    assert!(
        select[1]
            .contains("rule 3 (config.toml line 9) names integration ghost, which has no token"),
        "{select:#?}"
    );
    assert!(
        select[2].contains("rule 4 (config.toml line 13) is shadowed by rule 1 (line 1)"),
        "{select:#?}"
    );
    assert!(
        select[3].contains("chooses work@ghcr.io, which does not exist"),
        "{select:#?}"
    );
    let podman = messages("podman");
    assert!(
        podman[0].contains("plaintext login for 127.0.0.1:5000"),
        "{podman:#?}"
    );
    assert_eq!(report.status.code(), Some(3), "attention needed");

    env.write_config_toml("[[select]]\nintegration = \"work\"\n\n[[select]]\ndir = \"work/**\"\nintegration = \"x\"\n");
    let refused = env.run(&["which"], "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("config.toml is invalid at line 5: [[select]] rule 2: dir \"work/**\" must start with / or ~/"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        fails(&env.get("127.0.0.1:5000")).lines().count(),
        1,
        "get refuses too, in one line"
    );
}

#[test]
fn configure_podman_writes_the_keys_podman_looks_up_and_undoes_them() {
    let keyring = SecretService::start();
    let mut env = two_accounts(&keyring);
    let primary = env.root.path().join("run/containers/auth.json");
    std::fs::create_dir_all(primary.parent().unwrap()).unwrap();
    std::fs::write(
        &primary,
        "{\"auths\":{\"example.org\":{}},\"credHelpers\":{\"gcr.io\":\"gcloud\"}}",
    )
    .unwrap();
    env.set(
        "XDG_RUNTIME_DIR",
        env.root.path().join("run").to_str().unwrap(),
    );
    let persistent = env.home().join(".config/containers/auth.json");
    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };

    // Without --registry: Docker Hub, and every registry with tokens, in both files.
    let done = ok(&env.run(&["configure-podman"], ""));
    assert!(done.contains("Backup:"), "{done}");
    for path in [&primary, &persistent] {
        let helpers = read(path)["credHelpers"].clone();
        assert_eq!(helpers["docker.io"], "pat", "{}", path.display());
        assert_eq!(helpers["127.0.0.1:5000"], "pat", "{}", path.display());
    }
    assert_eq!(
        read(&primary)["credHelpers"]["gcr.io"],
        "gcloud",
        "other helpers stay"
    );
    assert_eq!(
        read(&primary)["auths"]["example.org"],
        serde_json::json!({})
    );

    // A namespace is looked up by its host; Hub's spellings are docker.io.
    ok(&env.run(
        &[
            "configure-podman",
            "--registry",
            "quay.io/org",
            "--registry",
            "https://index.docker.io/v1/",
        ],
        "",
    ));
    assert_eq!(read(&primary)["credHelpers"]["quay.io"], "pat");
    assert!(read(&primary)["credHelpers"].get("quay.io/org").is_none());
    assert!(
        read(&primary)["credHelpers"]
            .get("index.docker.io")
            .is_none()
    );

    ok(&env.run(
        &["configure-podman", "--remove", "--registry", "quay.io"],
        "",
    ));
    assert!(read(&primary)["credHelpers"].get("quay.io").is_none());
    assert_eq!(read(&primary)["credHelpers"]["docker.io"], "pat");

    ok(&env.run(&["configure-podman", "--undo"], ""));
    assert_eq!(
        read(&primary)["credHelpers"]["quay.io"],
        "pat",
        "the last backup is back"
    );
    env.vars.retain(|(k, _)| k != "XDG_RUNTIME_DIR");
}
