//! `configure-docker`: wiring Docker's config.json to the helper, safely.

use crate::support::*;

fn backups(env: &Env) -> Vec<std::path::PathBuf> {
    files_under(&env.docker_config())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".pat-backup-")
        })
        .collect()
}

#[test]
fn sets_creds_store_keeping_every_other_key_in_order_with_a_backup() {
    let env = Env::without_keychain();
    let original = "{\n\t\"auths\": {\n\t\t\"ghcr.io\": {}\n\t},\n\t\"psFormat\": \"table\",\n\t\"credsStore\": \"secretservice\",\n\t\"zeta\": [1, 2]\n}";
    env.write_config_json(original);
    set_mode(&env.docker_config().join("config.json"), 0o640);
    let out = ok(&env.run(&["configure-docker"], ""));
    assert!(out.contains("Backup:"), "{out}");
    let config = env.config_json();
    let value: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(value["credsStore"], "pat");
    assert_eq!(value["psFormat"], "table");
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["auths", "psFormat", "credsStore", "zeta"],
        "order kept"
    );
    assert_eq!(
        mode_of(&env.docker_config().join("config.json")),
        0o640,
        "mode kept"
    );
    let saved = backups(&env);
    assert_eq!(saved.len(), 1);
    assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), original);

    // Idempotent: a second run changes nothing and takes no new backup.
    let again = ok(&env.run(&["configure-docker"], ""));
    assert!(again.contains("already uses"), "{again}");
    assert_eq!(backups(&env).len(), 1);

    ok(&env.run(&["configure-docker", "--undo"], ""));
    assert_eq!(env.config_json(), original);
}

#[test]
fn registry_flag_adds_cred_helpers_entries() {
    let env = Env::without_keychain();
    ok(&env.run(
        &[
            "configure-docker",
            "--registry",
            "ghcr.io",
            "--registry",
            "docker.io",
        ],
        "",
    ));
    let value: serde_json::Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(value["credHelpers"]["ghcr.io"], "pat");
    assert_eq!(value["credHelpers"]["https://index.docker.io/v1/"], "pat");
    assert!(value.get("credsStore").is_none());
    assert_eq!(
        mode_of(&env.docker_config().join("config.json")),
        0o600,
        "a new file is private"
    );
}

#[test]
fn refuses_a_config_json_that_is_not_valid_json() {
    let env = Env::without_keychain();
    env.write_config_json("{\"auths\": {,}");
    let output = env.run(&["configure-docker"], "");
    fails(&output);
    assert!(
        stderr(&output).contains("not valid JSON")
            && stderr(&output).contains("nothing was changed")
    );
    assert_eq!(env.config_json(), "{\"auths\": {,}");
    assert!(backups(&env).is_empty());
}

#[test]
fn undo_without_a_backup_is_a_clear_error() {
    let env = Env::without_keychain();
    let output = env.run(&["configure-docker", "--undo"], "");
    fails(&output);
    assert!(stderr(&output).contains("no backup"), "{}", stderr(&output));
}

#[test]
fn an_already_wired_config_is_left_byte_for_byte() {
    let env = Env::without_keychain();
    env.write_config_json("{\"credsStore\":\"pat\"}");
    assert!(ok(&env.run(&["configure-docker"], "")).contains("already uses"));
    assert_eq!(env.config_json(), "{\"credsStore\":\"pat\"}");
    assert!(backups(&env).is_empty());
}
