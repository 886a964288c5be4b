//! Small, short-lived values kept by the kernel and never on disk: the derived
//! vault key, the Docker Hub session, the note that an expired token was
//! already mentioned today.
//!
//! On Linux each value is a key in the kernel's *user* keyring, found by its
//! description. The session keyring is no good here: processes started by
//! cron, `docker exec`, CI runners or `su` have a different one, or a stale
//! one, and cannot see (or get EACCES on) what an earlier session stored. The
//! user keyring is the same for every process of the uid, so keys are given
//! user permissions to be read without being "possessed". Every key has a
//! timeout and the kernel drops it when that passes. Elsewhere nothing is
//! kept: [`available`] says so and [`load`] finds nothing.

use zeroize::Zeroizing;

/// The largest value kept; a Docker Hub session token is well under this.
pub(crate) const MAX_PAYLOAD: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[error("the kernel keyring refused to {action} ({cause})")]
pub(crate) struct KeyringError {
    action: &'static str,
    cause: String,
}

/// 128 bits of BLAKE2b as hex: a short, fixed-length part of a description,
/// free of odd characters, that tells apart paths, URLs and salts.
pub(crate) fn short_hash(bytes: &[u8]) -> String {
    use blake2::{Blake2b256, Digest};
    Blake2b256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when this system has a kernel keyring to keep values in.
pub(crate) fn available() -> bool {
    platform::available()
}

/// Keeps `payload` under `description` for `seconds`, replacing any earlier value.
pub(crate) fn store(description: &str, payload: &[u8], seconds: u32) -> Result<(), KeyringError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(KeyringError {
            action: "keep a value this large",
            cause: format!("{} bytes, at most {MAX_PAYLOAD}", payload.len()),
        });
    }
    platform::store(description, payload, seconds)
}

/// The value under `description`, if there is one and it has not expired.
pub(crate) fn load(description: &str) -> Option<Zeroizing<Vec<u8>>> {
    platform::load(description)
}

/// Drops the value under `description`; `false` when there was none.
pub(crate) fn forget(description: &str) -> Result<bool, KeyringError> {
    platform::forget(description)
}

#[cfg(target_os = "linux")]
mod platform {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};
    use zeroize::Zeroizing;

    use super::{KeyringError, MAX_PAYLOAD};

    fn user_keyring(create: bool) -> Result<KeyRing, KeyError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, create)
    }

    fn error(action: &'static str) -> impl Fn(KeyError) -> KeyringError {
        move |e| KeyringError {
            action,
            cause: format!("{e:?}"),
        }
    }

    pub fn available() -> bool {
        user_keyring(true).is_ok()
    }

    pub fn load(description: &str) -> Option<Zeroizing<Vec<u8>>> {
        let key = user_keyring(false).ok()?.search(description).ok()?;
        // One byte spare: the kernel reports the whole length even when it copies less.
        let mut buffer = Zeroizing::new(vec![0u8; MAX_PAYLOAD + 1]);
        let len = key.read(&mut *buffer).ok()?;
        if len > MAX_PAYLOAD {
            return None;
        }
        buffer.truncate(len);
        Some(buffer)
    }

    pub fn store(description: &str, payload: &[u8], seconds: u32) -> Result<(), KeyringError> {
        let user = user_keyring(true).map_err(error("reach the user keyring"))?;
        // Built in this process's own keyring, where it is ours to configure,
        // and linked into the user keyring only once it has its timeout: a
        // crash midway cannot leave a key that never expires.
        let staging = KeyRing::from_special_id(KeyRingIdentifier::Process, true)
            .map_err(error("stage a key"))?;
        let key = staging
            .add_key(description, payload)
            .map_err(error("add a key"))?;
        let result = (|| {
            let perms = KeyPermissionsBuilder::builder()
                .posessor(Permission::ALL)
                .user(Permission::ALL)
                .build();
            key.set_perms(perms)
                .map_err(error("set permissions on a key"))?;
            key.set_timeout(seconds as usize)
                .map_err(error("set a timeout on a key"))?;
            user.link_key(key).map_err(error("link a key"))
        })();
        if result.is_err() {
            let _ = key.revoke();
        }
        let _ = staging.unlink_key(key);
        result
    }

    pub fn forget(description: &str) -> Result<bool, KeyringError> {
        let Ok(user) = user_keyring(false) else {
            return Ok(false);
        };
        match user.search(description) {
            Ok(key) => {
                key.revoke().map_err(error("revoke a key"))?;
                let _ = user.unlink_key(key);
                Ok(true)
            }
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                Ok(false)
            }
            Err(e) => Err(error("look up a key")(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use zeroize::Zeroizing;

    use super::KeyringError;

    pub fn available() -> bool {
        false
    }

    pub fn load(_description: &str) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    pub fn store(_description: &str, _payload: &[u8], _seconds: u32) -> Result<(), KeyringError> {
        Ok(())
    }

    pub fn forget(_description: &str) -> Result<bool, KeyringError> {
        Ok(false)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_by_its_description_until_forgotten() {
        let description = format!("docker-credential-pat:test:{}", crate::ids::new_id());
        assert!(available(), "the kernel keyring is not reachable");
        assert!(load(&description).is_none());
        store(&description, b"first", 60).unwrap();
        store(&description, b"second, longer", 60).unwrap();
        assert_eq!(&load(&description).unwrap()[..], b"second, longer");
        assert!(forget(&description).unwrap());
        assert!(load(&description).is_none());
        assert!(!forget(&description).unwrap());
    }

    #[test]
    fn values_expire_and_oversized_ones_are_refused() {
        let description = format!("docker-credential-pat:test:{}", crate::ids::new_id());
        store(&description, &[7u8; MAX_PAYLOAD], 1).unwrap();
        assert_eq!(load(&description).unwrap().len(), MAX_PAYLOAD);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(load(&description).is_none());
        assert!(store(&description, &[0u8; MAX_PAYLOAD + 1], 1).is_err());
    }
}
