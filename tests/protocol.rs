//! The credential-helper protocol against GNOME Keyring: what lands in the
//! keyring, bad input, missing keyrings. The exchanges themselves, byte for
//! byte, are the table in conformance.rs.

use crate::support::*;

#[test]
fn store_get_list_erase_round_trip() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    assert_eq!(
        ok(&env.store("https://index.docker.io/v1/", "alice", PAT)),
        ""
    );
    assert_eq!(
        ok(&env.get("https://index.docker.io/v1/")),
        get_reply("https://index.docker.io/v1/", "alice", PAT)
    );
    assert_eq!(
        ok(&env.run(&["list"], "unused")),
        "{\"https://index.docker.io/v1/\":\"alice\"}\n"
    );
    assert!(keyring.holds(PAT), "the Secret Service holds the token");
    assert_eq!(ok(&env.run(&["erase"], "https://index.docker.io/v1/")), "");
    not_found(&env.get("https://index.docker.io/v1/"));
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n");
    assert!(
        !keyring.holds(PAT),
        "erase removes the secret from the Secret Service"
    );
}

#[test]
fn store_replaces_and_the_old_secret_leaves_the_keychain() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "bob", "first-secret"));
    ok(&env.store("ghcr.io", "bob2", "second-secret"));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bob2", "second-secret")
    );
    assert!(!keyring.holds("first-secret"));
    assert_eq!(keyring.item_count(), 1);
}

#[test]
fn bad_input_is_one_line_exit_1_and_changes_nothing() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    let index = env.index_bytes();
    let big = "x".repeat(1024 * 1024 + 1);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let ten_mb_user = format!(
        r#"{{"ServerURL":"docker.io","Username":"{}","Secret":"s"}}"#,
        "u".repeat(10 * 1024 * 1024)
    );
    let cases: Vec<(&str, String)> = vec![
        ("store", big.clone()),
        ("get", big),
        ("store", "{not json".into()),
        ("store", deep),
        (
            "store",
            r#"{"ServerURL":5,"Username":"a","Secret":"b"}"#.into(),
        ),
        (
            "store",
            r#"{"ServerURL":"docker.io","Username":["a"],"Secret":"b"}"#.into(),
        ),
        ("store", r#"["docker.io","a","b"]"#.into()),
        (
            "store",
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\\u0000b\",\"Secret\":\"s\"}".into(),
        ),
        (
            "store",
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\\nb\",\"Secret\":\"s\"}".into(),
        ),
        (
            "store",
            "{\"ServerURL\":\"dock\\u0000er.io\",\"Username\":\"a\",\"Secret\":\"s\"}".into(),
        ),
        ("store", ten_mb_user),
        ("get", "https://user:pass@docker.io".into()),
        ("get", "docker.io?x=1".into()),
        ("get", "bücher.example".into()),
        ("get", "ftp://docker.io".into()),
        ("erase", "docker.io\u{0}x".into()),
    ];
    for (verb, input) in cases {
        let output = env.run(&[verb], &input);
        let out = fails(&output);
        assert_eq!(out.lines().count(), 1, "{verb}: one line, got {out:?}");
        assert!(!stderr(&output).contains("panicked"), "{verb} panicked");
        assert!(
            !out.contains("pass") || verb != "get",
            "the error does not echo userinfo"
        );
    }
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let output = env.run(&["store"], &String::from_utf8_lossy(&binary));
    fails(&output);
    assert_eq!(env.index_bytes(), index, "nothing changed");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

#[test]
fn index_and_folders_are_private_and_hold_no_secret() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.get("docker.io"));
    assert_eq!(mode_of(&env.pat_home().join("index.json")), 0o600);
    assert_eq!(mode_of(&env.pat_home().join("index")), 0o700);
    assert_eq!(mode_of(&env.index_file_of("docker.io")), 0o600);
    assert_eq!(mode_of(&env.pat_home().join("usage.log")), 0o600);
    assert_not_on_disk(env.root.path(), PAT);
}

#[test]
fn no_secret_service_is_a_clear_error_and_writes_nothing() {
    let env = Env::without_keychain();
    let mut env = env;
    env.set("DOCKER_PAT_BACKEND", "keychain");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(
        out.contains("Secret Service") && out.contains("vault init"),
        "{out}"
    );
    assert!(absent(&env.pat_home().join("index.json")));
}

#[test]
fn keyring_missing_from_the_bus_is_a_clear_error() {
    let bus = SecretService::bus_only();
    let mut env = Env::new(&bus);
    env.set("DOCKER_PAT_BACKEND", "keychain");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(out.contains("Secret Service"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn encrypted_session_works_too() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("secret_service_session = \"encrypted\"\n");
    ok(&env.store("docker.io", "alice", PAT));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&env.run(&["erase"], "docker.io"));
    assert_eq!(keyring.item_count(), 0);
}
