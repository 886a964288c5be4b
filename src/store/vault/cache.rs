//! Remembering the derived vault key for a while, so Argon2 runs once per
//! unlock and not on every `docker pull`.
//!
//! The key sits in the kernel keyring ([`crate::kernel_keyring`]) and expires
//! after `vault_cache_seconds`. Its description is derived from the vault's
//! path and salt, so another vault or a changed passphrase never finds a
//! stale key. Only the key is cached, never the passphrase. Elsewhere than
//! Linux the cache does nothing and every use derives the key afresh.

use std::path::Path;

use super::kdf::{CHECK_LEN, KEY_LEN, VaultKey, split_key_and_check};

/// What the cache holds for a vault: the key and the check value it produced.
pub struct CachedKey {
    pub key: VaultKey,
    pub check: [u8; CHECK_LEN],
}

pub(crate) use crate::kernel_keyring::KeyringError as CacheError;
use crate::kernel_keyring::{Entry, short_hash};

const WHAT: &str = "vault key";

/// The key cache for one vault file.
pub struct KeyCache {
    prefix: String,
}

impl KeyCache {
    pub fn new(vault_path: &Path) -> Self {
        let absolute = std::path::absolute(vault_path).unwrap_or_else(|_| vault_path.to_owned());
        Self {
            prefix: format!(
                "docker-credential-pat:vault:{}",
                short_hash(absolute.as_os_str().as_encoded_bytes())
            ),
        }
    }

    /// The keyring description for the vault's current salt.
    fn description(&self, salt: &[u8]) -> String {
        format!("{}:{}", self.prefix, short_hash(salt))
    }

    /// True when this system has a key cache at all.
    pub fn available(&self) -> bool {
        crate::kernel_keyring::available()
    }

    /// The cached key for `salt`, if there is one and it has not expired.
    pub fn load(&self, salt: &[u8]) -> Option<CachedKey> {
        let description = self.description(salt);
        let payload = Entry::new(&description, WHAT).load(PAYLOAD_LEN)?;
        if payload.len() != PAYLOAD_LEN {
            return None;
        }
        let (key, check) = split_key_and_check(&payload);
        Some(CachedKey { key, check })
    }

    /// Caches `key` for `salt` for `seconds`, replacing any earlier entry.
    pub fn store(
        &self,
        salt: &[u8],
        key: &VaultKey,
        check: &[u8; CHECK_LEN],
        seconds: u32,
    ) -> Result<(), CacheError> {
        let mut payload = zeroize::Zeroizing::new([0u8; PAYLOAD_LEN]);
        payload[..KEY_LEN].copy_from_slice(key.expose());
        payload[KEY_LEN..].copy_from_slice(check);
        Entry::new(&self.description(salt), WHAT).store(&payload[..], seconds)
    }

    /// Drops the cached key for `salt`; `false` when none was cached.
    pub fn forget(&self, salt: &[u8]) -> Result<bool, CacheError> {
        Entry::new(&self.description(salt), WHAT).forget()
    }
}

const PAYLOAD_LEN: usize = KEY_LEN + CHECK_LEN;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn stored_key_is_found_only_under_its_own_salt_and_path_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(&dir.path().join("vault"));
        assert!(
            cache.available(),
            "the kernel keyring is not reachable (keyctl blocked?)"
        );
        let salt = crate::ids::random_hex(16).into_bytes();
        let key = VaultKey::from_bytes(&[9u8; KEY_LEN]);
        cache.store(&salt, &key, &[3u8; CHECK_LEN], 60).unwrap();
        let found = cache.load(&salt).expect("cached");
        assert_eq!(found.key.expose(), key.expose());
        assert_eq!(found.check, [3u8; CHECK_LEN]);
        assert!(cache.load(b"another salt....").is_none());
        let other = KeyCache::new(&dir.path().join("other-vault"));
        assert!(other.load(&salt).is_none());
        assert!(cache.forget(&salt).unwrap());
        assert!(cache.load(&salt).is_none());
        assert!(!cache.forget(&salt).unwrap());
    }

    #[test]
    fn cached_key_expires() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(&dir.path().join("vault"));
        let salt = crate::ids::random_hex(16).into_bytes();
        let key = VaultKey::from_bytes(&[1u8; KEY_LEN]);
        cache.store(&salt, &key, &[0u8; CHECK_LEN], 1).unwrap();
        assert!(cache.load(&salt).is_some());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(cache.load(&salt).is_none());
    }
}
