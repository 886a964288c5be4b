//! Short-lived values kept in the kernel's keyring, never on disk: the
//! derived vault key, the client token an OpenBao login returns, the Docker
//! Hub session, and the note that an expired token was mentioned today.
//!
//! Two kinds of entry, one interface ([`Entry`]):
//!
//! - **Shared** ([`Entry::new`]): in the *user* keyring, with user
//!   permissions, readable by every process of the uid. For caches that
//!   processes started by cron, `docker exec`, CI runners or another terminal
//!   must find (the vault key, the OpenBao client token, the expiry note):
//!   their session keyrings differ, or are stale.
//! - **Private** ([`Entry::private`]): in the *session* keyring, with
//!   possessor permissions only (view, read, write, search, setattr; no user
//!   bits), readable only by processes that possess that keyring: the login
//!   session that made it. For management credentials worth more than a
//!   token (the Docker Hub session, a registry's admin session). [`reach`]
//!   says whether the session keyring is a login's own or the user's default
//!   one, which every process of the uid without a session of its own shares.
//!
//! Every entry has a timeout, set before it becomes visible, and the kernel
//! drops it when that passes. Elsewhere than Linux there is no such keyring:
//! [`available`] says so, nothing is kept and callers start afresh each time.

use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[error("the kernel keyring refused to {action} the {what} ({cause})")]
pub(crate) struct KeyringError {
    action: &'static str,
    what: &'static str,
    cause: String,
}

/// Which keyring an entry lives in, and so who can read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    User,
    Session,
}

/// Who can read a private entry kept now, from the session keyring this process has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) enum Reach {
    /// A session keyring of the login's own (pam_keyinit, `keyctl session`):
    /// the processes of this login session, and root.
    ThisSession,
    /// The user's default session keyring (`_uid_ses.UID`), which every
    /// process of the user without a session keyring of its own shares
    /// (cron jobs, logins without pam_keyinit, `docker exec`), and root.
    UserDefault,
    /// No kernel keyring here: nothing is kept.
    Nowhere,
}

/// One named entry of the user keyring (shared) or the session keyring (private).
pub(crate) struct Entry<'a> {
    description: &'a str,
    /// What the entry holds, for error messages ("vault key", "Docker Hub session").
    what: &'static str,
    scope: Scope,
}

impl<'a> Entry<'a> {
    /// An entry of the user keyring, readable by every process of the uid.
    pub(crate) fn new(description: &'a str, what: &'static str) -> Self {
        Self {
            description,
            what,
            scope: Scope::User,
        }
    }

    /// An entry of the session keyring, readable only by its possessors.
    pub(crate) fn private(description: &'a str, what: &'static str) -> Self {
        Self {
            description,
            what,
            scope: Scope::Session,
        }
    }

    /// The payload, if the entry exists, has not expired and is at most `max_len` bytes.
    pub(crate) fn load(&self, max_len: usize) -> Option<Zeroizing<Vec<u8>>> {
        platform::load(self.scope, self.description, max_len)
    }

    /// Stores `payload` for `seconds`, replacing any earlier entry.
    pub(crate) fn store(&self, payload: &[u8], seconds: u32) -> Result<(), KeyringError> {
        platform::store(self.scope, self.description, payload, seconds).map_err(
            |(action, cause)| KeyringError {
                action,
                what: self.what,
                cause,
            },
        )
    }

    /// Drops the entry; `false` when there was none.
    pub(crate) fn forget(&self) -> Result<bool, KeyringError> {
        platform::forget(self.scope, self.description).map_err(|(action, cause)| KeyringError {
            action,
            what: self.what,
            cause,
        })
    }
}

/// Who can read a private entry stored by this process now.
pub(crate) fn reach() -> Reach {
    platform::reach()
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
    use linux_keyutils::{
        Key, KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission,
    };
    use zeroize::Zeroizing;

    use super::{Reach, Scope};

    type Failure = (&'static str, String);

    /// The keyring of `scope`. The session keyring is never created: a new
    /// one would belong to this process alone and die with it. (A process
    /// without one is given the user's default session keyring by the kernel.)
    fn keyring(scope: Scope, create: bool) -> Result<KeyRing, KeyError> {
        match scope {
            Scope::User => KeyRing::from_special_id(KeyRingIdentifier::User, create),
            Scope::Session => KeyRing::from_special_id(KeyRingIdentifier::Session, false),
        }
    }

    fn failed(action: &'static str) -> impl Fn(KeyError) -> Failure {
        move |e| (action, format!("{e:?}"))
    }

    pub(super) fn available() -> bool {
        keyring(Scope::User, true).is_ok()
    }

    pub(super) fn reach() -> Reach {
        match keyring(Scope::Session, false).and_then(|k| k.metadata()) {
            Ok(m) if m.get_description().starts_with("_uid_ses.") => Reach::UserDefault,
            Ok(_) => Reach::ThisSession,
            Err(_) => Reach::Nowhere,
        }
    }

    /// The buffer of a first read; a longer payload is read again at its length.
    const FIRST_READ: usize = 256;

    pub(super) fn load(
        scope: Scope,
        description: &str,
        max_len: usize,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let key = keyring(scope, false).ok()?.search(description).ok()?;
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

    pub(super) fn store(
        scope: Scope,
        description: &str,
        payload: &[u8],
        seconds: u32,
    ) -> Result<(), Failure> {
        let target = keyring(scope, true).map_err(failed("reach the keyring for"))?;
        // Built in this process's own keyring, where it is ours to configure,
        // and linked into its keyring only once it has its timeout: a crash
        // midway cannot leave an entry that never expires.
        let staging =
            KeyRing::from_special_id(KeyRingIdentifier::Process, true).map_err(failed("stage"))?;
        let key = staging
            .add_key(description, payload)
            .map_err(failed("add"))?;
        let result = (|| {
            key.set_timeout(seconds as usize)
                .map_err(failed("set a timeout on"))?;
            match scope {
                Scope::User => {
                    set_perms(key, Permission::ALL, Permission::ALL)?;
                    target.link_key(key).map_err(failed("link"))
                }
                // Linked first (which needs the link bit), then the link bit and
                // every user bit go. Until then the default lets the user view
                // the entry's name, never read it.
                Scope::Session => {
                    target.link_key(key).map_err(failed("link"))?;
                    let possessor = Permission::VIEW
                        | Permission::READ
                        | Permission::WRITE
                        | Permission::SEARCH
                        | Permission::SETATTR;
                    set_perms(key, possessor, Permission::empty())
                }
            }
        })();
        if result.is_err() {
            let _ = key.revoke();
        }
        let _ = staging.unlink_key(key);
        result
    }

    fn set_perms(key: Key, possessor: Permission, user: Permission) -> Result<(), Failure> {
        let perms = KeyPermissionsBuilder::builder()
            .posessor(possessor)
            .user(user)
            .build();
        key.set_perms(perms).map_err(failed("set permissions on"))
    }

    pub(super) fn forget(scope: Scope, description: &str) -> Result<bool, Failure> {
        let Ok(keyring) = keyring(scope, false) else {
            return Ok(false);
        };
        match keyring.search(description) {
            Ok(key) => {
                key.revoke().map_err(failed("revoke"))?;
                let _ = keyring.unlink_key(key);
                Ok(true)
            }
            Err(
                KeyError::KeyDoesNotExist
                | KeyError::KeyExpired
                | KeyError::KeyRevoked
                | KeyError::AccessDenied,
            ) => Ok(false),
            Err(e) => Err(failed("look up")(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use zeroize::Zeroizing;

    use super::{Reach, Scope};

    type Failure = (&'static str, String);

    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn reach() -> Reach {
        Reach::Nowhere
    }

    pub(super) fn load(
        _scope: Scope,
        _description: &str,
        _max_len: usize,
    ) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    pub(super) fn store(
        _scope: Scope,
        _description: &str,
        _payload: &[u8],
        _seconds: u32,
    ) -> Result<(), Failure> {
        Ok(())
    }

    pub(super) fn forget(_scope: Scope, _description: &str) -> Result<bool, Failure> {
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
    fn a_private_entry_is_in_the_session_keyring_for_its_possessors_only() {
        use linux_keyutils::{KeyRing, KeyRingIdentifier};
        let description = format!("docker-credential-pat:test:{}", crate::ids::random_hex(8));
        let entry = Entry::private(&description, "test session");
        entry.store(b"alice\njwt", 60).unwrap();
        assert_eq!(&entry.load(64).unwrap()[..], b"alice\njwt");
        assert!(
            Entry::new(&description, "test").load(64).is_none(),
            "not in the user keyring"
        );
        let key = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .unwrap()
            .search(&description)
            .unwrap();
        // Possessor: view, read, write, search, setattr; nothing for user, group or other.
        assert_eq!(key.metadata().unwrap().get_perms().bits(), 0x2f00_0000);
        assert!(entry.forget().unwrap());
        assert!(entry.load(64).is_none());
        assert_ne!(reach(), Reach::Nowhere);
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
