//! The Windows build under Wine, against Wine's real Credential Manager: the
//! protocol table, the management commands, and where the secret ends up.
//! tests/wine.sh builds the executable and runs these; without it each is
//! recorded as not run (and fails under `CI`).

use std::process::Output;

use crate::conformance::{Helper, run_table};
use crate::support::wine::{Wine, WineEnv, windows_path};
use crate::support::*;

impl Helper for WineEnv<'_> {
    fn call(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Output {
        self.run_with(args, input, vars)
    }
}

/// The target names of our credentials in the Credential Manager's registry key.
fn credential_targets(wine: &Wine) -> Vec<String> {
    wine.credential_registry()
        .lines()
        .filter_map(|line| {
            let key = line.strip_prefix('[')?.strip_suffix(']')?;
            let target = key.rsplit('\\').next()?;
            target
                .contains("docker-credential-pat:")
                .then(|| target.to_owned())
        })
        .collect()
}

/// `secret` as text, as UTF-16, and as the hex bytes a .reg file shows.
fn encodings(secret: &str) -> Vec<String> {
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let utf16: Vec<u8> = secret.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![
        secret.to_owned(),
        String::from_utf16_lossy(&secret.encode_utf16().collect::<Vec<_>>()),
        hex(secret.as_bytes()),
        hex(&utf16),
    ]
}

/// A .reg export with its line continuations joined, so hex runs are whole.
fn joined(reg: &str) -> String {
    reg.replace("\\\r\n  ", "").replace("\\\n  ", "")
}

#[test]
fn the_protocol_table_holds_on_wine() {
    let Some(wine) = Wine::from_env() else { return };
    run_table(|| wine.env());
}

#[test]
fn the_credential_is_named_for_the_helper_and_never_in_clear() {
    let Some(wine) = Wine::from_env() else { return };
    let env = wine.env();
    let secret = "dckr_pat_wineCLEARTEXTcheck0123456789";
    ok(&env.store("docker.io", "alice", secret));
    let targets = credential_targets(&wine);
    // The token's record is in one of the index's bucket files.
    let index: String = files_under(&env.pat_home().join("index"))
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect();
    let item = index
        .split("\"item\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(item.len(), 32, "{index}");
    assert!(
        targets
            .iter()
            .any(|t| t.ends_with(&format!("docker-credential-pat:{item}"))),
        "no credential docker-credential-pat:{item} in {targets:?}"
    );
    let reg = joined(&wine.credential_registry()).to_lowercase();
    // The control: the export holds this credential's user name in clear and its
    // password as a hex blob, so the search below looks where the secret would be.
    let key = format!("docker-credential-pat:{item}]").to_lowercase();
    let section = reg
        .split("\n[")
        .find(|s| s.lines().next().is_some_and(|l| l.ends_with(&key)))
        .unwrap_or_else(|| panic!("no key for the credential in the export:\n{reg}"));
    assert!(
        section.contains("\"username\"=\"alice\"") && section.contains("\"password\"=hex:"),
        "the export shows the credential's user name and password blob:\n{section}"
    );
    for form in encodings(secret) {
        assert!(
            !reg.contains(&form.to_lowercase()),
            "the Credential Manager's registry holds the secret in clear ({form})"
        );
    }
    assert_not_on_disk(&env.pat_home(), secret);
    ok(&env.run(&["erase"], "docker.io"));
    assert!(
        !credential_targets(&wine)
            .iter()
            .any(|t| t.ends_with(&format!("docker-credential-pat:{item}"))),
        "erase removes the credential"
    );
}

/// Docker finds the helper on PATH; on Windows that PATH comes from Wine's registry plus WINEPATH.
fn on_path(env: &mut WineEnv<'_>) {
    let dir = windows_path(env.wine.exe.parent().unwrap());
    env.set("WINEPATH", &dir);
}

#[test]
fn tokens_doctor_and_delete_work_on_windows() {
    let Some(wine) = Wine::from_env() else { return };
    let mut env = wine.env();
    on_path(&mut env);
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.store("ghcr.io", "bob", "ghcr-secret"));
    let table = ok(&env.run(&["tokens"], ""));
    assert!(
        table.contains("default@docker.io") && table.contains("default@ghcr.io"),
        "{table}"
    );
    ok(&env.run(&["configure-docker"], ""));
    let doctor = env.run(&["doctor"], "");
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "doctor is green on a healthy install:\n{}{}",
        stdout(&doctor),
        stderr(&doctor)
    );
    let report = stdout(&doctor);
    assert!(
        report.contains("keychain: the OS keychain answers; it holds 2 item(s) of ours"),
        "{report}"
    );
    assert!(
        report.contains("Docker finds docker-credential-pat at Z:\\"),
        "{report}"
    );

    let before = credential_targets(&wine).len();
    assert_eq!(
        ok(&env.run(&["delete", "default@ghcr.io"], "")),
        "Deleted default@ghcr.io\n"
    );
    assert_eq!(credential_targets(&wine).len(), before - 1);
    not_found(&env.get("ghcr.io"));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

impl WineEnv<'_> {
    fn get(&self, server: &str) -> Output {
        self.run(&["get"], server)
    }
}

#[test]
fn another_data_folder_never_takes_these_items_for_orphans() {
    let Some(wine) = Wine::from_env() else { return };
    let first = wine.env();
    let mut second = wine.env();
    ok(&first.store("docker.io", "alice", PAT));
    ok(&second.store("ghcr.io", "bob", "second-secret"));
    on_path(&mut second);
    ok(&second.run(&["configure-docker"], ""));
    let doctor = second.run(&["doctor"], "");
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert!(report.contains("holds 1 item(s) of ours"), "{report}");
}

#[test]
fn doctor_finds_a_real_orphan_and_adopts_it() {
    let Some(wine) = Wine::from_env() else { return };
    let mut env = wine.env();
    on_path(&mut env);
    ok(&env.store("ghcr.io", "bob", "orphan-secret"));
    ok(&env.run(&["configure-docker"], ""));
    // The index forgets the token; the credential stays.
    std::fs::remove_file(env.pat_home().join("index.json")).unwrap();
    let doctor = env.run(&["doctor"], "");
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(3), "{report}");
    assert!(
        report.contains("holds a secret for bob at ghcr.io")
            && report.contains("no token refers to"),
        "{report}"
    );
    ok(&env.run(&["doctor", "--repair"], ""));
    let tokens = ok(&env.run(&["tokens"], ""));
    assert!(tokens.contains("@ghcr.io"), "{tokens}");
}

#[test]
fn a_token_past_the_credential_managers_limit_is_refused_whole() {
    let Some(wine) = Wine::from_env() else { return };
    let env = wine.env();
    let longest = "t".repeat(2560);
    ok(&env.store("ghcr.io", "bob", &longest));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bob", &longest)
    );
    let too_long = "u".repeat(2561);
    let out = fails(&env.store("ghcr.io", "bob", &too_long));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("2561 bytes") && out.contains("at most 2,560 bytes"),
        "{out}"
    );
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bob", &longest),
        "the stored token is kept"
    );
}

#[test]
fn messages_speak_of_windows_places() {
    let Some(wine) = Wine::from_env() else { return };
    let mut env = wine.env();
    // The default data folder, under %APPDATA%.
    env.vars.clear();
    let mut command = env.command(&["vault", "status"]);
    command.env_remove("DOCKER_PAT_HOME");
    let output = run_with_input(command, "", "vault status");
    let status = stdout(&output);
    assert!(
        status.contains("AppData\\Roaming\\docker-credential-pat\\"),
        "{status}{}",
        stderr(&output)
    );
    // Not on PATH: the advice is Windows advice.
    ok(&env.run(&["configure-docker"], ""));
    ok(&env.store("ghcr.io", "bob", "pw"));
    let report = stdout(&env.run(&["doctor"], ""));
    let path = report
        .lines()
        .find(|l| l.contains("path:"))
        .unwrap_or_default();
    assert!(
        path.contains("Environment Variables") && !path.contains("~/.profile"),
        "{path}"
    );
}

/// `exec` on Windows: the child gets the integration, its exit code is ours,
/// and an unknown integration or a missing program runs nothing.
#[test]
fn exec_runs_a_command_with_the_integration_on_windows() {
    let Some(wine) = Wine::from_env() else { return };
    let env = wine.env();
    ok(&env.run_with(
        &["store"],
        &store_request("docker.io", "alice", PAT),
        &[("DOCKER_PAT_INTEGRATION", "ci")],
    ));
    let named = ok(&env.run(
        &[
            "exec",
            "--integration",
            "ci",
            "--",
            "cmd",
            "/c",
            "echo %DOCKER_PAT_INTEGRATION%",
        ],
        "",
    ));
    assert_eq!(named.trim(), "ci");
    let exited = env.run(
        &["exec", "--integration", "ci", "--", "cmd", "/c", "exit 7"],
        "",
    );
    assert_eq!(exited.status.code(), Some(7), "{}", stderr(&exited));
    let unknown = env.run(
        &[
            "exec",
            "--integration",
            "nobody",
            "--",
            "cmd",
            "/c",
            "exit 0",
        ],
        "",
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        error_line(&unknown).contains("no token belongs to integration nobody, so nothing was run"),
        "{}",
        stderr(&unknown)
    );
    let missing = env.run(
        &["exec", "--integration", "ci", "--", "no-such-program.exe"],
        "",
    );
    // What a shell answers for a missing program.
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("error: cannot run no-such-program.exe"),
        "{}",
        stderr(&missing)
    );
}

/// `configure-podman` on Windows wires the one auth.json podman reads there,
/// under the user's config folder, named with Windows separators, and keeps
/// what the file held.
#[test]
fn configure_podman_wires_auth_json_on_windows() {
    let Some(wine) = Wine::from_env() else { return };
    let mut env = wine.env();
    let config = env.root.path().join("config");
    let auth = config.join("containers").join("auth.json");
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(&auth, "{\"auths\":{\"quay.io\":{\"auth\":\"dTpw\"}}}\n").unwrap();
    env.set("XDG_CONFIG_HOME", &windows_path(&config));
    ok(&env.store("docker.io", "alice", PAT));
    let said = ok(&env.run(&["configure-podman"], ""));
    let configured: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("Configured "))
        .collect();
    assert_eq!(
        configured,
        [format!(
            "Configured {} to use docker-credential-pat for docker.io",
            windows_path(&auth)
        )],
        "one file on Windows, no runtime folder: {said}"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&auth).unwrap()).unwrap();
    assert_eq!(written["credHelpers"]["docker.io"], "pat", "{written}");
    assert_eq!(written["auths"]["quay.io"]["auth"], "dTpw", "{written}");
}
