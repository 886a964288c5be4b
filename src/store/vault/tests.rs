//! The vault store's unit tests, against real files in a temporary folder.

use super::*;

use crate::store::vault::kdf::TINY;

fn meta(registry: &str) -> ItemMeta {
    ItemMeta {
        registry: registry.into(),
        account: "alice".into(),
        token_id: "t1".into(),
    }
}

fn pass_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn store(dir: &Path, passphrase_file: &Path) -> VaultStore {
    VaultStore::new(
        dir.join("vault"),
        PassphraseSources {
            file: Some(passphrase_file.to_owned()),
            ..PassphraseSources::default()
        },
        0,
        TINY,
    )
}

/// A vault in a new folder holding one item, `a` (`s1` for docker.io), under
/// `passphrase`; and the file holding that passphrase.
fn vault_with_a(passphrase: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = pass_file(dir.path(), "pass", passphrase);
    store(dir.path(), &file)
        .put("a", &meta("docker.io"), &secret("s1"))
        .unwrap();
    (dir, file)
}

fn secret(text: &str) -> Secret {
    Secret::from_str_copy(text)
}

#[test]
fn put_get_delete_items_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let pass = pass_file(dir.path(), "pass", "correct horse\n");
    let vault = store(dir.path(), &pass);
    assert!(vault.get("a").unwrap().is_none(), "no vault yet: not found");
    assert!(!vault.delete("a").unwrap());
    vault.put("a", &meta("docker.io"), &secret("s1")).unwrap();
    vault.put("b", &meta("ghcr.io"), &secret("s2")).unwrap();
    let again = store(dir.path(), &pass);
    assert_eq!(again.get("a").unwrap().unwrap().expose(), "s1");
    let items = again.items().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].meta.as_ref().unwrap().registry, "ghcr.io");
    assert!(again.delete("a").unwrap());
    assert!(!again.delete("a").unwrap());
    assert!(again.get("a").unwrap().is_none());
}

#[test]
fn wrong_passphrase_is_reported_and_the_file_is_untouched() {
    let (dir, _) = vault_with_a("right");
    let before = std::fs::read(dir.path().join("vault")).unwrap();
    let bad = pass_file(dir.path(), "bad", "wrong");
    let vault = store(dir.path(), &bad);
    let err = vault.put("b", &meta("x.io"), &secret("s2")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "wrong passphrase for vault {}",
            dir.path().join("vault").display()
        )
    );
    assert!(matches!(
        vault.get("a"),
        Err(StoreError::WrongPassphrase(_))
    ));
    assert_eq!(std::fs::read(dir.path().join("vault")).unwrap(), before);
}

#[test]
fn damaged_vault_is_corrupt_and_never_rewritten() {
    let (dir, pass) = vault_with_a("pw");
    let path = dir.path().join("vault");
    let good = std::fs::read(&path).unwrap();
    for i in [0, 12, 30, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let vault = store(dir.path(), &pass);
        let err = vault.put("b", &meta("x.io"), &secret("s2")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "byte {i}: {err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), bad, "byte {i}");
    }
}

#[test]
fn no_passphrase_and_no_cache_is_a_clear_error() {
    let (dir, _) = vault_with_a("pw");
    let vault = VaultStore::new(
        dir.path().join("vault"),
        PassphraseSources::default(),
        0,
        TINY,
    );
    assert!(matches!(vault.get("a"), Err(StoreError::NoPassphrase(_))));
}

#[test]
fn without_a_passphrase_source_put_does_not_create_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultStore::new(
        dir.path().join("vault"),
        PassphraseSources::default(),
        0,
        TINY,
    );
    let err = vault
        .put("a", &meta("docker.io"), &secret("s"))
        .unwrap_err();
    assert!(err.to_string().contains("vault init"), "{err}");
    assert!(!dir.path().join("vault").exists());
}

#[test]
fn passwd_rekeys_and_the_old_passphrase_stops_working() {
    let (dir, old) = vault_with_a("old pw");
    let before = parse_header_of(dir.path());
    store(dir.path(), &old)
        .passwd(|| Ok(Passphrase::from_secret(&secret("new pw"))))
        .unwrap();
    let after = parse_header_of(dir.path());
    assert_ne!(before.salt, after.salt);
    assert!(matches!(
        store(dir.path(), &old).get("a"),
        Err(StoreError::WrongPassphrase(_))
    ));
    let new = pass_file(dir.path(), "new", "new pw");
    assert_eq!(
        store(dir.path(), &new).get("a").unwrap().unwrap().expose(),
        "s1"
    );
}

fn parse_header_of(dir: &Path) -> Header {
    format::parse_header(&std::fs::read(dir.join("vault")).unwrap()).unwrap()
}

#[test]
fn vault_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let pass = pass_file(dir.path(), "pass", "pw");
    store(dir.path(), &pass)
        .put("a", &meta("docker.io"), &secret("s1"))
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path().join("vault")), 0o600);
        assert_eq!(mode(dir.path().join("vault.d")), 0o700);
        assert_eq!(mode(dir.path().join("vault.d").join("a")), 0o600);
    }
}

#[test]
fn a_first_format_vault_is_read_and_rewritten_whole_on_the_first_change() {
    let dir = tempfile::tempdir().unwrap();
    let pass = pass_file(dir.path(), "pass", "pw");
    let vault = store(dir.path(), &pass);
    let (header, key) = vault
        .new_header(&Passphrase::from_secret(&secret("pw")))
        .unwrap();
    let mut contents = Contents::default();
    for (item, value) in [("a", "s1"), ("b", "s2")] {
        contents.items.insert(
            item.into(),
            Entry {
                meta: meta("docker.io"),
                secret: secret(value),
            },
        );
    }
    let v1 = Header {
        version: format::SINGLE_FILE_VERSION,
        ..header
    };
    std::fs::write(
        dir.path().join("vault"),
        format::seal(&v1, &key, &contents).unwrap(),
    )
    .unwrap();
    // Left by an interrupted earlier conversion: not in force, and cleared.
    std::fs::create_dir(dir.path().join("vault.d")).unwrap();
    std::fs::write(dir.path().join("vault.d").join("stale"), b"x").unwrap();
    assert_eq!(vault.get("b").unwrap().unwrap().expose(), "s2");
    assert_eq!(vault.items().unwrap().len(), 2);
    vault.put("c", &meta("ghcr.io"), &secret("s3")).unwrap();
    let header = parse_header_of(dir.path());
    assert_eq!(header.version, format::FORMAT_VERSION);
    assert_eq!(header.salt, v1.salt, "the same passphrase key");
    let again = store(dir.path(), &pass);
    for (item, value) in [("a", "s1"), ("b", "s2"), ("c", "s3")] {
        assert_eq!(again.get(item).unwrap().unwrap().expose(), value);
    }
    assert_eq!(again.item_names().unwrap(), ["a", "b", "c"]);
}

#[test]
fn passwd_reseals_only_the_data_key() {
    let (dir, old) = vault_with_a("old pw");
    let item = std::fs::read(dir.path().join("vault.d").join("a")).unwrap();
    store(dir.path(), &old)
        .passwd(|| Ok(Passphrase::from_secret(&secret("new pw"))))
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("vault.d").join("a")).unwrap(),
        item,
        "items are not rewritten"
    );
}

#[test]
fn item_files_are_bound_to_their_names_and_names_stay_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let pass = pass_file(dir.path(), "pass", "pw");
    let vault = store(dir.path(), &pass);
    vault.put("a", &meta("docker.io"), &secret("s1")).unwrap();
    vault.put("b", &meta("docker.io"), &secret("s2")).unwrap();
    let items = dir.path().join("vault.d");
    std::fs::copy(items.join("a"), items.join("b")).unwrap();
    assert!(matches!(vault.get("b"), Err(StoreError::Corrupt { .. })));
    for name in ["../vault", "a/b", "", ".", "a.b"] {
        assert!(vault.get(name).is_err(), "{name:?}");
        assert!(
            vault.put(name, &meta("x"), &secret("s")).is_err(),
            "{name:?}"
        );
    }
    let listed = vault.items().unwrap();
    assert!(listed.iter().any(|i| i.item == "b" && i.meta.is_none()));
}
