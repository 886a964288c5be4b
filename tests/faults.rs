//! Faults: the helper killed at staged points, the Secret Service dying or
//! hanging mid-call, a full disk, and files damaged by hand.
//!
//! Kill points are staged from outside with `strace -e inject=SYSCALL:signal=KILL:when=N`,
//! which sends SIGKILL as the N-th such call starts (counted per thread). For
//! each operation every occurrence of each watched syscall is a kill point.
//! After each kill: the index parses, every token confirmed stored before
//! still returns its secret, the interrupted token is wholly old or wholly new,
//! and every Secret Service item is referenced by the index, on its retired
//! list, or labelled with its token so `doctor` can adopt or remove it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::hub_setup::{self, HubRegistry};
use crate::support::killpoints::{ROTATE_KILL_SYSCALLS, count_syscalls_of, killed_at};
use crate::support::*;

/// Syscalls at which a writer is killed: file writes and their commit
/// (openat, write, fsync, rename), the lock, and the D-Bus traffic.
const KILL_SYSCALLS: &[&str] = &[
    "openat", "write", "fsync", "rename", "flock", "sendmsg", "recvmsg", "unlink",
];

/// What each token should hold: name (`integration@registry`) → (username, secret).
type Model = BTreeMap<String, (String, String)>;

fn helper(env: &Env, integration: Option<&str>) -> Command {
    let mut command = env.command(BIN);
    if let Some(integration) = integration {
        command.env("DOCKER_PAT_INTEGRATION", integration);
    }
    command
}

fn run(mut command: Command, args: &[&str], input: &str) -> Output {
    command.args(args);
    run_with_input(command, input, "helper")
}

fn request(server: &str, user: &str, secret: &str) -> String {
    format!("{{\"ServerURL\":\"{server}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\n")
}

/// The registry and integration of a token name.
fn split(name: &str) -> (&str, &str) {
    let (integration, registry) = name.split_once('@').unwrap();
    (registry, integration)
}

/// What `get` returns for a token now: `Some((user, secret))`, or `None` when not found.
fn current(env: &Env, name: &str) -> Option<(String, String)> {
    let (registry, integration) = split(name);
    let output = run(helper(env, Some(integration)), &["get"], registry);
    let out = stdout(&output);
    if output.status.code() == Some(1) && out == NOT_FOUND {
        return None;
    }
    assert!(
        output.status.success(),
        "get {name} failed: {out} {}",
        stderr(&output)
    );
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
    Some((
        reply["Username"].as_str().unwrap().to_owned(),
        reply["Secret"].as_str().unwrap().to_owned(),
    ))
}

/// The item names the index refers to, and those on its retired list.
fn index_items(env: &Env) -> (BTreeSet<String>, BTreeSet<String>) {
    let index = env.index_json();
    let mut live = BTreeSet::new();
    for registry in index["registries"].as_object().unwrap().values() {
        for token in registry["tokens"].as_object().unwrap().values() {
            live.insert(token["secret"]["item"].as_str().unwrap().to_owned());
        }
    }
    let retired = index["retired"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| s["item"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (live, retired)
}

/// Checks the index, the Secret Service and every modelled token; returns how
/// many Secret Service items nothing refers to (left by a kill, for `doctor`).
#[track_caller]
fn check_consistent(env: &Env, keyring: &SecretService, model: &Model) -> usize {
    keyring.revive_if_crashed();
    let tokens = run(helper(env, None), &["tokens", "--json"], "");
    let listed: serde_json::Value = serde_json::from_str(&ok(&tokens)).unwrap();
    let names: BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        model.keys().cloned().collect::<BTreeSet<_>>(),
        "the index lists exactly the tokens confirmed stored"
    );
    for (name, expected) in model {
        assert_eq!(
            current(env, name).as_ref(),
            Some(expected),
            "{name} returns its secret"
        );
    }
    let (live, retired) = index_items(env);
    let items = keyring.items();
    let present: BTreeSet<String> = items
        .iter()
        .map(|i| {
            i.get("username")
                .cloned()
                .unwrap_or_else(|| panic!("{i:?}"))
        })
        .collect();
    for item in &live {
        assert!(
            present.contains(item),
            "a referenced secret is missing from the Secret Service"
        );
    }
    let mut orphans = 0;
    for item in &items {
        let name = &item["username"];
        if live.contains(name) || retired.contains(name) {
            continue;
        }
        orphans += 1;
        for attribute in ["registry", "account", "token", "home"] {
            assert!(
                item.contains_key(attribute),
                "an unreferenced item carries its {attribute}, so doctor can adopt or remove it: {item:?}"
            );
        }
    }
    orphans
}

/// How often each watched syscall runs during one uninterrupted run.
fn count_syscalls(
    env: &Env,
    integration: Option<&str>,
    args: &[&str],
    input: &str,
) -> BTreeMap<String, usize> {
    count_syscalls_of(KILL_SYSCALLS, env, integration, args, input)
}

/// `doctor --repair` after the kills, then `doctor` is green: whatever a kill
/// left unreferenced is adopted as an inactive `recovered-` token (or removed),
/// and every token confirmed stored still returns its secret.
#[track_caller]
fn repair_leaves_doctor_green(env: &mut Env, keyring: &SecretService, model: &Model) {
    keyring.revive_if_crashed();
    make_healthy(env);
    // GNOME Keyring may still abort over what a killed client left queued (see
    // `revive_if_crashed`); a run it took down is run again once it is back.
    let doctor = |env: &Env, args: &[&str]| {
        let output = env.run(args, "");
        if keyring.revive_if_crashed() {
            return env.run(args, "");
        }
        output
    };
    let repair = doctor(env, &["doctor", "--repair"]);
    assert!(
        matches!(repair.status.code(), Some(0 | 3)),
        "doctor --repair ran: {} {}",
        stdout(&repair),
        stderr(&repair)
    );
    let check = doctor(env, &["doctor"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "doctor is green after repair:\n{}\n{}",
        stdout(&check),
        stderr(&check)
    );
    for (name, expected) in model {
        assert_eq!(current(env, name).as_ref(), Some(expected), "{name}");
    }
    let (live, retired) = index_items(env);
    assert!(retired.is_empty(), "nothing is left retired");
    for item in keyring.items() {
        assert!(live.contains(&item["username"]), "every item is referenced");
    }
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    for token in listed.as_array().unwrap() {
        let name = token["token"].as_str().unwrap();
        if !model.contains_key(name) {
            assert!(
                name.starts_with("recovered-") && token["active"] == false,
                "only inactive recovered tokens are added: {token}"
            );
        }
    }
}

/// Traced processes on a loaded machine can be slow; the kill tests are about
/// kill points, so the keychain deadline (tested on its own below) is generous.
const PATIENT: &str = "keychain_timeout_seconds = 120\n";

/// Two tokens on ghcr.io and one on Docker Hub, confirmed stored.
fn setup() -> (SecretService, Env, Model) {
    require_tool("strace", "strace");
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml(PATIENT);
    let mut model = Model::new();
    ok(&env.store("https://index.docker.io/v1/", "alice", PAT));
    model.insert("default@docker.io".into(), ("alice".into(), PAT.into()));
    ok(&env.store("ghcr.io", "octo", "ghcr-default-0"));
    model.insert(
        "default@ghcr.io".into(),
        ("octo".into(), "ghcr-default-0".into()),
    );
    ok(&run(
        helper(&env, Some("ci")),
        &["store"],
        &request("ghcr.io", "octo-ci", "ghcr-ci-0"),
    ));
    model.insert("ci@ghcr.io".into(), ("octo-ci".into(), "ghcr-ci-0".into()));
    check_consistent(&env, &keyring, &model);
    (keyring, env, model)
}

/// Tallies of what the kills left behind.
#[derive(Default, Debug)]
struct Tally {
    points: usize,
    killed: usize,
    killed_old: usize,
    killed_new: usize,
    orphans: usize,
}

#[test]
fn store_killed_at_any_point_keeps_old_or_new_never_half() {
    let (keyring, mut env, mut model) = setup();
    let mut tally = Tally::default();
    let mut serial = 0;
    let counts = count_syscalls(
        &env,
        None,
        &["store"],
        &request("ghcr.io", "octo", "ghcr-default-counted"),
    );
    model.insert(
        "default@ghcr.io".into(),
        ("octo".into(), "ghcr-default-counted".into()),
    );
    for (syscall, &count) in &counts {
        for n in 1..=count {
            serial += 1;
            let secret = format!("ghcr-default-{serial}");
            let old = model["default@ghcr.io"].clone();
            let killed = killed_at(
                Some(&keyring),
                &env,
                None,
                &["store"],
                &request("ghcr.io", "octo", &secret),
                syscall,
                n,
            );
            tally.points += 1;
            let now = current(&env, "default@ghcr.io").expect("the token never disappears");
            if killed {
                tally.killed += 1;
                if now == old {
                    tally.killed_old += 1;
                } else {
                    tally.killed_new += 1;
                }
            }
            assert!(
                now == old || now == ("octo".to_owned(), secret.clone()),
                "store killed at {syscall} #{n}: wholly old or wholly new"
            );
            model.insert("default@ghcr.io".into(), now);
            tally.orphans = check_consistent(&env, &keyring, &model);
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed both before and after the commit: {tally:?}"
    );
    // A later store still works and clears what earlier kills left retired.
    ok(&env.store("ghcr.io", "octo", "ghcr-final"));
    model.insert(
        "default@ghcr.io".into(),
        ("octo".into(), "ghcr-final".into()),
    );
    check_consistent(&env, &keyring, &model);
    assert!(index_items(&env).1.is_empty(), "the retired list drains");
    eprintln!("store kill points: {tally:?} {counts:?}");
    repair_leaves_doctor_green(&mut env, &keyring, &model);
}

#[test]
fn new_token_store_killed_at_any_point_is_all_or_nothing() {
    let (keyring, mut env, mut model) = setup();
    let mut tally = Tally::default();
    let counts = count_syscalls(
        &env,
        None,
        &["store"],
        &request("quay.io", "q", "quay-counted"),
    );
    ok(&env.run(&["erase"], "quay.io"));
    let mut serial = 0;
    for (syscall, &count) in &counts {
        for n in 1..=count {
            serial += 1;
            let registry = format!("new{serial}.example");
            let secret = format!("new-secret-{serial}");
            let killed = killed_at(
                Some(&keyring),
                &env,
                None,
                &["store"],
                &request(&registry, "nu", &secret),
                syscall,
                n,
            );
            tally.points += 1;
            tally.killed += usize::from(killed);
            let name = format!("default@{registry}");
            match current(&env, &name) {
                Some(now) => {
                    assert_eq!(now, ("nu".to_owned(), secret), "{syscall} #{n}");
                    model.insert(name, now);
                    tally.killed_new += usize::from(killed);
                }
                None => {
                    assert!(killed, "an unkilled store is confirmed");
                    tally.killed_old += 1;
                }
            }
            tally.orphans = check_consistent(&env, &keyring, &model);
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed both before and after the commit: {tally:?}"
    );
    eprintln!("new-token kill points: {tally:?} {counts:?}");
    repair_leaves_doctor_green(&mut env, &keyring, &model);
}

#[test]
fn rename_killed_at_any_point_leaves_one_name() {
    let (keyring, mut env, mut model) = setup();
    let counts = count_syscalls(&env, None, &["rename", "ci@ghcr.io", "ci2"], "");
    let value = model.remove("ci@ghcr.io").unwrap();
    let mut name = "ci2@ghcr.io".to_owned();
    model.insert(name.clone(), value.clone());
    let mut tally = Tally::default();
    for (syscall, &count) in &counts {
        for n in 1..=count {
            let next = if name == "ci@ghcr.io" { "ci2" } else { "ci" };
            let killed = killed_at(
                Some(&keyring),
                &env,
                None,
                &["rename", &name, next],
                "",
                syscall,
                n,
            );
            tally.points += 1;
            tally.killed += usize::from(killed);
            let renamed = format!("{next}@ghcr.io");
            let (old_now, new_now) = (current(&env, &name), current(&env, &renamed));
            match (old_now, new_now) {
                (Some(v), None) => {
                    assert_eq!(v, value);
                    tally.killed_old += 1;
                }
                (None, Some(v)) => {
                    assert_eq!(v, value);
                    tally.killed_new += usize::from(killed);
                    model.remove(&name);
                    model.insert(renamed.clone(), v);
                    name = renamed;
                }
                other => panic!("rename killed at {syscall} #{n}: exactly one name: {other:?}"),
            }
            check_consistent(&env, &keyring, &model);
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed both before and after the commit: {tally:?}"
    );
    eprintln!("rename kill points: {tally:?} {counts:?}");
    repair_leaves_doctor_green(&mut env, &keyring, &model);
}

#[test]
fn delete_and_erase_killed_at_any_point_are_all_or_nothing() {
    let (keyring, mut env, mut model) = setup();
    for (args, integration) in [
        (&["delete", "ci@ghcr.io"][..], None),
        (&["erase"][..], Some("ci")),
    ] {
        let input = if args[0] == "erase" { "ghcr.io" } else { "" };
        if current(&env, "ci@ghcr.io").is_none() {
            ok(&run(
                helper(&env, Some("ci")),
                &["store"],
                &request("ghcr.io", "octo-ci", "ghcr-ci-recount"),
            ));
        }
        let counts = count_syscalls(&env, integration, args, input);
        let mut tally = Tally::default();
        let mut serial = 0;
        for (syscall, &count) in &counts {
            for n in 1..=count {
                serial += 1;
                // Put the token back (it was deleted by the counting run or the last kill).
                let secret = format!("ghcr-ci-{serial}");
                ok(&run(
                    helper(&env, Some("ci")),
                    &["store"],
                    &request("ghcr.io", "octo-ci", &secret),
                ));
                let killed = killed_at(Some(&keyring), &env, integration, args, input, syscall, n);
                tally.points += 1;
                tally.killed += usize::from(killed);
                match current(&env, "ci@ghcr.io") {
                    Some(now) => {
                        assert!(killed, "an unkilled {args:?} is confirmed");
                        assert_eq!(now, ("octo-ci".to_owned(), secret));
                        model.insert("ci@ghcr.io".into(), now);
                        tally.killed_old += 1;
                    }
                    None => {
                        model.remove("ci@ghcr.io");
                        tally.killed_new += usize::from(killed);
                    }
                }
                tally.orphans = check_consistent(&env, &keyring, &model);
            }
        }
        assert!(
            tally.killed_old > 0 && tally.killed_new > 0,
            "{args:?}: kills before and after the commit: {tally:?}"
        );
        eprintln!("{args:?} kill points: {tally:?} {counts:?}");
    }
    // Whatever was retired is removed by the next writer.
    ok(&env.store("ghcr.io", "octo", "ghcr-after"));
    model.insert(
        "default@ghcr.io".into(),
        ("octo".into(), "ghcr-after".into()),
    );
    check_consistent(&env, &keyring, &model);
    assert!(index_items(&env).1.is_empty(), "the retired list drains");
    repair_leaves_doctor_green(&mut env, &keyring, &model);
}

// ---- import, migrate and vault passwd, killed ----

/// Syscalls at which the bulk commands are killed: their commits and their writes.
const BULK_KILL_SYSCALLS: &[&str] = &["openat", "write", "fsync", "rename", "sendmsg"];

fn bulk_counts(env: &Env, args: &[&str]) -> BTreeMap<String, usize> {
    count_syscalls(env, None, args, "")
        .into_iter()
        .filter(|(name, _)| BULK_KILL_SYSCALLS.contains(&name.as_str()))
        .collect()
}

const TINY_KDF: &str =
    "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\nvault_cache_seconds = 0\n";

fn passphrase_file(env: &Env, name: &str, text: &str) -> String {
    let path = env.root.path().join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Plaintext logins as `docker login` without a helper leaves them in config.json.
const LOGINS: [(&str, &str, &str); 3] = [
    ("reg1.example", "u1", "plain-secret-1"),
    ("reg2.example:5000", "u2", "plain-secret-2"),
    ("https://index.docker.io/v1/", "alice", PAT),
];

/// The canonical key of one of [`LOGINS`]' addresses.
fn registry_key(host: &str) -> &str {
    host.trim_start_matches("https://index.")
        .trim_end_matches("/v1/")
}

fn plaintext_config() -> String {
    let auths: Vec<String> = LOGINS
        .iter()
        .map(|(host, user, secret)| {
            format!(
                "\"{host}\":{{\"auth\":\"{}\"}}",
                base64(format!("{user}:{secret}").as_bytes())
            )
        })
        .collect();
    format!(
        "{{\"auths\":{{{}}},\"credsStore\":\"pat\"}}",
        auths.join(",")
    )
}

#[test]
fn import_killed_at_any_point_never_loses_a_login() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.write_config_toml(PATIENT);
    env.write_config_json(&plaintext_config());
    let counts = bulk_counts(&env, &["import"]);
    let mut tally = Tally::default();
    for (syscall, &count) in &counts {
        for n in 1..=count {
            // Start over: the logins only in config.json.
            for (host, _, _) in LOGINS {
                let _ = env.run(&["erase"], host);
            }
            env.write_config_json(&plaintext_config());
            let killed = killed_at(Some(&keyring), &env, None, &["import"], "", syscall, n);
            tally.points += 1;
            tally.killed += usize::from(killed);
            let config: serde_json::Value = serde_json::from_str(&env.config_json())
                .expect("config.json is never left half-written");
            for (host, user, secret) in LOGINS {
                let in_config = config["auths"][host]["auth"].is_string();
                let output = env.get(host);
                let in_helper = output.status.success();
                if in_helper {
                    assert_eq!(stdout(&output), get_reply(host, user, secret), "{host}");
                }
                assert!(
                    in_config || in_helper,
                    "import killed at {syscall} #{n} lost the login for {host}"
                );
                tally.killed_new += usize::from(killed && in_helper && !in_config);
                tally.killed_old += usize::from(killed && in_config && !in_helper);
            }
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed before and after logins moved: {tally:?}"
    );
    // A clean import finishes the job, and doctor is green after repair.
    ok(&env.run(&["import"], ""));
    let config: serde_json::Value = serde_json::from_str(&env.config_json()).unwrap();
    let mut model = Model::new();
    for (host, user, secret) in LOGINS {
        assert!(
            !config["auths"][host]["auth"].is_string(),
            "{host} left config.json"
        );
        model.insert(
            format!("default@{}", registry_key(host)),
            (user.into(), secret.into()),
        );
    }
    repair_leaves_doctor_green(&mut env, &keyring, &model);
    eprintln!("import kill points: {tally:?} {counts:?}");
}

#[test]
fn migrate_killed_at_any_point_keeps_every_secret() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.write_config_toml(&format!("{TINY_KDF}{PATIENT}"));
    let passphrase = passphrase_file(&env, "passphrase", "migrate passphrase");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", &passphrase);
    ok(&env.run(&["vault", "init"], ""));
    let mut model = Model::new();
    for (host, user, secret) in LOGINS {
        ok(&env.store(host, user, secret));
        model.insert(
            format!("default@{}", registry_key(host)),
            (user.into(), secret.into()),
        );
    }
    let to_file = bulk_counts(&env, &["migrate", "--to", "file"]);
    let to_keychain = bulk_counts(&env, &["migrate", "--to", "keychain"]);
    let mut tally = Tally::default();
    for (to, counts) in [("file", &to_file), ("keychain", &to_keychain)] {
        let from = if to == "file" { "keychain" } else { "file" };
        for (syscall, &count) in counts {
            for n in 1..=count {
                ok(&env.run(&["migrate", "--to", from], ""));
                let killed = killed_at(
                    Some(&keyring),
                    &env,
                    None,
                    &["migrate", "--to", to],
                    "",
                    syscall,
                    n,
                );
                tally.points += 1;
                tally.killed += usize::from(killed);
                for (name, expected) in &model {
                    assert_eq!(
                        current(&env, name).as_ref(),
                        Some(expected),
                        "migrate --to {to} killed at {syscall} #{n}: {name}"
                    );
                }
                ok(&env.run(&["vault", "status"], ""));
            }
        }
    }
    assert!(tally.killed > 0, "{tally:?}");
    ok(&env.run(&["migrate", "--to", "keychain"], ""));
    repair_leaves_doctor_green(&mut env, &keyring, &model);
    eprintln!("migrate kill points: {tally:?} to file {to_file:?} to keychain {to_keychain:?}");
}

#[test]
fn vault_passwd_killed_at_any_point_leaves_exactly_one_working_passphrase() {
    let mut env = Env::without_keychain();
    env.write_config_toml(TINY_KDF);
    env.set("DOCKER_PAT_BACKEND", "file");
    let mut old = passphrase_file(&env, "one", "the first passphrase");
    let mut new = passphrase_file(&env, "two", "the second passphrase");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", &old);
    ok(&env.run(&["vault", "init"], ""));
    for (host, user, secret) in LOGINS {
        ok(&env.store(host, user, secret));
    }
    let works = |env: &mut Env, file: &str| {
        env.set("DOCKER_PAT_PASSPHRASE_FILE", file);
        LOGINS.iter().all(|(host, user, secret)| {
            let output = env.get(host);
            if output.status.success() {
                assert_eq!(stdout(&output), get_reply(host, user, secret));
                true
            } else {
                assert!(
                    stdout(&output).contains("wrong passphrase"),
                    "{}",
                    stdout(&output)
                );
                false
            }
        })
    };
    env.set("DOCKER_PAT_NEW_PASSPHRASE_FILE", &new);
    let counts = bulk_counts(&env, &["vault", "passwd"]);
    std::mem::swap(&mut old, &mut new);
    let mut tally = Tally::default();
    for (syscall, &count) in &counts {
        for n in 1..=count {
            env.set("DOCKER_PAT_PASSPHRASE_FILE", &old);
            env.set("DOCKER_PAT_NEW_PASSPHRASE_FILE", &new);
            let killed = killed_at(None, &env, None, &["vault", "passwd"], "", syscall, n);
            tally.points += 1;
            tally.killed += usize::from(killed);
            let (with_old, with_new) = (works(&mut env, &old), works(&mut env, &new));
            assert!(
                with_old != with_new,
                "passwd killed at {syscall} #{n}: exactly one passphrase opens the vault with every secret"
            );
            if with_new {
                tally.killed_new += usize::from(killed);
                std::mem::swap(&mut old, &mut new);
            } else {
                tally.killed_old += 1;
            }
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed before and after the new passphrase took over: {tally:?}"
    );
    eprintln!("vault passwd kill points: {tally:?} {counts:?}");
}

// ---- The Secret Service fails ----

#[track_caller]
fn assert_clear_error(output: &Output, what: &str, expected: &[&str]) {
    let out = fails(output);
    assert_eq!(out.lines().count(), 1, "{what}: one line: {out:?}");
    assert!(
        expected.iter().any(|e| out.contains(e)),
        "{what}: a clear message, got {out:?}"
    );
    assert!(!stderr(output).contains("panicked"), "{what}");
}

#[test]
fn hub_rotate_killed_at_any_point_leaves_the_old_token_or_the_new_one_working() {
    hub_rotate_kill_points(None);
}

/// The same for an organisation access token: stored as the organisation,
/// checked at Hub with its name, and taken by the registry for its resources.
#[test]
fn hub_rotate_of_an_organisation_token_killed_at_any_point_leaves_a_working_token() {
    hub_rotate_kill_points(Some("acme"));
}

/// Kills `hub rotate` at every kill point, for a personal token or (with
/// `org`) an organisation access token, and checks what each kill leaves.
fn hub_rotate_kill_points(org: Option<&str>) {
    require_tool("strace", "strace");
    let hub_setup::Setup {
        keyring,
        mut env,
        hub,
    } = hub_setup::setup();
    env.write_config_toml(PATIENT);
    hub.set_rate_limit(100_000);
    let registry = HubRegistry::start(&hub);
    hub_setup::login(&env);
    let (user, reference) = match org {
        None => {
            ok(&env.run(
                &words("hub create --integration ci --scopes write --default"),
                "",
            ));
            registry.push(&env);
            (hub_setup::USER.to_owned(), registry.reference.clone())
        }
        Some(org) => {
            hub.add_org(org, &[hub_setup::USER]);
            // Every kill after the create leaves a token the cap would count.
            hub.set_org_token_limit(org, 10_000);
            let pattern = format!("{org}/*");
            ok(&env.run(
                &[
                    "hub",
                    "create",
                    "--org",
                    org,
                    "-i",
                    "ci",
                    "--repo",
                    &pattern,
                    "--scopes",
                    "image-pull,image-push",
                    "--default",
                ],
                "",
            ));
            let reference = format!("{}/{org}/app:1", registry.registry.host);
            hub_setup::push_through_bridge(
                &env,
                &hub_setup::bridge(&env),
                &registry.registry,
                &reference,
            );
            (org.to_owned(), reference)
        }
    };
    // What Hub holds: (id, secret, usable) of the account's or the organisation's tokens.
    let on_hub = || hub.held(org);
    let accepted = |secret: &str| {
        hub_setup::registry_accepts_as(&env, &registry.registry, &user, secret, &reference)
    };
    let rotate = ["hub", "rotate", "ci@docker.io"];
    let rotate_counts = count_syscalls_of(ROTATE_KILL_SYSCALLS, &env, None, &rotate, "");
    let mut tally = Tally::default();
    let mut checked_at_registry = String::new();
    for (syscall, &count) in &rotate_counts {
        for n in 1..=count {
            let before = hub_setup::served(&env).expect("a token is stored");
            let killed = killed_at(Some(&keyring), &env, None, &rotate, "", syscall, n);
            tally.points += 1;
            let now = hub_setup::served(&env)
                .unwrap_or_else(|| panic!("killed at {syscall} #{n}: a token is always stored"));
            let (uuid, _, usable) = on_hub()
                .into_iter()
                .find(|t| t.1 == now)
                .unwrap_or_else(|| panic!("killed at {syscall} #{n}: the stored token is Hub's"));
            assert!(
                usable,
                "killed at {syscall} #{n}: the stored token is active on Hub ({})",
                if now == before {
                    "the old one"
                } else {
                    "the new one"
                }
            );
            let listed: serde_json::Value =
                serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
            assert_eq!(
                listed[0]["hub_id"],
                uuid.as_str(),
                "killed at {syscall} #{n}: the record links the token it holds"
            );
            assert_eq!(listed[0]["username"], user.as_str());
            if killed {
                tally.killed += 1;
                if now == before {
                    tally.killed_old += 1;
                } else {
                    tally.killed_new += 1;
                }
            }
            if now != checked_at_registry {
                assert!(
                    accepted(&now),
                    "killed at {syscall} #{n}: the registry takes the stored token"
                );
                checked_at_registry = now;
            }
        }
    }
    assert!(
        tally.killed_old > 0 && tally.killed_new > 0,
        "kills landed both before and after the new token was stored: {tally:?}"
    );
    // One more rotation finishes whatever the kills left half done: only
    // tokens that were never stored (created just before a kill) stay active
    // beside the one in use, and `hub tokens` shows them unlinked.
    ok(&env.run(&rotate, ""));
    let now = hub_setup::served(&env).unwrap();
    let mut listing = vec!["hub", "tokens", "--json"];
    if let Some(org) = org {
        listing.extend(["--org", org]);
    }
    let hub_rows: serde_json::Value = serde_json::from_str(&ok(&env.run(&listing, ""))).unwrap();
    let active_linked: Vec<&serde_json::Value> = hub_rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_active"] == true && r["local"] != serde_json::Value::Null)
        .collect();
    assert_eq!(active_linked.len(), 1, "{hub_rows}");
    let in_use = on_hub().into_iter().find(|t| t.1 == now).unwrap();
    assert_eq!(active_linked[0]["uuid"], in_use.0.as_str());
    let never_stored = on_hub().iter().filter(|t| t.2 && t.1 != now).count();
    eprintln!(
        "hub rotate{} kill points: {tally:?} {rotate_counts:?}; {never_stored} token(s) created but never stored",
        org.map_or_else(String::new, |o| format!(" --org {o}"))
    );
    ok(&env.run(&["hub", "logout"], ""));
    let mut model = Model::new();
    model.insert("ci@docker.io".into(), (user, now));
    repair_leaves_doctor_green(&mut env, &keyring, &model);
}

#[test]
fn secret_service_that_never_answers_is_a_clear_error_within_the_timeout() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("keychain_timeout_seconds = 2\n");
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    let index = env.index_bytes();
    keyring.signal_keyring("STOP");
    let get = env.get("ghcr.io");
    let store = env.store("ghcr.io", "octo", "new-secret");
    let add = env.run(&["add", "quay.io", "--username", "q"], "quay-secret\n");
    keyring.signal_keyring("CONT");
    let answer = ["did not answer within 2 s"];
    assert_clear_error(&get, "get", &answer);
    assert_clear_error(&store, "store", &answer);
    assert!(
        stderr(&add).contains("did not answer within 2 s") && add.status.code() == Some(1),
        "add: {}",
        stderr(&add)
    );
    assert_eq!(env.index_bytes(), index, "the index is unchanged");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
}

#[test]
fn secret_service_dying_mid_call_is_a_clear_error_and_loses_nothing() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("keychain_timeout_seconds = 5\n");
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    let index = env.index_bytes();
    // Stopped, the daemon holds the calls unanswered; then it dies with them in flight.
    keyring.signal_keyring("STOP");
    let calls: Vec<std::process::Child> = [
        ("get", "ghcr.io".to_owned()),
        ("store", request("ghcr.io", "octo", "lost-in-flight")),
        ("store", request("quay.io", "q", "also-in-flight")),
    ]
    .into_iter()
    .map(|(verb, input)| {
        let mut command = env.command(BIN);
        command.arg(verb);
        spawn_with_input(command, input, verb).0
    })
    .collect();
    std::thread::sleep(Duration::from_millis(700));
    keyring.stop_keyring();
    for child in calls {
        let output = wait_with_timeout(child, Duration::from_secs(30), "helper");
        assert_clear_error(
            &output,
            "call in flight",
            &["Secret Service", "did not answer"],
        );
    }
    assert_eq!(env.index_bytes(), index, "the index is unchanged");
    // The keyring comes back from its file: the confirmed secret is still there.
    keyring.start_keyring();
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
    ok(&env.store("quay.io", "q", "after-restart"));
    ok(&env.get("quay.io"));
}

// ---- Full disk ----

/// A small tmpfs mounted over a folder, unmounted on drop.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// The mounted disk, or what `mount` said when it could not mount one.
    fn mount(path: &std::path::Path, size: &str) -> Result<Self, String> {
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !output.status.success() {
            return Err(format!("mount: {}", stderr(&output).trim()));
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// Fills the disk to the last byte.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let byte = [0u8; 1];
        while file.write_all(&byte).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn full_disk_is_a_clear_error_and_keeps_the_old_state() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let disk = match SmallDisk::mount(&env.pat_home(), "256k") {
        Ok(disk) => disk,
        Err(why) => return cannot_run(&format!("cannot mount a tmpfs here (not root?): {why}")),
    };
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    ok(&env.get("ghcr.io"));
    let index = env.index_bytes();
    let filler = disk.fill();
    let full = ["no space left on device"];
    let out = env.store("quay.io", "q", "no-room-secret");
    assert_clear_error(&out, "store of a new token", &full);
    assert!(fails(&out).contains("previous version is unchanged"));
    let out = env.store("ghcr.io", "octo", "no-room-either");
    assert_clear_error(&out, "store replacing a token", &full);
    let out = env.run(&["erase"], "ghcr.io");
    assert_clear_error(&out, "erase", &full);
    let out = env.run(&["rename", "default@ghcr.io", "x"], "");
    assert!(
        stderr(&out).contains("no space left on device") && out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    // Reading still works on a full disk; only the use record is skipped (said on stderr).
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
    assert_eq!(env.index_bytes(), index);
    assert!(!keyring.holds("no-room-secret") && !keyring.holds("no-room-either"));
    assert_eq!(
        keyring.item_count(),
        1,
        "the new secrets were taken back out"
    );
    std::fs::remove_file(filler).unwrap();
    ok(&env.store("quay.io", "q", "room-again"));
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "q", "room-again")
    );
}

#[test]
fn file_size_limit_is_a_clear_error_and_keeps_the_old_state() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    let index = env.index_bytes();
    // One token's record is larger than the limit, so writing any index file fails.
    assert!(
        std::fs::metadata(env.index_file_of("ghcr.io"))
            .unwrap()
            .len()
            > 200
    );
    // The helper ignores SIGXFSZ itself, so the write fails with EFBIG instead of killing it.
    let limited = |args: &[&str], input: &str| {
        let mut command = env.command("prlimit");
        command.args(["--fsize=200", "--"]).arg(BIN);
        run(command, args, input)
    };
    let out = limited(&["store"], &request("quay.io", "q", "too-big-secret"));
    assert_clear_error(&out, "store", &["file too large"]);
    assert_eq!(env.index_bytes(), index);
    assert!(!keyring.holds("too-big-secret"));
    let leftovers: Vec<_> = files_under(&env.pat_home())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temp file is left: {leftovers:?}");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
}

// ---- Files damaged by hand ----

#[test]
fn damaged_index_is_a_clear_error_everywhere_and_is_left_alone() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    ok(&env.store("docker.io", "alice", PAT));
    // The damage goes into the file holding ghcr.io, the registry the reads below ask for.
    let path = env.index_file_of("ghcr.io");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let good = std::fs::read(&path).unwrap();
    let mut damaged: Vec<(String, Vec<u8>)> = [1, good.len() / 3, good.len() / 2, good.len() - 3]
        .into_iter()
        .map(|at| (format!("truncated at {at}"), good[..at].to_vec()))
        .collect();
    let text = String::from_utf8(good.clone()).unwrap();
    // Record-level damage goes into ghcr.io's record, the one the reads below ask for.
    let at = text.find("\"ghcr.io\"").unwrap();
    let (head, ghcr) = text.split_at(at);
    // Every occurrence: a bucket file holds ghcr.io twice, in the listing `list`
    // reads and in the records the other commands read.
    let in_ghcr = |from: &str, to: &str| format!("{head}{}", ghcr.replace(from, to)).into_bytes();
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("binary", (0..=255u8).cycle().take(3000).collect()),
        ("null", b"null".to_vec()),
        ("an array", b"[]".to_vec()),
        (
            "registries is an array",
            br#"{"version":1,"registries":[]}"#.to_vec(),
        ),
        (
            "newer format",
            br#"{"version":99,"registries":{}}"#.to_vec(),
        ),
        (
            "key not canonical",
            text.replace("\"ghcr.io\"", "\"GHCR.io\"").into_bytes(),
        ),
        (
            "default names no token",
            in_ghcr("\"default\":\"default\"", "\"default\":\"gone\""),
        ),
        (
            "bad integration name",
            in_ghcr("\"default\":{", "\"bad name\":{"),
        ),
        (
            "a field of the wrong type",
            in_ghcr("\"active\":true", "\"active\":\"yes\""),
        ),
        ("NULs", vec![0u8; 100]),
    ] {
        damaged.push((what.to_owned(), bytes));
    }
    let listed = ok(&env.run(&["list"], ""));
    for (what, bytes) in &damaged {
        assert_ne!(bytes, &good, "{what} differs");
        std::fs::write(&path, bytes).unwrap();
        for (args, input) in [
            (&["get"][..], "ghcr.io".to_owned()),
            (&["erase"], "ghcr.io".to_owned()),
            (&["store"], request("ghcr.io", "octo", "while-damaged")),
        ] {
            let output = env.run(args, &input);
            assert_clear_error(&output, &format!("{args:?} on an index {what}"), &[&file]);
        }
        // `list` reads only a bucket's first line, its listing: damage there is
        // a clear error; damage only after it leaves the answer as it was.
        let listing_part = |bytes: &[u8]| {
            let end = bytes.iter().position(|&b| b == b'\n').map(|i| i + 2);
            end.and_then(|end| bytes.get(..end)).map(<[u8]>::to_vec)
        };
        let list = env.run(&["list"], "");
        if listing_part(bytes).is_some() && listing_part(bytes) == listing_part(&good) {
            assert_eq!(ok(&list), listed, "list on an index {what}");
        } else {
            assert_clear_error(&list, &format!("list on an index {what}"), &[&file]);
        }
        for args in [
            &["tokens"][..],
            &["tokens", "--json"],
            &["rename", "default@ghcr.io", "x"],
            &["delete", "default@ghcr.io"],
            &["deactivate", "default@ghcr.io"],
        ] {
            let output = env.run(args, "");
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?} on {what}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?} on {what}: {err}");
            assert!(err.contains(&file), "{args:?} on {what}: {err}");
        }
        let out = env.run(&["add", "quay.io", "--username", "q"], "quay-secret\n");
        assert_eq!(out.status.code(), Some(1), "add on {what}");
        assert_eq!(
            &std::fs::read(&path).unwrap(),
            bytes,
            "nothing overwrote the index {what}"
        );
        assert!(!keyring.holds("while-damaged") && !keyring.holds("quay-secret"));
    }
    std::fs::write(&path, &good).unwrap();
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
    // doctor --repair sets each damaged index aside and rebuilds it from the Secret Service.
    let mut env = env;
    make_healthy(&mut env);
    for (what, bytes) in &damaged {
        std::fs::write(&path, bytes).unwrap();
        let repair = env.run(&["doctor", "--repair"], "");
        if what == "newer format" {
            assert_eq!(repair.status.code(), Some(1), "{what}: not rebuilt over");
            assert_eq!(&std::fs::read(&path).unwrap(), bytes);
            continue;
        }
        let after = env.run(&["doctor"], "");
        assert_eq!(
            after.status.code(),
            Some(0),
            "{what}: green after repair: {}\nthen: {}",
            stdout(&repair),
            stdout(&after)
        );
        assert_eq!(
            ok(&env.get("ghcr.io")),
            get_reply("ghcr.io", "octo", "kept-secret"),
            "{what}"
        );
        assert_eq!(
            ok(&env.get("docker.io")),
            get_reply("docker.io", "alice", PAT),
            "{what}"
        );
    }
}

#[test]
fn damaged_config_is_a_clear_error_naming_the_file_and_line() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    let index = env.index_bytes();
    let config = env.pat_home().join("config.toml");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", (0..=255u8).cycle().take(3000).collect()),
        ("not UTF-8", b"stale_after_days = 3\n\xff\xfe\n".to_vec()),
        (
            "truncated string",
            b"stale_after_days = 3\nbackend = \"keych".to_vec(),
        ),
        ("truncated table", b"[two_factor\n".to_vec()),
        ("wrong type", b"require_tokens = \"yes\"\n".to_vec()),
        ("unknown key", b"requiretokens = true\n".to_vec()),
        ("out of range", b"keychain_timeout_seconds = 0\n".to_vec()),
        ("negative", b"stale_after_days = -1\n".to_vec()),
        (
            "bad registry key",
            b"[two_factor]\n\"user@ghcr.io\" = [\"a\"]\n".to_vec(),
        ),
        ("NULs", vec![0u8; 64]),
    ];
    for (what, bytes) in &cases {
        std::fs::write(&config, bytes).unwrap();
        for (args, input) in [
            (&["get"][..], "ghcr.io".to_owned()),
            (&["list"], String::new()),
            (&["erase"], "ghcr.io".to_owned()),
            (&["store"], request("ghcr.io", "octo", "while-damaged")),
        ] {
            let output = env.run(args, &input);
            assert_clear_error(
                &output,
                &format!("{args:?} with a config {what}"),
                &["config.toml"],
            );
            assert!(
                stdout(&output).contains("line") || stdout(&output).contains("cannot read"),
                "{what}: names the line: {}",
                stdout(&output)
            );
        }
        for args in [
            &["tokens"][..],
            &["2fa", "enable", "--username", "alice"],
            &["2fa", "status"],
        ] {
            let output = env.run(args, "");
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?} with {what}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?} with {what}: {err}");
            assert!(err.contains("config.toml"), "{args:?} with {what}: {err}");
        }
        assert_eq!(&std::fs::read(&config).unwrap(), bytes, "config left alone");
    }
    assert_eq!(env.index_bytes(), index);
    std::fs::remove_file(&config).unwrap();
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
}

#[test]
fn damaged_usage_records_never_fail_a_get() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    ok(&env.get("ghcr.io"));
    for (file, bytes) in [
        (
            "usage.log",
            (0..=255u8).cycle().take(3000).collect::<Vec<u8>>(),
        ),
        ("usage.json", b"{\"tokens\":[".to_vec()),
        ("usage.log", b"#abc\nnot\ta\tline\n\n\t\t\n".to_vec()),
    ] {
        std::fs::write(env.pat_home().join(file), bytes).unwrap();
        assert_eq!(
            ok(&env.get("ghcr.io")),
            get_reply("ghcr.io", "octo", "kept-secret"),
            "{file}"
        );
        ok(&env.run(&["tokens"], ""));
    }
}

#[test]
fn damage_in_another_record_leaves_intact_ones_working_and_its_own_writers_refuse() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    ok(&env.store("docker.io", "alice", PAT));
    let path = env.index_file_of("docker.io");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    assert_ne!(path, env.index_file_of("ghcr.io"));
    let text = std::fs::read_to_string(&path).unwrap();
    // A field of docker.io's record that `get` of ghcr.io and `list` never read.
    let damaged = text.replacen("\"created_at\":\"", "\"created_at\":\"not a time", 1);
    assert_ne!(damaged, text);
    std::fs::write(&path, &damaged).unwrap();
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
    ok(&env.run(&["list"], ""));
    assert_clear_error(&env.get("docker.io"), "get of the damaged record", &[&file]);
    assert_clear_error(
        &env.store("docker.io", "alice", PAT2),
        "store into the damaged record",
        &[&file],
    );
    // ghcr.io's record lives in another file, which is intact.
    ok(&env.store("ghcr.io", "octo", "new"));
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", "new"));
    let tokens = env.run(&["tokens"], "");
    assert!(stderr(&tokens).contains(&file) && tokens.status.code() == Some(1));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
}

#[test]
fn damaged_index_marker_is_a_clear_error_and_repair_keeps_every_name() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    make_healthy(&mut env);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    ok(&env.run(&["rename", "default@ghcr.io", "ci"], ""));
    ok(&env.run(&["default", "ci@ghcr.io"], ""));
    let marker = env.pat_home().join("index.json");
    std::fs::write(&marker, b"{\"vers").unwrap();
    assert_clear_error(&env.get("ghcr.io"), "get", &["index.json"]);
    assert_clear_error(
        &env.store("ghcr.io", "octo", "new"),
        "store",
        &["index.json"],
    );
    ok(&env.run(&["doctor", "--repair"], ""));
    assert_eq!(env.run(&["doctor"], "").status.code(), Some(0));
    let tokens = ok(&env.run(&["tokens", "--json"], ""));
    assert!(tokens.contains("\"ci@ghcr.io\""), "{tokens}");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "kept-secret")
    );
}

#[test]
fn a_locked_keyring_whose_prompt_cannot_be_shown_is_a_clear_error_at_once() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "kept-secret"));
    let index = std::fs::read(env.pat_home().join("index.json")).unwrap();
    // Locked, GNOME Keyring asks for its password through a prompt, and there is
    // no prompter on this bus: the prompt completes as dismissed.
    let locked = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.address)
        .status()
        .unwrap();
    assert!(locked.success());
    let started = std::time::Instant::now();
    let get = env.get("ghcr.io");
    let store = env.store("quay.io", "q", "new-secret");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once, not at the deadline"
    );
    let answer = ["keyring is locked", "unlock"];
    assert_clear_error(&get, "get", &answer);
    assert_clear_error(&store, "store", &answer);
    assert_eq!(
        std::fs::read(env.pat_home().join("index.json")).unwrap(),
        index,
        "the index is unchanged"
    );
}
