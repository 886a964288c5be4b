//! `docker login` and `logout` (and podman's) follow the rules: store writes
//! the token `get` would read, erase removes it and says which.

use super::*;
use crate::support::accounts::*;

#[test]
fn docker_login_stores_the_token_the_directory_chooses_and_logout_says_which() {
    let keyring = SecretService::start();
    let accounts = Accounts::start();
    let host = accounts.host().to_owned();
    let env = wired(&keyring, &host);
    // Naming the registry lets the rule choose `work` before it has a token there.
    env.write_config_toml(&format!(
        "[[select]]\ndir = \"~/work/**\"\nregistry = \"{host}\"\nintegration = \"work\"\n"
    ));
    let work = env.home_dir("work/app");
    let oss = env.home_dir("oss");

    let login = env.client_in(
        &work,
        "docker",
        &["login", &host, "-u", ALICE, "--password-stdin"],
        PAT,
    );
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    let login = env.client_in(
        &oss,
        "docker",
        &["login", &host, "-u", BOB, "--password-stdin"],
        PAT2,
    );
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    let index = env.index_json();
    let record = &index["registries"][host.as_str()];
    assert_eq!(record["tokens"]["work"]["username"], ALICE, "{index}");
    assert_eq!(record["tokens"]["default"]["username"], BOB, "{index}");
    assert_eq!(record["default"], "default", "{index}");

    // podman login in ~/work replaces alice's token through the helper, not auth.json.
    let podman = env.client_in(
        &work,
        "podman",
        &[
            "login",
            "--tls-verify=false",
            &host,
            "-u",
            ALICE,
            "--password-stdin",
        ],
        PAT,
    );
    ok(&podman);
    let auth = std::fs::read_to_string(env.root.path().join("containers-auth.json")).unwrap();
    assert!(
        !auth.contains("\"auth\""),
        "no plaintext login in auth.json: {auth}"
    );
    assert_eq!(
        ok(&env.client_in(&work, BIN, &["get"], &host)),
        get_reply(&host, ALICE, PAT)
    );

    let logout = env.client_in(&work, "docker", &["logout", &host], "");
    ok(&logout);
    assert!(
        stderr(&logout).contains(&format!(
            "removed work@{host} (rule 1 in config.toml line 1: dir ~/work/**, registry {host})"
        )),
        "{}",
        stderr(&logout)
    );
    let index = env.index_json();
    let record = &index["registries"][host.as_str()];
    assert!(record["tokens"]["work"].is_null(), "{index}");
    assert_eq!(
        record["tokens"]["default"]["username"], BOB,
        "bob's token stays"
    );
    // The rule names the registry: in ~/work, get finds nothing rather than bob's token.
    assert_eq!(
        fails(&env.client_in(&work, BIN, &["get"], &host)),
        "credentials not found in native keychain\n"
    );
    assert_eq!(
        ok(&env.client_in(&oss, BIN, &["get"], &host)),
        get_reply(&host, BOB, PAT2)
    );
}

#[test]
fn docker_logout_where_a_rule_applies_never_erases_the_default_token() {
    let keyring = SecretService::start();
    let accounts = Accounts::start();
    let host = accounts.host().to_owned();
    let env = wired(&keyring, &host);
    // No `registry`: the rule chooses `work` only while work has a token there.
    env.write_config_toml("[[select]]\ndir = \"~/work/**\"\nintegration = \"work\"\n");
    let work = env.home_dir("work/app");
    let oss = env.home_dir("oss");
    ok(&env.client_in(&oss, BIN, &["add", &host, "-u", BOB], PAT2));
    ok(&env.client_in(
        &oss,
        BIN,
        &["add", &host, "-u", ALICE, "--integration", "work"],
        PAT,
    ));
    assert_eq!(
        ok(&env.client_in(&work, BIN, &["get"], &host)),
        get_reply(&host, ALICE, PAT)
    );

    // Docker erases four times: work's token goes, and bob's default stays.
    let logout = env.client_in(&work, "docker", &["logout", &host], "");
    ok(&logout);
    let said = stderr(&logout);
    assert!(said.contains(&format!("removed work@{host}")), "{said}");
    assert!(
        said.contains(&format!("not removing default@{host}")),
        "{said}"
    );
    let index = env.index_json();
    let record = &index["registries"][host.as_str()];
    assert!(record["tokens"]["work"].is_null(), "{index}");
    assert_eq!(
        record["tokens"]["default"]["username"], BOB,
        "bob's token stays: {index}"
    );
    assert_eq!(
        ok(&env.client_in(&oss, BIN, &["get"], &host)),
        get_reply(&host, BOB, PAT2)
    );
}
