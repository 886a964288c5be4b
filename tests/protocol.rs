//! The credential-helper protocol, byte for byte, against GNOME Keyring.

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
    assert_eq!(
        fails(&env.get("https://index.docker.io/v1/")),
        "credentials not found in native keychain\n"
    );
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n");
    assert!(
        !keyring.holds(PAT),
        "erase removes the secret from the Secret Service"
    );
}

#[test]
fn every_hub_spelling_reaches_one_entry_and_get_echoes_the_address() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    for address in [
        "https://index.docker.io/v1/",
        "https://index.docker.io/v1",
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io",
    ] {
        assert_eq!(
            ok(&env.get(address)),
            get_reply(address, "alice", PAT),
            "{address}"
        );
    }
    assert_eq!(
        ok(&env.get("  docker.io \n")),
        get_reply("docker.io", "alice", PAT),
        "whitespace is trimmed"
    );
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"https://index.docker.io/v1/\":\"alice\"}\n"
    );
}

#[test]
fn hub_web_login_entries_are_separate() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store(
        "https://index.docker.io/v1/access-token",
        "alice",
        "eyJhbGciOiJSUzI1NiJ9.jwt",
    ));
    fails(&env.get("https://index.docker.io/v1/"));
    assert_eq!(
        fails(&env.get("https://index.docker.io/v1/refresh-token")),
        "credentials not found in native keychain\n"
    );
    ok(&env.get("https://index.docker.io/v1/access-token"));
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"https://index.docker.io/v1/access-token\":\"alice\"}\n"
    );
}

#[test]
fn other_registries_ignore_scheme_slash_and_host_case() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("127.0.0.1:5000", "bob", "pw1"));
    for address in [
        "127.0.0.1:5000",
        "http://127.0.0.1:5000",
        "https://127.0.0.1:5000/",
    ] {
        assert_eq!(ok(&env.get(address)), get_reply(address, "bob", "pw1"));
    }
    ok(&env.store("https://GHCR.io/", "carol", "pw2"));
    ok(&env.get("ghcr.io"));
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"127.0.0.1:5000\":\"bob\",\"https://GHCR.io/\":\"carol\"}\n",
        "list reports addresses as stored, sorted"
    );
}

#[test]
fn docker_logout_erase_sequence_succeeds_once() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("127.0.0.1:5000", "bob", "pw"));
    // What `docker logout` sends: the address twice, then with each scheme.
    ok(&env.run(&["erase"], "127.0.0.1:5000"));
    for address in [
        "127.0.0.1:5000",
        "http://127.0.0.1:5000",
        "https://127.0.0.1:5000",
    ] {
        assert_eq!(
            fails(&env.run(&["erase"], address)),
            "credentials not found in native keychain\n"
        );
    }
}

#[test]
fn validation_messages_match_the_reference_helpers() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    assert_eq!(
        fails(&env.run(
            &["store"],
            r#"{"ServerURL":"","Username":"a","Secret":"b"}"#
        )),
        "no credentials server URL\n"
    );
    assert_eq!(
        fails(&env.run(
            &["store"],
            r#"{"ServerURL":"x.io","Username":"","Secret":"b"}"#
        )),
        "no credentials username\n"
    );
    assert_eq!(fails(&env.run(&["get"], "")), "no credentials server URL\n");
    assert_eq!(
        fails(&env.run(&["erase"], "  ")),
        "no credentials server URL\n"
    );
}

#[test]
fn arguments_are_checked_like_the_reference_helpers() {
    let env = Env::without_keychain();
    let usage = "Usage: docker-credential-pat <store|get|erase|list|version>\n";
    assert_eq!(fails(&env.run(&[], "")), usage);
    assert_eq!(fails(&env.run(&["get", "extra"], "")), usage);
    assert_eq!(fails(&env.run(&["bogus", "extra"], "")), usage);
    assert_eq!(
        fails(&env.run(&["bogus"], "")),
        "docker-credential-pat: unknown action: bogus\n"
    );
    let version = ok(&env.run(&["version"], ""));
    assert_eq!(
        version,
        format!(
            "docker-credential-pat (github.com/docker-credential-pat/docker-credential-pat) v{}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(ok(&env.run(&["--version"], "")), version);
    assert_eq!(ok(&env.run(&["-v"], "")), version);
    for flag in ["--help", "-h"] {
        let help = ok(&env.run(&[flag], ""));
        assert!(
            help.contains("store") && help.contains("tokens") && help.contains("Exit status"),
            "{help}"
        );
    }
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
fn json_is_escaped_like_go() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let request = r#"{"ServerURL":"docker.io","Username":"<token>","Secret":"a\"b\\c<>&\u2028"}"#;
    ok(&env.run(&["store"], request));
    assert_eq!(
        ok(&env.get("docker.io")),
        "{\"ServerURL\":\"docker.io\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"a\\\"b\\\\c\\u003c\\u003e\\u0026\\u2028\"}\n"
    );
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
    assert!(!env.pat_home().join("index.json").exists());
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
