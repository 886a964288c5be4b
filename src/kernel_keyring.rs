//! Short-lived values kept in the kernel's keyring, never on disk: the
//! derived vault key, the client token an OpenBao login returns, the Docker
//! Hub session, and the note that an expired token was mentioned today.
//!
//! Entries go into the *user* keyring, looked up by its special id. The
//! session keyring is no good here: processes started by cron, `docker exec`,
//! CI runners or `su` have a different one, or a stale one, and cannot see (or
//! get EACCES on) what an earlier session stored. The user keyring is the same
//! for every process of the uid, so entries get user permissions to be read
//! without being "possessed". Every entry has a timeout, set before it becomes
//! visible, and the kernel drops it when that passes. Elsewhere than Linux
//! there is no such keyring: [`available`] says so, nothing is kept and
//! callers start afresh each time.

use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[error("the kernel keyring refused to {action} the {what} ({cause})")]
pub(crate) struct KeyringError {
    action: &'static str,
    what: &'static str,
    cause: String,
}

/// One named entry of the user keyring.
pub(crate) struct Entry<'a> {
    description: &'a str,
    /// What the entry holds, for error messages ("vault key", "Docker Hub session").
    what: &'static str,
}

impl<'a> Entry<'a> {
    pub(crate) fn new(description: &'a str, what: &'static str) -> Self {
        Self { description, what }
    }

    /// The payload, if the entry exists, has not expired and is at most `max_len` bytes.
    pub(crate) fn load(&self, max_len: usize) -> Option<Zeroizing<Vec<u8>>> {
        platform::load(self.description, max_len)
    }

    /// Stores `payload` for `seconds`, replacing any earlier entry.
    pub(crate) fn store(&self, payload: &[u8], seconds: u32) -> Result<(), KeyringError> {
        platform::store(self.description, payload, seconds).map_err(|(action, cause)| {
            KeyringError {
                action,
                what: self.what,
                cause,
            }
        })
    }

    /// Drops the entry; `false` when there was none.
    pub(crate) fn forget(&self) -> Result<bool, KeyringError> {
        platform::forget(self.description).map_err(|(action, cause)| KeyringError {
            action,
            what: self.what,
            cause,
        })
    }
}

/// 128 bits of BLAKE2b as hex, for entry descriptions: short, fixed-length and
/// free of odd characters, whatever they are derived from.
pub(crate) fn short_hash(bytes: &[u8]) -> String {
    use blake2::{Blake2b256, Digest};
    Blake2b256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when this system has a kernel keyring to cache in.
pub(crate) fn available() -> bool {
    platform::available()
}

#[cfg(target_os = "linux")]
mod platform {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};
    use zeroize::Zeroizing;

    type Failure = (&'static str, String);

    fn user_keyring(create: bool) -> Result<KeyRing, KeyError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, create)
    }

    fn failed(action: &'static str) -> impl Fn(KeyError) -> Failure {
        move |e| (action, format!("{e:?}"))
    }

    pub(super) fn available() -> bool {
        user_keyring(true).is_ok()
    }

    /// The buffer of a first read; a longer payload is read again at its length.
    const FIRST_READ: usize = 256;

    pub(super) fn load(description: &str, max_len: usize) -> Option<Zeroizing<Vec<u8>>> {
        let key = user_keyring(false).ok()?.search(description).ok()?;
        // A small buffer first: the kernel says how long the payload is, and
        // most are far shorter than the longest allowed (a `get` pays for
        // every byte of a buffer it clears and wipes).
        let mut size = max_len.min(FIRST_READ);
        loop {
            let mut buffer = Zeroizing::new(vec![0u8; size]);
            let len = key.read(&mut *buffer).ok()?;
            if len > max_len {
                return None;
            }
            if len <= size {
                buffer.truncate(len);
                return Some(buffer);
            }
            // Longer than the first buffer: read again at its length (it may have changed).
            size = len;
        }
    }

    pub(super) fn store(description: &str, payload: &[u8], seconds: u32) -> Result<(), Failure> {
        let user = user_keyring(true).map_err(failed("reach the user keyring for"))?;
        // Built in this process's own keyring, where it is ours to configure,
        // and linked into the user keyring only once it has its timeout: a
        // crash midway cannot leave an entry that never expires.
        let staging =
            KeyRing::from_special_id(KeyRingIdentifier::Process, true).map_err(failed("stage"))?;
        let key = staging
            .add_key(description, payload)
            .map_err(failed("add"))?;
        let result = (|| {
            let perms = KeyPermissionsBuilder::builder()
                .posessor(Permission::ALL)
                .user(Permission::ALL)
                .build();
            key.set_perms(perms).map_err(failed("set permissions on"))?;
            key.set_timeout(seconds as usize)
                .map_err(failed("set a timeout on"))?;
            user.link_key(key).map_err(failed("link"))
        })();
        if result.is_err() {
            let _ = key.revoke();
        }
        let _ = staging.unlink_key(key);
        result
    }

    pub(super) fn forget(description: &str) -> Result<bool, Failure> {
        let Ok(user) = user_keyring(false) else {
            return Ok(false);
        };
        match user.search(description) {
            Ok(key) => {
                key.revoke().map_err(failed("revoke"))?;
                let _ = user.unlink_key(key);
                Ok(true)
            }
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                Ok(false)
            }
            Err(e) => Err(failed("look up")(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use zeroize::Zeroizing;

    type Failure = (&'static str, String);

    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn load(_description: &str, _max_len: usize) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    pub(super) fn store(_description: &str, _payload: &[u8], _seconds: u32) -> Result<(), Failure> {
        Ok(())
    }

    pub(super) fn forget(_description: &str) -> Result<bool, Failure> {
        Ok(false)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_read_back_until_forgotten_and_longer_payloads_are_refused() {
        let description = format!("docker-credential-pat:test:{}", crate::ids::random_hex(8));
        let entry = Entry::new(&description, "test entry");
        assert!(
            available(),
            "the kernel keyring is not reachable (keyctl blocked?)"
        );
        entry.store(b"s.client-token", 60).unwrap();
        assert_eq!(&entry.load(64).unwrap()[..], b"s.client-token");
        assert!(entry.load(4).is_none(), "longer than the caller allows");
        assert!(entry.forget().unwrap());
        assert!(entry.load(64).is_none());
        assert!(!entry.forget().unwrap());
    }

    #[test]
    fn a_payload_longer_than_the_first_read_comes_back_whole() {
        let description = format!("docker-credential-pat:test:{}", crate::ids::random_hex(8));
        let entry = Entry::new(&description, "test entry");
        let long: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        entry.store(&long, 60).unwrap();
        assert_eq!(&entry.load(16 * 1024).unwrap()[..], &long[..]);
        assert_eq!(&entry.load(3000).unwrap()[..], &long[..]);
        assert!(entry.load(2999).is_none(), "longer than the caller allows");
        assert!(entry.load(100).is_none());
        entry.forget().unwrap();
    }

    #[test]
    fn an_entry_expires_after_its_timeout_and_a_new_store_replaces_it() {
        let description = format!("docker-credential-pat:test:{}", crate::ids::random_hex(8));
        let entry = Entry::new(&description, "test entry");
        entry.store(b"first", 60).unwrap();
        entry.store(b"second, longer", 1).unwrap();
        assert_eq!(&entry.load(64).unwrap()[..], b"second, longer");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(entry.load(64).is_none());
    }
}
