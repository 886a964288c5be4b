//! What the helper trusts, and what it refuses: a vault header tampered to
//! demand huge key derivations, folders open to others or owned by someone
//! else, symbolic links planted in place of its files, and a run that would
//! otherwise never end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

const PASSPHRASE: &str = "trust passphrase";

/// The file backend with tiny Argon2 parameters and no key cache, so every
/// `get` derives the key from the header's parameters.
fn vault_env() -> Env {
    let mut env = Env::without_keychain();
    let file = env.root.path().join("passphrase");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
    env.set("DOCKER_PAT_BACKEND", "file");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", file.to_str().unwrap());
    env.write_config_toml(
        "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\nvault_cache_seconds = 0\n",
    );
    ok(&env.run(&["vault", "init"], ""));
    ok(&env.store("ghcr.io", "octo", PAT));
    env
}

/// Rewrites the vault header's Argon2 memory and passes, with a matching
/// header checksum: what anyone who can write the file can do.
fn raise_kdf(vault: &Path, memory_kib: u32, iterations: u32) {
    use blake2::Digest;
    let mut bytes = std::fs::read(vault).unwrap();
    bytes[11..15].copy_from_slice(&memory_kib.to_le_bytes());
    bytes[15..19].copy_from_slice(&iterations.to_le_bytes());
    // Version 2 seals the data key in the header, before the checksum.
    let wrapped = if bytes[8..10] == 2u16.to_le_bytes() {
        48
    } else {
        0
    };
    let digested = 80 + usize::from(bytes[23]) + wrapped;
    let digest = blake2::Blake2b::<blake2::digest::consts::U32>::digest(&bytes[..digested]);
    bytes[digested..digested + 32].copy_from_slice(&digest);
    std::fs::write(vault, bytes).unwrap();
}

#[test]
fn a_vault_header_raised_to_costly_key_derivation_is_refused_at_once() {
    let env = vault_env();
    let vault = env.pat_home().join("vault");
    let intact = std::fs::read(&vault).unwrap();
    // Beyond any vault's bounds; then within them but above this machine's settings.
    for (memory_kib, iterations, says) in [
        (2 * 1024 * 1024, 64, "more work than the limit"),
        (2 * 1024 * 1024, 1, "tampered with"),
        (1024 * 1024, 2, "vault_kdf_allow_higher"),
    ] {
        std::fs::write(&vault, &intact).unwrap();
        raise_kdf(&vault, memory_kib, iterations);
        let started = Instant::now();
        let out = fails(&env.get("ghcr.io"));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "m={memory_kib} t={iterations}: refused in {took:?}, before deriving anything"
        );
        assert!(out.contains(says), "m={memory_kib} t={iterations}: {out}");
        assert_eq!(out.lines().count(), 1, "{out}");
    }
    // Within the hard bounds, a person may allow more than the settings.
    std::fs::write(&vault, &intact).unwrap();
    raise_kdf(&vault, 32 * 1024, 2);
    assert!(fails(&env.get("ghcr.io")).contains("vault_kdf_allow_higher"));
    let mut allowed = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    allowed.push_str("vault_kdf_allow_higher = true\n");
    env.write_config_toml(&allowed);
    let out = fails(&env.get("ghcr.io"));
    assert!(
        out.contains("wrong passphrase"),
        "allowed, the key is derived (and, the header being changed, does not match): {out}"
    );
    std::fs::write(&vault, &intact).unwrap();
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT));
}

#[test]
fn a_protocol_verb_gives_up_when_its_time_budget_is_spent() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("protocol_timeout_seconds = 1\n");
    ok(&env.store("ghcr.io", "octo", PAT));
    // Another writer holds the data lock and never lets go.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.pat_home().join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let started = Instant::now();
    let out = fails(&env.store("ghcr.io", "octo", PAT2));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "gave up after about a second, not after the 60 s lock wait ({took:?})"
    );
    assert!(out.contains("gave up after 1 s"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    drop(lock);
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT));
}

#[test]
fn a_data_folder_open_to_others_is_closed_on_first_use() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    set_mode(&env.pat_home(), 0o777);
    let store = env.store("ghcr.io", "octo", PAT);
    ok(&store);
    assert_eq!(mode_of(&env.pat_home()), 0o700);
    assert!(
        stderr(&store).contains("open to other users"),
        "{}",
        stderr(&store)
    );
    // Reads check too: a `get` is the first run on most CI machines.
    set_mode(&env.pat_home(), 0o775);
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT));
    assert_eq!(mode_of(&env.pat_home()), 0o700);
}

#[test]
fn a_data_folder_of_another_user_is_refused() {
    if effective_uid() != 0 {
        return cannot_run("only root can give a folder to another user");
    }
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", PAT));
    chown(&env.pat_home(), 65534);
    for output in [env.get("ghcr.io"), env.store("ghcr.io", "octo", PAT2)] {
        let out = fails(&output);
        assert!(out.contains("belongs to another user (uid 65534)"), "{out}");
    }
    chown(&env.pat_home(), 0);
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT));
}

fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), None).unwrap();
}

/// A file outside the data folder that a planted link points at.
fn bystander(env: &Env) -> (PathBuf, &'static [u8]) {
    const CONTENT: &[u8] = b"someone else's file\n";
    let path = env.root.path().join("bystander");
    std::fs::write(&path, CONTENT).unwrap();
    (path, CONTENT)
}

#[test]
fn links_planted_in_place_of_the_helpers_files_are_never_followed() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", PAT));
    let (target, content) = bystander(&env);
    let usage_log = env.pat_home().join("usage.log");
    std::fs::remove_file(&usage_log).ok();
    std::os::unix::fs::symlink(&target, &usage_log).unwrap();
    // `get` still answers; the use is not recorded, and nothing is appended elsewhere.
    let get = env.get("ghcr.io");
    assert_eq!(ok(&get), get_reply("ghcr.io", "octo", PAT));
    assert!(stderr(&get).contains("symbolic link"), "{}", stderr(&get));
    assert_eq!(std::fs::read(&target).unwrap(), content);

    let lock = env.pat_home().join("lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let out = fails(&env.store("ghcr.io", "octo", PAT2));
    assert!(out.contains("is a symbolic link"), "{out}");
    assert_eq!(std::fs::read(&target).unwrap(), content);

    // doctor names both links, and --repair removes them (never what they point at).
    let doctor = env.run(&["doctor"], "");
    let report = stdout(&doctor);
    for link in [&usage_log, &lock] {
        assert!(
            report.contains(&format!("{} is a symbolic link", link.display())),
            "{report}"
        );
    }
    env.run(&["doctor", "--repair"], "");
    assert!(!usage_log.is_symlink() && !lock.is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), content);
    ok(&env.store("ghcr.io", "octo", PAT2));
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT2));
}

#[test]
fn a_planted_index_of_another_user_is_refused() {
    if effective_uid() != 0 {
        return cannot_run("only root can give a file to another user");
    }
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", PAT));
    chown(&env.pat_home().join("index.json"), 65534);
    let out = fails(&env.get("ghcr.io"));
    assert!(out.contains("index.json belongs to another user"), "{out}");
    // The registry's own bucket file, which `get` reads beside it.
    chown(&env.pat_home().join("index.json"), effective_uid());
    assert_eq!(ok(&env.get("ghcr.io")), get_reply("ghcr.io", "octo", PAT));
    let bucket = env.index_file_of("ghcr.io");
    chown(&bucket, 65534);
    let out = fails(&env.get("ghcr.io"));
    assert!(
        out.contains(&format!("{} belongs to another user", bucket.display())),
        "{out}"
    );
    assert!(fails(&env.run(&["list"], "")).contains("belongs to another user"));
}

#[test]
fn a_link_planted_in_place_of_an_index_bucket_is_refused() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", PAT));
    let bucket = env.index_file_of("ghcr.io");
    let (target, _) = bystander(&env);
    std::fs::copy(&bucket, &target).unwrap();
    let content = std::fs::read(&target).unwrap();
    std::fs::remove_file(&bucket).unwrap();
    std::os::unix::fs::symlink(&target, &bucket).unwrap();
    let out = fails(&env.get("ghcr.io"));
    assert!(out.contains("is a symbolic link"), "{out}");
    assert!(fails(&env.store("ghcr.io", "octo", PAT2)).contains("is a symbolic link"));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        content,
        "nothing written through it"
    );
    assert!(
        bucket.is_symlink(),
        "the link is left for a person to look at"
    );
}
