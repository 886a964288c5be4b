//! The encrypted vault file backend, with no D-Bus at all: the protocol, the
//! token commands, the two-factor rule, the Docker CLI, damage, wrong
//! passphrases, concurrency, the kernel key cache and migration.

use std::path::PathBuf;

use crate::support::*;

const PASSPHRASE: &str = "correct horse battery staple";
const TINY_KDF: &str = "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\n";

/// The file backend with no D-Bus session: a passphrase file, tiny Argon2
/// parameters and no key cache (so a wrong passphrase is always noticed).
fn file_env() -> Env {
    file_env_with("vault_cache_seconds = 0\n")
}

/// Like [`file_env`], with `extra` appended to config.toml.
fn file_env_with(extra: &str) -> Env {
    let mut env = Env::without_keychain();
    let file = write_passphrase(&env, "passphrase", PASSPHRASE);
    env.set("DOCKER_PAT_BACKEND", "file");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", file.to_str().unwrap());
    env.write_config_toml(&format!("{TINY_KDF}{extra}"));
    env
}

fn write_passphrase(env: &Env, name: &str, text: &str) -> PathBuf {
    let path = env.root.path().join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

fn unset(env: &mut Env, key: &str) {
    env.vars.retain(|(k, _)| k != key);
}

fn vault(env: &Env) -> PathBuf {
    env.pat_home().join("vault")
}

fn index(env: &Env) -> PathBuf {
    env.pat_home().join("index.json")
}

/// Snapshot of the vault and the index, to check that nothing changed.
/// The vault's header file, then its item files and the index files.
fn snapshot(env: &Env) -> (Vec<u8>, Vec<(PathBuf, Vec<u8>)>) {
    let mut files = env.index_bytes();
    // No item folder is no items; one that cannot be read fails the test.
    let mut items: Vec<PathBuf> = match std::fs::read_dir(env.pat_home().join("vault.d")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot list vault.d: {e}"),
    };
    items.sort();
    files.extend(items.into_iter().map(|p| {
        let bytes = std::fs::read(&p).unwrap();
        (p, bytes)
    }));
    (std::fs::read(vault(env)).unwrap(), files)
}

/// `vault status --json` as a JSON value.
fn status(env: &Env) -> serde_json::Value {
    serde_json::from_str(&ok(&env.run(&["vault", "status", "--json"], ""))).unwrap()
}

/// Runs the helper in a new session whose session keyring is a fresh,
/// anonymous one not linked to the user keyring, as under cron or `docker exec`.
fn run_detached(env: &Env, args: &[&str], input: &str) -> std::process::Output {
    require_tool("keyctl", "keyutils");
    require_tool("setsid", "util-linux");
    let mut full = vec!["-w", "keyctl", "session", "-", BIN];
    full.extend_from_slice(args);
    env.run_program("setsid", &full, input)
}

#[test]
fn protocol_round_trip_on_the_file_backend_without_dbus() {
    let env = file_env();
    assert!(env.bus.is_none());
    assert_eq!(
        ok(&env.store("https://index.docker.io/v1/", "alice", PAT)),
        ""
    );
    assert_eq!(mode_of(&vault(&env)), 0o600);
    assert_eq!(
        ok(&env.get("https://index.docker.io/v1/")),
        get_reply("https://index.docker.io/v1/", "alice", PAT)
    );
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&env.store("127.0.0.1:5000", "bob", "pw1"));
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"127.0.0.1:5000\":\"bob\",\"https://index.docker.io/v1/\":\"alice\"}\n"
    );
    let index_text = env.index_json().to_string();
    assert!(index_text.contains("\"backend\":\"file\""), "{index_text}");
    ok(&env.store("127.0.0.1:5000", "bob", "pw2"));
    assert_eq!(
        ok(&env.get("http://127.0.0.1:5000")),
        get_reply("http://127.0.0.1:5000", "bob", "pw2")
    );
    assert_eq!(ok(&env.run(&["erase"], "https://index.docker.io/v1/")), "");
    not_found(&env.get("https://index.docker.io/v1/"));
    not_found(&env.run(&["erase"], "docker.io"));
    let index_text = env.index_json().to_string();
    assert!(
        !index_text.contains("retired"),
        "erased secrets are removed"
    );
}

#[test]
fn bad_input_on_the_file_backend_is_one_line_and_changes_nothing() {
    let env = file_env();
    ok(&env.store("docker.io", "alice", PAT));
    let before = snapshot(&env);
    for (verb, input) in [
        ("store", "{not json".to_owned()),
        (
            "store",
            r#"{"ServerURL":"","Username":"a","Secret":"b"}"#.to_owned(),
        ),
        (
            "store",
            r#"{"ServerURL":"x.io","Username":"","Secret":"b"}"#.to_owned(),
        ),
        (
            "store",
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\\nb\",\"Secret\":\"s\"}".to_owned(),
        ),
        ("store", "x".repeat(1024 * 1024 + 1)),
        ("get", "https://user:pass@docker.io".to_owned()),
        ("get", String::new()),
        ("erase", "docker.io\u{0}x".to_owned()),
    ] {
        let output = env.run(&[verb], &input);
        let out = fails(&output);
        assert_eq!(out.lines().count(), 1, "{verb}: {out:?}");
        assert!(!stderr(&output).contains("panicked"));
    }
    assert_eq!(snapshot(&env), before);
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

#[test]
fn token_commands_work_on_the_file_backend() {
    let env = file_env();
    let added = ok(&env.run(&["add", "docker.io", "-u", "alice", "-i", "ci"], PAT));
    assert!(
        added.contains("Added ci@docker.io (stored in the file)"),
        "{added}"
    );
    ok(&env.run(
        &[
            "add",
            "ghcr.io",
            "-u",
            "bob",
            "-i",
            "laptop",
            "--description",
            "my laptop",
        ],
        "ghp_secret",
    ));
    let tokens = ok(&env.run(&["tokens"], ""));
    assert!(
        tokens.contains("ci@docker.io") && tokens.contains("laptop@ghcr.io"),
        "{tokens}"
    );
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );

    ok(&env.run(&["rename", "ci@docker.io", "deploy"], ""));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    let history: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["history", "deploy@docker.io", "--json"], "")))
            .unwrap();
    assert_eq!(history["use_count"], 2, "{history}");

    ok(&env.run(&["deactivate", "deploy@docker.io"], ""));
    fails(&env.get("docker.io"));
    ok(&env.run(&["activate", "deploy@docker.io"], ""));
    ok(&env.get("docker.io"));

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    ok(&env.run(&["delete", "deploy@docker.io"], ""));
    fails(&env.get("docker.io"));
    ok(&env.run(&["delete", "--all", "ghcr.io"], ""));
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n");
    ok(&env.run(&["vault", "unlock"], ""));
    let index_text = env.index_json().to_string();
    assert!(!index_text.contains("retired"), "{index_text}");
}

#[test]
fn deleted_tokens_leave_the_vault() {
    let env = file_env_with("vault_cache_seconds = 300\n");
    ok(&env.run(&["add", "docker.io", "-u", "alice"], PAT));
    ok(&env.run(&["add", "ghcr.io", "-u", "bob"], "ghp_secret"));
    assert_eq!(status(&env)["items"], 2);
    ok(&env.run(&["delete", "default@ghcr.io"], ""));
    assert_eq!(status(&env)["items"], 1);
    ok(&env.run(&["vault", "lock"], ""));
    assert_eq!(status(&env)["unlocked"], false);
}

/// Doctor says where the vault key is cached and who can read it, and how
/// to stop it; with no cache, that it asks every time.
#[test]
fn doctor_says_who_can_read_the_cached_vault_key() {
    let caches = |env: &Env| -> Vec<String> {
        let report: serde_json::Value =
            serde_json::from_str(&stdout(&env.run(&["doctor", "--json"], ""))).unwrap();
        report
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["check"] == "caches" && f["message"].as_str().unwrap().contains("vault key")
            })
            .map(|f| {
                format!(
                    "{} — {}",
                    f["message"].as_str().unwrap(),
                    f["fix"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let env = file_env_with("vault_cache_seconds = 300\n");
    ok(&env.run(&["add", "ghcr.io", "-u", "bob"], "ghp_secret"));
    assert_eq!(
        caches(&env),
        [
            "the vault key is cached after an unlock for up to 300 s in this user's kernel keyring, which every process of this user can read (other login sessions, cron jobs, containers sharing the uid without a user namespace) as well as root — so `docker pull` in any terminal skips the passphrase; vault_cache_seconds = 0 in config.toml asks every time, `docker-credential-pat vault lock` drops it now"
        ]
    );
    let env = file_env_with("vault_cache_seconds = 0\n");
    ok(&env.run(&["add", "ghcr.io", "-u", "bob"], "ghp_secret"));
    assert_eq!(
        caches(&env),
        [
            "the vault key is not cached (vault_cache_seconds = 0): each use asks for the passphrase — "
        ]
    );
}

#[test]
fn refused_password_on_the_file_backend_keeps_the_token() {
    let env = file_env_with("vault_cache_seconds = 0\n[two_factor]\n\"docker.io\" = [\"alice\"]\n");
    ok(&env.store("docker.io", "alice", PAT));
    let before = snapshot(&env);
    let out = fails(&env.store("https://index.docker.io/v1/", "alice", "hunter2"));
    assert!(
        out.starts_with("refusing to store a password for alice at docker.io"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
    assert_eq!(snapshot(&env), before, "nothing changed");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&env.store("docker.io", "alice", PAT2));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT2)
    );
}

#[test]
fn docker_login_push_inspect_logout_on_the_file_backend() {
    let registry = Registry::start(PAT);
    let env = file_env();
    let host = registry.host.clone();
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}}}}"
    ));
    let login = env.docker_login(&host, REGISTRY_USER, PAT);
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    assert!(vault(&env).exists(), "the secret went to the vault");
    assert!(!env.config_json().contains(PAT));
    assert_eq!(ok(&env.get(&host)), get_reply(&host, REGISTRY_USER, PAT));

    ok(&env.push_small_image(&format!("{host}/demo/small:1")));
    let manifest = ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
    assert!(manifest.contains("schemaVersion"), "{manifest}");
    assert_not_on_disk(env.root.path(), PAT);

    ok(&env.docker(&["logout", &host], ""));
    not_found(&env.get(&host));
    assert!(
        !env.docker_inspect(&format!("{host}/demo/small:1"))
            .status
            .success(),
        "the registry refuses once logged out"
    );
}

#[test]
fn flipped_bytes_anywhere_are_errors_and_change_nothing() {
    let env = file_env();
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.store("ghcr.io", "bob", "ghp_secret"));
    let (good_vault, good_index) = snapshot(&env);
    let len = good_vault.len();
    let path = vault(&env).display().to_string();
    // magic, version, KDF id, memory, salt, nonce, key check, digest, body, tag
    for at in [0, 8, 10, 12, 30, 45, 70, 100, 130, len / 2, len - 1] {
        let mut bad = good_vault.clone();
        bad[at] ^= 0x04;
        std::fs::write(vault(&env), &bad).unwrap();
        for output in [
            env.get("docker.io"),
            env.store("quay.io", "carol", "pw"),
            env.store("docker.io", "alice", PAT2),
            env.run(&["add", "example.com", "-u", "dave"], "tok"),
        ] {
            let out = format!("{}{}", stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(1), "byte {at}: {out}");
            assert!(out.contains(&path), "byte {at}: names the file: {out}");
            assert!(
                !out.contains("wrong passphrase"),
                "byte {at}: damage is not blamed on the passphrase: {out}"
            );
            assert!(!out.contains("panicked"), "byte {at}: {out}");
        }
        assert_eq!(
            snapshot(&env),
            (bad, good_index.clone()),
            "byte {at}: nothing changed"
        );
    }
    std::fs::write(vault(&env), &good_vault).unwrap();
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

#[test]
fn tampered_body_is_an_authentication_error() {
    let env = file_env();
    ok(&env.store("docker.io", "alice", PAT));
    // The token's own item file, beside the vault's header file.
    let item = env.index_json()["registries"]["docker.io"]["tokens"]["default"]["secret"]["item"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = env.pat_home().join("vault.d").join(item);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let out = fails(&env.get("docker.io"));
    assert_eq!(
        out,
        format!(
            "vault {} cannot be read: its contents fail authentication: the file was modified or damaged; the file was left untouched\n",
            path.display()
        )
    );
}

#[test]
fn truncated_vault_is_an_error_naming_the_file_and_left_untouched() {
    let env = file_env();
    ok(&env.store("docker.io", "alice", PAT));
    let (good_vault, good_index) = snapshot(&env);
    for len in [0, 5, 60, 120, good_vault.len() - 17, good_vault.len() - 1] {
        let cut = good_vault[..len].to_vec();
        std::fs::write(vault(&env), &cut).unwrap();
        for output in [env.get("docker.io"), env.store("ghcr.io", "bob", "pw")] {
            let out = fails(&output);
            assert_eq!(out.lines().count(), 1);
            assert!(
                out.contains(&vault(&env).display().to_string()) && out.contains("cannot be read"),
                "{len}: {out}"
            );
        }
        assert_eq!(snapshot(&env), (cut, good_index.clone()), "{len}");
    }
    std::fs::write(vault(&env), &good_vault).unwrap();
    ok(&env.get("docker.io"));
}

#[test]
fn wrong_passphrase_changes_nothing() {
    let mut env = file_env();
    ok(&env.store("docker.io", "alice", PAT));
    let before = snapshot(&env);
    let wrong = write_passphrase(&env, "wrong", "not the passphrase");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", wrong.to_str().unwrap());
    let expected = format!("wrong passphrase for vault {}\n", vault(&env).display());
    assert_eq!(fails(&env.get("docker.io")), expected);
    assert_eq!(fails(&env.store("docker.io", "alice", PAT2)), expected);
    assert_eq!(fails(&env.store("ghcr.io", "bob", "pw")), expected);
    let unlock = env.run(&["vault", "unlock"], "");
    assert_eq!(unlock.status.code(), Some(1));
    assert!(
        stderr(&unlock).contains(expected.trim()),
        "{}",
        stderr(&unlock)
    );
    assert_eq!(snapshot(&env), before);

    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");
    env.set("DOCKER_PAT_PASSPHRASE", "also wrong");
    assert_eq!(fails(&env.get("docker.io")), expected);
    env.set("DOCKER_PAT_PASSPHRASE", PASSPHRASE);
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    assert_eq!(snapshot(&env).0, before.0);
}

#[test]
fn concurrent_writers_lose_no_update() {
    let env = file_env();
    ok(&env.store("seed.example", "u", "seed"));
    let hosts: Vec<String> = (0..16).map(|i| format!("reg{i}.example")).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let env = &env;
                scope.spawn(move || env.store(host, &format!("user{i}"), &format!("secret-{i}")))
            })
            .collect();
        for handle in handles {
            ok(&handle.join().unwrap());
        }
    });
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(
            ok(&env.get(host)),
            get_reply(host, &format!("user{i}"), &format!("secret-{i}"))
        );
    }
    let listed: serde_json::Value = serde_json::from_str(&ok(&env.run(&["list"], ""))).unwrap();
    assert_eq!(listed.as_object().unwrap().len(), 17);
    let names: Vec<_> = std::fs::read_dir(env.pat_home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|name| name == "vault"),
        "the listing shows the data folder's files: {names:?}"
    );
    let leftovers: Vec<_> = names.iter().filter(|name| name.contains(".tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn cached_key_serves_a_process_without_a_session_keyring_or_passphrase() {
    let mut env = file_env_with("vault_cache_seconds = 300\n");
    ok(&env.store("docker.io", "alice", PAT));
    let unlocked = ok(&env.run(&["vault", "unlock"], ""));
    assert!(unlocked.contains("cached for 300 s"), "{unlocked}");
    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");

    // The detached process really has a fresh session keyring that does not
    // lead to the user keyring.
    let shown = ok(&env.run_program(
        "setsid",
        &["-w", "keyctl", "session", "-", "keyctl", "show", "@s"],
        "",
    ));
    assert!(
        shown.contains("keyring: _ses\n"),
        "an anonymous session keyring: {shown}"
    );
    assert!(!shown.contains("_uid"), "{shown}");

    assert_eq!(
        ok(&run_detached(&env, &["get"], "docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&run_detached(
        &env,
        &["store"],
        &get_reply("ghcr.io", "bob", "pw"),
    ));
    assert_eq!(
        ok(&run_detached(&env, &["get"], "ghcr.io")),
        get_reply("ghcr.io", "bob", "pw")
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&run_detached(&env, &["vault", "status", "--json"], ""))).unwrap();
    assert_eq!(status["unlocked"], true);
    assert_eq!(status["items"], 2);
    ok(&run_detached(&env, &["vault", "lock"], ""));
    fails(&run_detached(&env, &["get"], "docker.io"));
}

#[test]
fn lock_then_get_without_a_passphrase_fails_clearly() {
    let mut env = file_env_with("vault_cache_seconds = 300\n");
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.run(&["vault", "unlock"], ""));
    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    assert!(ok(&env.run(&["vault", "lock"], "")).contains("cached key was dropped"));
    // setsid: no controlling terminal, so nobody can be asked.
    let out = fails(&env.run_program("setsid", &["-w", BIN, "get"], "docker.io"));
    assert_eq!(
        out,
        format!(
            "the vault {} is locked and no passphrase is available: set DOCKER_PAT_PASSPHRASE_FILE, or run `docker-credential-pat vault unlock` in a terminal\n",
            vault(&env).display()
        )
    );
    assert!(ok(&env.run(&["vault", "lock"], "")).contains("was not unlocked"));
    assert_eq!(status(&env)["unlocked"], false);
}

#[test]
fn passwd_makes_the_old_passphrase_fail_and_the_new_one_work() {
    let mut env = file_env_with("vault_cache_seconds = 300\n");
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.run(&["vault", "unlock"], ""));
    let old_vault = std::fs::read(vault(&env)).unwrap();
    let new = write_passphrase(&env, "new", "a brand new passphrase");
    env.set("DOCKER_PAT_NEW_PASSPHRASE_FILE", new.to_str().unwrap());
    let changed = ok(&env.run(&["vault", "passwd"], ""));
    assert!(changed.contains("Changed the passphrase"), "{changed}");
    unset(&mut env, "DOCKER_PAT_NEW_PASSPHRASE_FILE");
    assert_ne!(std::fs::read(vault(&env)).unwrap(), old_vault);
    assert_eq!(
        status(&env)["unlocked"],
        false,
        "passwd drops the cached key"
    );

    assert_eq!(
        fails(&env.get("docker.io")),
        format!("wrong passphrase for vault {}\n", vault(&env).display())
    );
    env.set("DOCKER_PAT_PASSPHRASE_FILE", new.to_str().unwrap());
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );

    // Again, with both passphrases in variables and a wrong current one.
    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");
    env.set("DOCKER_PAT_PASSPHRASE", "wrong");
    env.set("DOCKER_PAT_NEW_PASSPHRASE", "third");
    let before = std::fs::read(vault(&env)).unwrap();
    let refused = env.run(&["vault", "passwd"], "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("wrong passphrase"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(vault(&env)).unwrap(), before);
    env.set("DOCKER_PAT_PASSPHRASE", "a brand new passphrase");
    ok(&env.run(&["vault", "passwd"], ""));
    env.set("DOCKER_PAT_PASSPHRASE", "third");
    unset(&mut env, "DOCKER_PAT_NEW_PASSPHRASE");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&env.run(&["vault", "lock"], ""));
}

#[test]
fn migrate_to_file_and_back_keeps_every_token_and_leaves_no_orphan() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    let file = write_passphrase(&env, "passphrase", PASSPHRASE);
    env.set("DOCKER_PAT_PASSPHRASE_FILE", file.to_str().unwrap());
    env.write_config_toml(&format!(
        "# my settings\n{TINY_KDF}vault_cache_seconds = 300\nstale_after_days = 30\n"
    ));
    let hosts = ["https://index.docker.io/v1/", "ghcr.io", "127.0.0.1:5000"];
    ok(&env.store(hosts[0], "alice", PAT));
    ok(&env.store(hosts[1], "bob", "ghp_secret"));
    ok(&env.store(hosts[2], "carol", "pw"));
    ok(&env.run(&["add", "docker.io", "-u", "alice", "-i", "ci"], PAT2));
    let gets = |env: &Env| -> Vec<String> { hosts.iter().map(|h| ok(&env.get(h))).collect() };
    let before = gets(&env);
    assert_eq!(keyring.item_count(), 4);
    assert!(absent(&vault(&env)));

    let moved = ok(&env.run(&["migrate", "--to", "file"], ""));
    assert_eq!(moved.matches("Moved ").count(), 4, "{moved}");
    assert_eq!(keyring.item_count(), 0, "no orphan left in the keychain");
    assert_eq!(gets(&env), before);
    assert_eq!(status(&env)["items"], 4);
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert!(config.starts_with("# my settings\n"), "{config}");
    assert!(config.contains("backend = \"file\""), "{config}");
    ok(&env.store("quay.io", "dave", "later"));
    assert_eq!(status(&env)["items"], 5, "new tokens go to the vault");
    assert!(
        ok(&env.run(&["migrate", "--to", "file"], "")).contains("already in the file"),
        "a second run has nothing to do"
    );

    ok(&env.run(&["migrate", "--to", "keychain"], ""));
    assert_eq!(keyring.item_count(), 5);
    assert_eq!(status(&env)["items"], 0, "no orphan left in the vault");
    assert_eq!(gets(&env), before);
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "dave", "later")
    );
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT2)
    );
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert!(config.contains("backend = \"keychain\""), "{config}");
    ok(&env.run(&["vault", "lock"], ""));
}

#[test]
fn auto_uses_the_vault_when_no_keychain_is_reachable() {
    let mut env = Env::without_keychain();
    let file = write_passphrase(&env, "passphrase", PASSPHRASE);
    env.set("DOCKER_PAT_PASSPHRASE_FILE", file.to_str().unwrap());
    env.write_config_toml(&format!("{TINY_KDF}vault_cache_seconds = 300\n"));
    let created = ok(&env.run(&["vault", "init"], ""));
    assert!(created.contains("Created the vault"), "{created}");
    let again = env.run(&["vault", "init"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // No passphrase source now: the vault exists and its key is cached.
    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");
    ok(&env.store("docker.io", "alice", PAT));
    let index_text = env.index_json().to_string();
    assert!(index_text.contains("\"backend\":\"file\""), "{index_text}");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    ok(&env.run(&["vault", "lock"], ""));
}

#[test]
fn auto_with_neither_keychain_nor_vault_names_both_ways_out() {
    let env = Env::without_keychain();
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert_eq!(out.lines().count(), 1);
    for needle in ["Secret Service", "vault init", "DOCKER_PAT_PASSPHRASE_FILE"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    assert!(absent(&vault(&env)));
    assert!(absent(&index(&env)));
}

#[test]
fn file_backend_without_a_vault_or_passphrase_says_how_to_create_one() {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "file");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(out.contains("vault init"), "{out}");
    assert!(absent(&vault(&env)));
    assert!(absent(&index(&env)));
    let init = env.run_program("setsid", &["-w", BIN, "vault", "init"], "");
    assert_eq!(init.status.code(), Some(1));
    assert!(
        stderr(&init).contains("DOCKER_PAT_PASSPHRASE_FILE"),
        "{}",
        stderr(&init)
    );
    assert!(absent(&vault(&env)));
}

#[test]
fn vault_holds_no_token_or_username_in_clear() {
    let env = file_env();
    let user = "alice-unusual-name";
    ok(&env.store("docker.io", user, PAT));
    ok(&env.run(&["add", "ghcr.io", "-u", user, "-i", "ci"], PAT2));
    ok(&env.get("docker.io"));
    assert_not_on_disk(env.root.path(), PAT);
    assert_not_on_disk(env.root.path(), PAT2);
    // The vault is its header file and one sealed file per token.
    let mut files = vec![vault(&env)];
    files.extend(files_under(&env.pat_home().join("vault.d")));
    assert!(
        files.len() >= 3,
        "the header and a file per token: {files:?}"
    );
    // The control: the same search finds the registries where they are kept in clear, the index.
    assert!(!files_holding(&env.pat_home().join("index"), b"ghcr.io").is_empty());
    for clear in [user, "ghcr.io", "docker.io"] {
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "the vault shows {clear} in {}",
                file.display()
            );
        }
    }
    assert!(!stdout(&env.run(&["vault", "status"], "")).contains(PAT));
}

#[test]
fn vault_status_reports_each_state() {
    let env = file_env_with("vault_cache_seconds = 300\n");
    let missing = status(&env);
    assert_eq!(missing["exists"], false);
    assert_eq!(missing["unlocked"], false);
    ok(&env.store("docker.io", "alice", PAT));
    let open = status(&env);
    assert_eq!(open["exists"], true);
    assert_eq!(open["unlocked"], true);
    assert_eq!(open["items"], 1);
    assert_eq!(open["kdf"]["memory_kib"], 64);
    assert_eq!(open["kdf"]["iterations"], 1);
    assert_eq!(open["key_cache"], true);
    ok(&env.run(&["vault", "lock"], ""));
    let locked = status(&env);
    assert_eq!(locked["unlocked"], false);
    assert!(locked["items"].is_null());
    let mut bytes = std::fs::read(vault(&env)).unwrap();
    bytes[20] ^= 1;
    std::fs::write(vault(&env), &bytes).unwrap();
    let damaged = env.run(&["vault", "status", "--json"], "");
    assert_eq!(damaged.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout(&damaged)).unwrap();
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("header is damaged"),
        "{value}"
    );
}

#[test]
fn bad_vault_settings_are_one_line_errors() {
    let env = file_env();
    env.write_config_toml("vault_kdf_iterations = 0\n");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(
        out.contains("config.toml") && out.contains("vault_kdf_iterations"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
    let mut env = file_env();
    env.set("DOCKER_PAT_PASSPHRASE_FILE", "/nonexistent/passphrase");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(
        out.contains("cannot read the passphrase file /nonexistent/passphrase"),
        "{out}"
    );
    assert!(absent(&vault(&env)));
    let empty = write_passphrase(&env, "empty", "");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", empty.to_str().unwrap());
    assert!(fails(&env.store("docker.io", "alice", PAT)).contains("is empty"));
    assert!(absent(&vault(&env)));
}

#[test]
fn init_and_get_ask_on_the_terminal_without_echo() {
    let mut env = file_env();
    unset(&mut env, "DOCKER_PAT_PASSPHRASE_FILE");
    let typed = "typed at the terminal";

    let init = Terminal::start(&env, "init", &format!("'{BIN}' vault init"));
    init.wait_for("New vault passphrase:", 1);
    init.type_line(typed);
    init.wait_for("Repeat the new passphrase:", 1);
    init.type_line(typed);
    let (code, screen) = init.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(typed),
        "the passphrase was echoed:\n{screen}"
    );
    assert!(vault(&env).exists());

    let out = env.root.path().join("get.out");
    let get = Terminal::start(
        &env,
        "get",
        &format!(
            "printf '%s' '{}' | '{BIN}' store && echo docker.io | '{BIN}' get > '{}'",
            get_reply("docker.io", "alice", PAT).trim(),
            out.display()
        ),
    );
    // store, then get: no key cache, so each asks once.
    get.wait_for("Passphrase for vault", 1);
    get.type_line(typed);
    get.wait_for("Passphrase for vault", 2);
    get.type_line(typed);
    let (code, screen) = get.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(typed),
        "the passphrase was echoed:\n{screen}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        get_reply("docker.io", "alice", PAT),
        "stdin carried the protocol, the terminal the passphrase"
    );

    let mismatch = Terminal::start(&env, "mismatch", &format!("'{BIN}' vault passwd"));
    mismatch.wait_for("Passphrase for vault", 1);
    mismatch.type_line(typed);
    mismatch.wait_for("New vault passphrase:", 1);
    mismatch.type_line("one");
    mismatch.wait_for("Repeat the new passphrase:", 1);
    mismatch.type_line("two");
    let (code, screen) = mismatch.finish();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("the two passphrases differ"), "{screen}");
}
