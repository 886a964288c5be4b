//! `import`: plaintext logins from config.json into GNOME Keyring, checked with the Docker CLI.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::*;

fn backups(env: &Env) -> Vec<PathBuf> {
    std::fs::read_dir(env.docker_config())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("config.json.pat-backup-"))
        .collect()
}

#[test]
fn import_moves_plaintext_into_the_keyring_and_docker_still_authenticates() {
    let password = "registry-pass-123";
    let keyring = SecretService::start();
    let registry = Registry::start(password);
    let host = registry.host.clone();
    let image = format!("{host}/demo/imported:1");
    registry.push_with_plaintext(REGISTRY_USER, password, &image);

    let mut env = Env::new(&keyring);
    make_healthy(&mut env);
    let auth = base64(format!("{REGISTRY_USER}:{password}").as_bytes());
    let original = format!(
        "{{\n\t\"psFormat\": \"table {{{{.ID}}}}\",\n\t\"auths\": {{\n\t\t\"{host}\": {{\n\t\t\t\"auth\": \"{auth}\",\n\t\t\t\"email\": \"a@example.com\"\n\t\t}},\n\t\t\"ghcr.io\": {{}}\n\t}},\n\t\"credsStore\": \"pat\",\n\t\"detachKeys\": \"ctrl-q\"\n}}"
    );
    env.write_config_json(&original);
    set_mode(&env.docker_config().join("config.json"), 0o640);

    let output = env.run(&["import"], "");
    let text = ok(&output);
    assert!(
        text.contains(&format!(
            "Imported alice's login for {host} as default@{host}"
        )),
        "{text}"
    );
    assert!(!text.contains(password) && !stderr(&output).contains(password));

    let config = env.config_json();
    assert!(
        !config.contains(password) && !config.contains(&auth),
        "{config}"
    );
    let parsed: Value = serde_json::from_str(&config).unwrap();
    let keys = keys_of(&parsed);
    assert_eq!(
        keys,
        ["psFormat", "auths", "credsStore", "detachKeys"],
        "order is kept"
    );
    assert_eq!(parsed["psFormat"], "table {{.ID}}");
    assert_eq!(
        parsed["auths"][&host],
        serde_json::json!({"email": "a@example.com"})
    );
    assert_eq!(parsed["auths"]["ghcr.io"], serde_json::json!({}));
    assert_eq!(
        mode_of(&env.docker_config().join("config.json")),
        0o640,
        "mode is kept"
    );

    let saved = backups(&env);
    assert_eq!(saved.len(), 1);
    assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), original);
    assert_eq!(
        mode_of(&saved[0]),
        0o600,
        "the backup holds the secret: private"
    );

    assert!(keyring.holds(password), "the Secret Service holds it");
    let manifest = ok(&env.docker_inspect(&image));
    assert!(manifest.contains("schemaVersion"), "{manifest}");

    let again = env.run(&["import"], "");
    assert!(ok(&again).contains("nothing to import"));
    assert_eq!(backups(&env).len(), 1, "a second run changes nothing");
    assert_eq!(env.config_json(), config);
    assert_eq!(keyring.item_count(), 1);
    let doctor = env.run(&["doctor"], "");
    assert_eq!(doctor.status.code(), Some(0), "{}", stdout(&doctor));
}

#[test]
fn refused_two_factor_entry_stays_and_the_rest_is_imported() {
    let (keyring, env) = healthy();
    env.write_config_toml("[two_factor]\n\"docker.io\" = [\"alice\"]\n");
    let github = format!("ghp_{}", "x".repeat(36));
    let refused = base64(b"alice:plain-password");
    env.write_config_json(&format!(
        "{{\"auths\":{{\"https://index.docker.io/v1/\":{{\"auth\":\"{refused}\"}},\"ghcr.io\":{{\"auth\":\"{}\"}}}},\"credsStore\":\"pat\"}}",
        base64(format!("octo:{github}").as_bytes())
    ));

    let output = env.run(&["import"], "");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let warning = stderr(&output);
    assert!(
        warning.contains("https://index.docker.io/v1/ stays in") && warning.contains("two-factor"),
        "{warning}"
    );
    assert!(!warning.contains("plain-password"));
    let parsed: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(
        parsed["auths"]["https://index.docker.io/v1/"]["auth"],
        refused.as_str()
    );
    assert_eq!(parsed["auths"]["ghcr.io"], serde_json::json!({}));
    assert!(keyring.holds(&github) && !keyring.holds("plain-password"));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", &github)
    );
}

#[test]
fn identity_token_entry_is_stored_under_the_token_username() {
    let (_keyring, env) = healthy();
    env.write_config_json(&format!(
        "{{\"auths\":{{\"https://index.docker.io/v1/\":{{\"auth\":\"{}\",\"identitytoken\":\"refresh-token-value\"}}}}}}",
        base64(b"alice:")
    ));
    ok(&env.run(&["import"], ""));
    let reply: Value = serde_json::from_str(&ok(&env.get("https://index.docker.io/v1/"))).unwrap();
    assert_eq!(reply["Username"], "<token>");
    assert_eq!(reply["Secret"], "refresh-token-value");
    let parsed: Value = serde_json::from_str(&env.config_json()).unwrap();
    assert_eq!(
        parsed["auths"]["https://index.docker.io/v1/"],
        serde_json::json!({})
    );
}

#[test]
fn dry_run_changes_nothing() {
    let (keyring, env) = healthy();
    let original = format!(
        "{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{}\"}}}}}}",
        base64(b"octo:pw-dry")
    );
    env.write_config_json(&original);
    let text = ok(&env.run(&["import", "--dry-run"], ""));
    assert!(
        text.contains("Would import octo's login for ghcr.io as default@ghcr.io"),
        "{text}"
    );
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(env.config_json(), original);
    assert!(backups(&env).is_empty());
    assert_eq!(keyring.item_count(), 0);
    assert!(absent(&env.pat_home().join("index.json")));
}

#[test]
fn invalid_json_changes_nothing_and_says_why() {
    let (keyring, env) = healthy();
    let broken = "{\"auths\": {\"ghcr.io\": {\"auth\": \"b2N0bzpwdw==\"}},\n";
    env.write_config_json(broken);
    let output = env.run(&["import"], "");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("config.json is not valid JSON")
            && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(env.config_json(), broken);
    assert!(backups(&env).is_empty());
    assert_eq!(keyring.item_count(), 0);
}

#[test]
fn interrupted_import_is_finished_by_the_next_run() {
    let (keyring, env) = healthy();
    // The first run stored the login, then was killed before rewriting config.json.
    ok(&env.store("ghcr.io", "octo", "pw-once"));
    env.write_config_json(&format!(
        "{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{}\"}}}},\"credsStore\":\"pat\"}}",
        base64(b"octo:pw-once")
    ));
    let text = ok(&env.run(&["import"], ""));
    assert!(text.contains("already held"), "{text}");
    assert!(!env.config_json().contains("auth\""));
    assert_eq!(keyring.item_count(), 1, "stored once");
}

#[test]
fn different_stored_token_is_never_overwritten() {
    let (keyring, mut env) = healthy();
    ok(&env.store("ghcr.io", "octo", "pw-in-keyring"));
    let original = format!(
        "{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{}\"}}}},\"credsStore\":\"pat\"}}",
        base64(b"octo:pw-in-file")
    );
    env.write_config_json(&original);
    let output = env.run(&["import"], "");
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("DOCKER_PAT_INTEGRATION=NAME"),
        "{}",
        stderr(&output)
    );
    assert_eq!(env.config_json(), original);
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-in-keyring")
    );

    env.set("DOCKER_PAT_INTEGRATION", "old-laptop");
    ok(&env.run(&["import"], ""));
    assert!(keyring.holds("pw-in-file") && keyring.holds("pw-in-keyring"));
    assert!(!env.config_json().contains("\"auth\""));
}
