//! `doctor` against GNOME Keyring and real files: each finding, its repair, and the exit codes.

use std::process::Output;

use serde_json::Value;

use crate::support::*;

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Runs `doctor --json [--repair]` and returns the exit code and the findings.
fn doctor_json(env: &Env, repair: bool) -> (i32, Vec<Value>) {
    let mut args = vec!["doctor", "--json"];
    if repair {
        args.push("--repair");
    }
    let output = env.run(&args, "");
    let findings: Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}\n{}",
            stdout(&output),
            stderr(&output)
        )
    });
    (code(&output), findings.as_array().unwrap().clone())
}

fn needing_attention(findings: &[Value]) -> Vec<&Value> {
    findings
        .iter()
        .filter(|f| f["status"] != "ok" && f["repaired"] != true)
        .collect()
}

fn of_check<'a>(findings: &'a [Value], check: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["check"] == check).collect()
}

#[track_caller]
fn assert_green(env: &Env) {
    let output = env.run(&["doctor"], "");
    assert_eq!(
        code(&output),
        0,
        "doctor is not green:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("Everything is fine."));
}

#[test]
fn doctor_is_green_on_a_fresh_healthy_setup() {
    let (_keyring, env) = healthy();
    ok(&env.store("docker.io", "alice", PAT));
    let output = env.run(&["doctor"], "");
    let text = ok(&output);
    assert!(
        text.lines()
            .all(|l| l.starts_with("ok ") || l == "Everything is fine."),
        "{text}"
    );
    for check in [
        "keychain",
        "secrets",
        "docker-config",
        "plaintext",
        "path",
        "permissions",
    ] {
        assert!(
            text.contains(&format!(" {check}: ")),
            "{check} missing:\n{text}"
        );
    }
    assert_eq!(
        ok(&env.run(&["doctor", "--quiet"], "")),
        "",
        "quiet prints only what needs attention"
    );
    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 0);
    for finding in &findings {
        let fields: Vec<&str> = keys_of(finding);
        assert_eq!(
            fields,
            [
                "check",
                "status",
                "message",
                "fix",
                "repairable",
                "repaired"
            ]
        );
        assert_eq!(finding["status"], "ok");
    }
}

#[test]
fn missing_keychain_is_a_problem_with_the_remedy() {
    let mut env = Env::without_keychain();
    make_healthy(&mut env);
    let output = env.run(&["doctor"], "");
    assert_eq!(code(&output), 3, "{}", stdout(&output));
    let line = line_with(&output, "keychain:");
    assert!(line.starts_with("problem"), "{line}");
    assert!(
        line.contains("Secret Service") && line.contains("vault init"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn entry_whose_secret_vanished_is_removed_by_repair() {
    let (keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw-1"));
    // Someone deleted the item in their keyring manager.
    let cleared = std::process::Command::new("secret-tool")
        .args(["clear", "service", "docker-credential-pat"])
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.address)
        .status()
        .unwrap();
    assert!(cleared.success());
    assert_eq!(keyring.item_count(), 0);

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    let secrets = of_check(&findings, "secrets");
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert!(
        secrets[0]["message"]
            .as_str()
            .unwrap()
            .contains("default@ghcr.io")
    );
    assert_eq!(secrets[0]["repairable"], true);

    let (exit, findings) = doctor_json(&env, true);
    assert_eq!(exit, 0, "{findings:#?}");
    let repaired = of_check(&findings, "secrets");
    assert!(
        repaired[0]["fix"]
            .as_str()
            .unwrap()
            .contains("already gone")
    );
    assert_eq!(ok(&env.run(&["tokens", "--json"], "")), "[]\n");
    assert_green(&env);
}

#[test]
fn orphan_item_is_adopted_and_its_secret_kept() {
    let (keyring, env) = healthy();
    ok(&env.store("docker.io", "alice", PAT));
    // As if the index commit had been lost after the secret was written.
    std::fs::write(env.pat_home().join("index.json"), "{\"version\":1}\n").unwrap();

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    let orphan = of_check(&findings, "secrets");
    assert!(
        orphan[0]["message"]
            .as_str()
            .unwrap()
            .contains("alice at docker.io"),
        "{orphan:?}"
    );
    assert!(keyring.holds(PAT));

    let (exit, findings) = doctor_json(&env, true);
    assert_eq!(exit, 0, "{findings:#?}");
    let tokens: Value = serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    let token = &tokens[0];
    let name = token["token"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("recovered-") && name.ends_with("@docker.io"),
        "{name}"
    );
    assert_eq!(
        token["active"], false,
        "adopted tokens wait to be activated"
    );
    assert_eq!(token["username"], "alice");
    assert!(keyring.holds(PAT), "the secret is never deleted");
    assert_eq!(keyring.item_count(), 1);

    ok(&env.run(&["activate", &name], ""));
    ok(&env.run(&["default", &name], ""));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    assert_green(&env);
}

#[test]
fn garbage_index_is_a_clear_error_and_repair_rebuilds_it() {
    let (_keyring, env) = healthy();
    ok(&env.store("127.0.0.1:5000", "bob", "pw-bob"));
    let index = env.index_file_of("127.0.0.1:5000");
    let file = index.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(&index).unwrap();
    std::fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();

    let out = fails(&env.get("127.0.0.1:5000"));
    assert_eq!(out.lines().count(), 1);
    assert!(
        out.contains(&file) && out.contains("doctor --repair"),
        "{out}"
    );
    let tokens = env.run(&["tokens"], "");
    assert_eq!(code(&tokens), 1);
    assert!(
        stderr(&tokens).contains("doctor --repair"),
        "{}",
        stderr(&tokens)
    );

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    assert_eq!(of_check(&findings, "index")[0]["status"], "problem");

    let (exit, findings) = doctor_json(&env, true);
    assert_eq!(exit, 0, "{findings:#?}");
    let fix = of_check(&findings, "index")[0]["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fix.contains(&format!("{file}.damaged-")) && fix.contains("default@127.0.0.1:5000"),
        "{fix}"
    );
    assert_eq!(
        ok(&env.get("127.0.0.1:5000")),
        get_reply("127.0.0.1:5000", "bob", "pw-bob")
    );
    let kept = std::fs::read_dir(index.parent().unwrap())
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{file}.damaged-"))
        })
        .count();
    assert_eq!(kept, 1, "the damaged index is kept");
    assert_green(&env);
}

#[test]
fn garbage_config_toml_is_a_clear_error_and_repair_sets_it_aside() {
    let (_keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw"));
    env.write_config_toml("stale_after_days = 30\n[two_factor\n\"docker.io\" = [\"alice\"]\n");

    let tokens = env.run(&["tokens"], "");
    assert_eq!(code(&tokens), 1);
    let message = stderr(&tokens);
    assert!(
        message.contains("config.toml") && message.contains("line 2"),
        "{message}"
    );

    let output = env.run(&["doctor"], "");
    assert_eq!(code(&output), 3);
    let line = line_with(&output, "config:");
    assert!(
        line.contains("config.toml") && line.contains("line 2"),
        "{line}"
    );

    let output = env.run(&["doctor", "--repair"], "");
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let line = line_with(&output, "config:");
    assert!(
        line.starts_with("repaired") && line.contains("two-factor"),
        "{line}"
    );
    assert!(absent(&env.pat_home().join("config.toml")));
    ok(&env.run(&["tokens"], ""));
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", "pw"));
}

#[test]
fn unwired_config_json_is_reported_and_wired_by_repair() {
    let (_keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw"));
    env.write_config_json("{\n\t\"detachKeys\": \"ctrl-q\"\n}");

    let output = env.run(&["doctor"], "");
    assert_eq!(code(&output), 3);
    let line = line_with(&output, "docker-config:");
    assert!(
        line.starts_with("problem")
            && line.contains("ghcr.io")
            && line.contains("configure-docker"),
        "{line}"
    );

    let (exit, findings) = doctor_json(&env, true);
    assert_eq!(exit, 0, "{findings:#?}");
    let config: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(config["credHelpers"]["ghcr.io"], "pat");
    assert_eq!(config["detachKeys"], "ctrl-q");
    assert!(
        config.get("credsStore").is_none(),
        "repair adds no global helper"
    );
    let backups = std::fs::read_dir(env.docker_config())
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_name().to_string_lossy().contains(".pat-backup-"))
        .count();
    assert_eq!(backups, 1);
}

#[test]
fn other_helper_shadowing_a_registry_is_reported() {
    let (_keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw"));
    env.write_config_json("{\"credsStore\":\"pat\",\"credHelpers\":{\"ghcr.io\":\"desktop\"}}");

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    let shadow = &of_check(&findings, "docker-config")[0];
    assert_eq!(shadow["status"], "problem");
    assert!(
        shadow["message"]
            .as_str()
            .unwrap()
            .contains("docker-credential-desktop")
    );
    assert_eq!(
        shadow["fix"],
        "`docker-credential-pat configure-docker --registry ghcr.io`"
    );

    let (exit, _) = doctor_json(&env, true);
    assert_eq!(exit, 0);
    let config: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(config["credHelpers"]["ghcr.io"], "pat");
}

#[test]
fn plaintext_logins_are_reported_without_their_secret() {
    let (_keyring, env) = healthy();
    let auth = base64(b"alice:hunter2-secret");
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"auths\":{{\"127.0.0.1:5000\":{{\"auth\":\"{auth}\"}},\"ghcr.io\":{{}}}}}}"
    ));
    set_mode(&env.docker_config().join("config.json"), 0o644);

    let output = env.run(&["doctor"], "");
    assert_eq!(code(&output), 3);
    let text = stdout(&output);
    assert!(!text.contains("hunter2") && !text.contains(&auth), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("plaintext:")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("127.0.0.1:5000") && lines[0].contains("docker-credential-pat import")
    );
    assert!(
        text.lines()
            .any(|l| l.contains("permissions:") && l.contains("config.json")),
        "config.json holding a secret must not be readable by others:\n{text}"
    );
    let (exit, _) = doctor_json(&env, true);
    assert_eq!(exit, 3, "repair does not import by itself");
    assert_eq!(mode_of(&env.docker_config().join("config.json")), 0o600);
    assert!(
        env.config_json().contains(&auth),
        "repair leaves the login for import"
    );
}

#[test]
fn stale_token_and_password_on_a_two_factor_account_are_warnings() {
    let (_keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "plain-password"));
    env.write_config_toml("stale_after_days = 0\n[two_factor]\n\"ghcr.io\" = [\"octo\"]\n");
    std::thread::sleep(std::time::Duration::from_millis(20));

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    let stale = of_check(&findings, "stale");
    assert_eq!(stale.len(), 1, "{findings:#?}");
    assert_eq!(stale[0]["status"], "warn");
    assert!(
        stale[0]["fix"]
            .as_str()
            .unwrap()
            .contains("deactivate default@ghcr.io")
    );
    let password = of_check(&findings, "two-factor");
    assert_eq!(password[0]["status"], "warn");
    assert!(
        password[0]["fix"]
            .as_str()
            .unwrap()
            .contains("docker login ghcr.io -u octo")
    );
    assert_eq!(needing_attention(&findings).len(), 2, "{findings:#?}");

    let (exit, _) = doctor_json(&env, true);
    assert_eq!(
        exit, 3,
        "only a person can replace a password or retire a token"
    );
    ok(&env.run(&["deactivate", "default@ghcr.io"], ""));
    let (_, findings) = doctor_json(&env, false);
    assert!(needing_attention(&findings).is_empty(), "{findings:#?}");
}

#[test]
fn loose_permissions_are_tightened_by_repair() {
    let (_keyring, env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw"));
    let index = env.pat_home().join("index.json");
    let bucket = env.index_file_of("ghcr.io");
    set_mode(&env.pat_home(), 0o755);
    set_mode(&index, 0o644);
    set_mode(&bucket, 0o644);

    let (exit, findings) = doctor_json(&env, false);
    assert_eq!(exit, 3);
    let loose = of_check(&findings, "permissions");
    assert_eq!(loose.len(), 3, "{loose:#?}");
    assert!(loose.iter().all(|f| f["repairable"] == true));

    let (exit, _) = doctor_json(&env, true);
    assert_eq!(exit, 0);
    assert_eq!(mode_of(&env.pat_home()), 0o700);
    assert_eq!(mode_of(&index), 0o600);
    assert_eq!(mode_of(&bucket), 0o600);
}

#[test]
fn doctor_that_cannot_run_exits_1() {
    let mut env = Env::without_keychain();
    let file = env.root.path().join("not-a-folder");
    std::fs::write(&file, "").unwrap();
    env.set("DOCKER_PAT_HOME", file.to_str().unwrap());
    let output = env.run(&["doctor"], "");
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}
