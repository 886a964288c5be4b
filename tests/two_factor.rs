//! Two-factor accounts: passwords are refused, tokens are stored.

use crate::support::*;

const PASSWORD: &str = "correct-horse-battery-staple";

fn refusal(user: &str, registry: &str) -> String {
    format!(
        "refusing to store a password for {user} at {registry}: two-factor authentication is on for this account; log in with a personal access token instead (Docker Hub: Account Settings > Security > New Access Token)"
    )
}

#[test]
fn docker_login_with_a_password_is_refused_and_keeps_the_earlier_token() {
    let (keyring, registry, env) = docker_setup(PASSWORD);
    let host = registry.host.clone();
    env.enable_two_factor(REGISTRY_USER, Some(&host));

    let login = env.docker_login(&host, REGISTRY_USER, PASSWORD);
    assert!(!login.status.success());
    let message = stderr(&login);
    assert!(
        message.contains("Error saving credentials")
            && message.contains(&refusal(REGISTRY_USER, &host)),
        "{message}"
    );
    not_found(&env.get(&host));
    assert!(
        !keyring.holds(PASSWORD),
        "the password never reached the keychain"
    );

    // With a token already stored, a refused password leaves it exactly as it was.
    ok(&env.store(&host, REGISTRY_USER, PAT));
    let index = env.index_bytes();
    let login = env.docker_login(&host, REGISTRY_USER, PASSWORD);
    assert!(!login.status.success());
    assert!(
        stderr(&login).contains(&refusal(REGISTRY_USER, &host)),
        "refused by the two-factor rule: {}",
        stderr(&login)
    );
    assert_eq!(ok(&env.get(&host)), get_reply(&host, REGISTRY_USER, PAT));
    assert_eq!(env.index_bytes(), index);
    assert!(!keyring.holds(PASSWORD));
}

#[test]
fn docker_login_with_a_personal_access_token_works() {
    let (_keyring, registry, env) = docker_setup(PAT);
    let host = registry.host.clone();
    env.enable_two_factor(REGISTRY_USER, Some(&host));
    let login = env.docker_login(&host, REGISTRY_USER, PAT);
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    assert_eq!(ok(&env.get(&host)), get_reply(&host, REGISTRY_USER, PAT));
}

#[test]
fn protocol_store_prints_the_refusal_on_stdout() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("[two_factor]\n\"docker.io\" = [\"alice\"]\n");
    assert_eq!(
        fails(&env.store("https://index.docker.io/v1/", "alice", PASSWORD)),
        format!("{}\n", refusal("alice", "docker.io"))
    );
    ok(&env.store("https://index.docker.io/v1/", "bob", PASSWORD));
    assert_eq!(
        keyring.item_count(),
        1,
        "only bob's password, which no rule covers"
    );
    ok(&env.store("https://index.docker.io/v1/", "alice", PAT));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

#[test]
fn add_applies_the_rule_with_the_message_on_stderr() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.enable_two_factor("alice", None);
    let output = env.run(
        &add_args("docker.io", "alice", "ci"),
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(fails(&output), "");
    assert!(
        stderr(&output).contains(&refusal("alice", "docker.io")),
        "{}",
        stderr(&output)
    );
    ok(&env.run(&add_args("docker.io", "alice", "ci"), &format!("{PAT}\n")));
}

#[test]
fn require_tokens_applies_to_every_account() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("require_tokens = true\n");
    assert_eq!(
        fails(&env.store("ghcr.io", "octo", PASSWORD)),
        format!("{}\n", refusal("octo", "ghcr.io"))
    );
    ok(&env.store(
        "ghcr.io",
        "octo",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ));
    ok(&env.store("docker.io", "<token>", "an-identity-token"));
}

#[test]
fn enabling_2fa_over_a_stored_password_warns_and_marks_it() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PASSWORD));
    let enable = env.run(&["2fa", "enable", "--username", "alice"], "");
    ok(&enable);
    assert!(
        stderr(&enable).contains("default@docker.io holds a password"),
        "{}",
        stderr(&enable)
    );
    env.set("COLUMNS", "120");
    let table = ok(&env.run(&["tokens"], ""));
    assert!(table.contains("password"), "{table}");
    let status: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["2fa", "status", "--json"], ""))).unwrap();
    assert_eq!(status["accounts"][0]["username"], "alice");
    assert_eq!(status["accounts"][0]["stored"], "password");
}

#[test]
fn enable_and_disable_edit_config_toml_and_keep_comments() {
    let env = Env::without_keychain();
    env.write_config_toml("# my settings\nstale_after_days = 30 # a month\n");
    env.enable_two_factor("alice", None);
    env.enable_two_factor("ALICE", None);
    ok(&env.run(
        &[
            "2fa",
            "enable",
            "--username",
            "octo",
            "--registry",
            "https://ghcr.io/",
        ],
        "",
    ));
    let text = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert!(
        text.contains("# my settings") && text.contains("# a month"),
        "{text}"
    );
    assert_eq!(
        text.matches("alice").count() + text.matches("ALICE").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("[two_factor]") && text.contains("\"ghcr.io\""),
        "{text}"
    );
    ok(&env.run(&["2fa", "disable", "--username", "alice"], ""));
    let status: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["2fa", "status", "--json"], ""))).unwrap();
    let accounts = status["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["registry"], "ghcr.io");
}

#[test]
fn malformed_config_names_the_file_and_line_and_is_not_ignored() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("[two_factor]\n\"docker.io\" = [\"alice\"\n");
    let out = fails(&env.store("docker.io", "alice", PASSWORD));
    assert!(out.contains("config.toml") && out.contains("line"), "{out}");
    assert_eq!(out.lines().count(), 1);
    assert!(!keyring.holds(PASSWORD));
    let output = env.run(&["2fa", "enable", "--username", "bob"], "");
    fails(&output);
    assert!(stderr(&output).contains("config.toml"));
}
