//! Remembering the derived vault key for a while, so Argon2 runs once per
//! unlock and not on every `docker pull`.
//!
//! On Linux the key sits in the kernel's *user* keyring, looked up by its
//! special id. The session keyring is no good here: processes started by
//! cron, `docker exec`, CI runners or `su` have a different one, or a stale
//! one, and cannot see (or get EACCES on) what an earlier session stored. The
//! user keyring is the same for every process of the uid, so the key is given
//! user permissions to be read without being "possessed". It expires after
//! `vault_cache_seconds`, and its description is derived from the vault's
//! path and salt, so another vault or a changed passphrase never finds a
//! stale key. Only the key is cached, never the passphrase. Elsewhere the
//! cache does nothing and every use derives the key afresh.

use std::path::Path;

use blake2::{Blake2b256, Digest};

use super::kdf::{CHECK_LEN, KEY_LEN, VaultKey};

/// What the cache holds for a vault: the key and the check value it produced.
pub struct CachedKey {
    pub key: VaultKey,
    pub check: [u8; CHECK_LEN],
}

#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[error("the kernel keyring refused to {action} the vault key ({cause})")]
pub struct CacheError {
    action: &'static str,
    cause: String,
}

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
        platform::available()
    }

    /// The cached key for `salt`, if there is one and it has not expired.
    pub fn load(&self, salt: &[u8]) -> Option<CachedKey> {
        let payload = platform::load(&self.description(salt))?;
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&payload[..KEY_LEN]);
        let cached = VaultKey::from_bytes(&key);
        zeroize::Zeroize::zeroize(&mut key);
        let mut check = [0u8; CHECK_LEN];
        check.copy_from_slice(&payload[KEY_LEN..]);
        Some(CachedKey { key: cached, check })
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
        platform::store(&self.description(salt), &payload, seconds)
    }

    /// Drops the cached key for `salt`; `false` when none was cached.
    pub fn forget(&self, salt: &[u8]) -> Result<bool, CacheError> {
        platform::forget(&self.description(salt))
    }
}

const PAYLOAD_LEN: usize = KEY_LEN + CHECK_LEN;

/// 128 bits of BLAKE2b as hex: short, fixed-length and free of odd characters.
fn short_hash(bytes: &[u8]) -> String {
    Blake2b256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(target_os = "linux")]
mod platform {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};
    use zeroize::Zeroizing;

    use super::{CacheError, PAYLOAD_LEN};

    fn user_keyring(create: bool) -> Result<KeyRing, KeyError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, create)
    }

    fn error(action: &'static str) -> impl Fn(KeyError) -> CacheError {
        move |e| CacheError {
            action,
            cause: format!("{e:?}"),
        }
    }

    pub fn available() -> bool {
        user_keyring(true).is_ok()
    }

    pub fn load(description: &str) -> Option<Zeroizing<[u8; PAYLOAD_LEN]>> {
        let key = user_keyring(false).ok()?.search(description).ok()?;
        // One byte spare, to notice a payload that is not ours.
        let mut buffer = Zeroizing::new([0u8; PAYLOAD_LEN + 1]);
        let len = key.read(&mut *buffer).ok()?;
        if len != PAYLOAD_LEN {
            return None;
        }
        let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
        payload.copy_from_slice(&buffer[..PAYLOAD_LEN]);
        Some(payload)
    }

    pub fn store(
        description: &str,
        payload: &[u8; PAYLOAD_LEN],
        seconds: u32,
    ) -> Result<(), CacheError> {
        let user = user_keyring(true).map_err(error("reach the user keyring for"))?;
        // Built in this process's own keyring, where it is ours to configure,
        // and linked into the user keyring only once it has its timeout: a
        // crash midway cannot leave a key that never expires.
        let staging =
            KeyRing::from_special_id(KeyRingIdentifier::Process, true).map_err(error("stage"))?;
        let key = staging
            .add_key(description, &payload[..])
            .map_err(error("add"))?;
        let result = (|| {
            let perms = KeyPermissionsBuilder::builder()
                .posessor(Permission::ALL)
                .user(Permission::ALL)
                .build();
            key.set_perms(perms).map_err(error("set permissions on"))?;
            key.set_timeout(seconds as usize)
                .map_err(error("set a timeout on"))?;
            user.link_key(key).map_err(error("link"))
        })();
        if result.is_err() {
            let _ = key.revoke();
        }
        let _ = staging.unlink_key(key);
        result
    }

    pub fn forget(description: &str) -> Result<bool, CacheError> {
        let Ok(user) = user_keyring(false) else {
            return Ok(false);
        };
        match user.search(description) {
            Ok(key) => {
                key.revoke().map_err(error("revoke"))?;
                let _ = user.unlink_key(key);
                Ok(true)
            }
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                Ok(false)
            }
            Err(e) => Err(error("look up")(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use zeroize::Zeroizing;

    use super::{CacheError, PAYLOAD_LEN};

    pub fn available() -> bool {
        false
    }

    pub fn load(_description: &str) -> Option<Zeroizing<[u8; PAYLOAD_LEN]>> {
        None
    }

    pub fn store(
        _description: &str,
        _payload: &[u8; PAYLOAD_LEN],
        _seconds: u32,
    ) -> Result<(), CacheError> {
        Ok(())
    }

    pub fn forget(_description: &str) -> Result<bool, CacheError> {
        Ok(false)
    }
}

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
