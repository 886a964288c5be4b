//! The OS credential store, reached through `keyring-core`.
//!
//! Every call runs on a worker thread with a deadline: a keychain waiting on an
//! unlock prompt nobody can see, or a Secret Service daemon that stopped
//! answering, must never hang `docker pull`. On timeout the caller gets an
//! error and the process exits; the stuck thread goes with it.
//!
//! Each OS's part is a small module behind one interface, chosen at build
//! time as `platform`: `linux` (the Secret Service), `macos`, `windows`, and
//! `other` for the rest. Each says what the keychain is called and how to
//! fix it, connects, names an item and lists them; what most of them lack
//! (a hint of where an item is, a length limit, a label written after the
//! secret, an item name of its own) is written once here, in `no_hints`,
//! `no_limits` and `by_name`.

use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use keyring_core::CredentialStore;

use super::{BackendKind, ItemMeta, SecretStore, SessionKind, StoreError, StoredItem};
use crate::secret::Secret;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod other;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
use other as platform;

/// The service name every item is filed under.
pub const SERVICE: &str = "docker-credential-pat";

const KEYCHAIN_NAME: &str = platform::NAME;
const REMEDY: &str = platform::REMEDY;

type Connected = Result<Arc<CredentialStore>, String>;

struct Shared {
    store: OnceLock<Connected>,
    session: SessionKind,
    home: String,
}

impl Shared {
    fn connect(&self) -> Result<Arc<CredentialStore>, StoreError> {
        self.store
            .get_or_init(|| platform::connect(self.session).map_err(|e| describe_unreachable(&e)))
            .clone()
            .map_err(StoreError::Unavailable)
    }
}

/// The OS keychain as a [`SecretStore`].
pub struct KeychainStore {
    shared: Arc<Shared>,
    timeout: Duration,
}

impl KeychainStore {
    /// `home` tags items so several data folders can share one keychain.
    pub fn new(session: SessionKind, home: String, timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: OnceLock::new(),
                session,
                home,
            }),
            timeout,
        }
    }

    /// Runs `op` against the connected store on a worker thread, within the deadline.
    fn call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Arc<CredentialStore>) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = Arc::clone(&self.shared);
        let (sender, receiver) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("keychain".into())
            .spawn(move || {
                let result = shared
                    .connect()
                    .and_then(|store| op(&store).map_err(describe));
                let _ = sender.send(result);
            })
            .map_err(|e| {
                StoreError::Failed(format!(
                    "cannot start a thread for the {KEYCHAIN_NAME}: {e}"
                ))
            })?;
        match receiver.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StoreError::TimedOut {
                what: KEYCHAIN_NAME,
                seconds: self.timeout.as_secs(),
                hint: "set keychain_timeout_seconds in config.toml to wait longer",
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Failed(format!(
                "the {KEYCHAIN_NAME} call stopped unexpectedly"
            ))),
        }
    }
}

impl SecretStore for KeychainStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Keychain
    }

    fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
        self.get_located(item, None)
    }

    fn get_located(&self, item: &str, hint: Option<&str>) -> Result<Option<Secret>, StoreError> {
        let (item, hint) = (item.to_owned(), hint.map(str::to_owned));
        let found = self.call(move |store| {
            let entry = platform::entry(store, &item, None, "")?;
            if let Some(bytes) = hint.and_then(|hint| platform::get_at(&entry, &hint)) {
                return Ok(Some(bytes));
            }
            match entry.get_secret() {
                Ok(bytes) => Ok(Some(bytes)),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        match found {
            None => Ok(None),
            Some(bytes) => Secret::from_vec(bytes).map(Some).ok_or_else(|| {
                StoreError::Failed(format!(
                    "the {KEYCHAIN_NAME} item {SERVICE}/… holds a secret that is not text"
                ))
            }),
        }
    }

    fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
        self.put_located(item, meta, secret).map(|_| ())
    }

    fn put_located(
        &self,
        item: &str,
        meta: &ItemMeta,
        secret: &Secret,
    ) -> Result<Option<String>, StoreError> {
        platform::check_length(secret.expose_bytes().len())?;
        let (item, meta, home) = (item.to_owned(), meta.clone(), self.shared.home.clone());
        let secret = secret.clone();
        self.call(move |store| {
            let entry = platform::entry(store, &item, Some(&meta), &home)?;
            entry.set_secret(secret.expose_bytes())?;
            platform::label(&entry, &meta, &home)?;
            Ok(platform::created_path(&entry))
        })
    }

    fn delete(&self, item: &str) -> Result<bool, StoreError> {
        self.delete_located(item, None)
    }

    fn delete_located(&self, item: &str, hint: Option<&str>) -> Result<bool, StoreError> {
        let (item, hint) = (item.to_owned(), hint.map(str::to_owned));
        self.call(move |store| {
            let entry = platform::entry(store, &item, None, "")?;
            if hint.is_some_and(|hint| platform::delete_at(&entry, &hint)) {
                return Ok(true);
            }
            match entry.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring_core::Error::NoEntry) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        let home = self.shared.home.clone();
        self.call(move |store| platform::items(store, &home))
    }
}

/// Turns a keyring error into words, never printing the bytes some variants carry.
fn describe(error: keyring_core::Error) -> StoreError {
    use keyring_core::Error as E;
    match error {
        E::NoStorageAccess(e) => StoreError::Unavailable(format!(
            "the {KEYCHAIN_NAME} refused access ({}); {REMEDY}",
            crate::text::printable(&e.to_string(), 200)
        )),
        // errSecInteractionNotAllowed: a locked macOS keychain in a session that
        // cannot show its password prompt, such as SSH.
        E::PlatformFailure(e) if e.to_string().contains("nteraction is not allowed") => {
            StoreError::Unavailable(format!(
                "the {KEYCHAIN_NAME} is locked and cannot ask for its password in this session (over SSH, for example); run `security unlock-keychain` there first, then try again"
            ))
        }
        E::PlatformFailure(e) => StoreError::Failed(format!(
            "{KEYCHAIN_NAME} error: {}",
            crate::text::printable(&e.to_string(), 200)
        )),
        E::BadEncoding(_) | E::BadDataFormat(..) => StoreError::Failed(format!(
            "a {KEYCHAIN_NAME} item holds data in an unexpected format"
        )),
        E::NoEntry => StoreError::Failed(format!("{KEYCHAIN_NAME} item not found")),
        E::Ambiguous(_) => StoreError::Failed(format!(
            "the {KEYCHAIN_NAME} holds several items with one name; run `docker-credential-pat doctor`"
        )),
        E::TooLong(what, limit) => StoreError::Failed(format!(
            "{what} is longer than the {KEYCHAIN_NAME} allows ({limit})"
        )),
        E::Invalid(what, why) => {
            StoreError::Failed(format!("{KEYCHAIN_NAME}: invalid {what}: {why}"))
        }
        _ => StoreError::Failed(format!("the {KEYCHAIN_NAME} failed")),
    }
}

fn describe_unreachable(error: &keyring_core::Error) -> String {
    let cause = match error {
        keyring_core::Error::NoStorageAccess(e) | keyring_core::Error::PlatformFailure(e) => {
            e.to_string()
        }
        _ => "it did not respond".into(),
    };
    format!(
        "no {KEYCHAIN_NAME} is reachable ({}); {REMEDY}",
        crate::text::printable(&cause, 200)
    )
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn specifier_items(found: Vec<keyring_core::Entry>) -> Vec<StoredItem> {
    found
        .into_iter()
        .filter_map(|entry| {
            let (_, user) = entry.get_specifiers()?;
            let attributes = entry.get_attributes().unwrap_or_default();
            let meta = match (
                attributes.get("registry"),
                attributes.get("account"),
                attributes.get("token"),
            ) {
                (Some(registry), Some(account), Some(token_id)) => Some(ItemMeta {
                    registry: registry.clone(),
                    account: account.clone(),
                    token_id: token_id.clone(),
                }),
                _ => None,
            };
            Some(StoredItem { item: user, meta })
        })
        .collect()
}

/// Every keychain but Windows's: an item is found by its service and item
/// name alone (the Secret Service also files a new one under its attributes).
#[cfg(not(windows))]
mod by_name {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};

    use super::SERVICE;
    use crate::store::ItemMeta;

    pub fn entry(
        store: &Arc<CredentialStore>,
        item: &str,
        _meta: Option<&ItemMeta>,
        _home: &str,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, SERVICE, item)
    }
}

/// Every keychain but the Secret Service: it cannot say where it put an
/// item, so there is no hint to look at first.
#[cfg(not(target_os = "linux"))]
mod no_hints {
    use keyring_core::Entry;

    pub fn created_path(_entry: &Entry) -> Option<String> {
        None
    }

    pub fn get_at(_entry: &Entry, _hint: &str) -> Option<Vec<u8>> {
        None
    }

    pub fn delete_at(_entry: &Entry, _hint: &str) -> bool {
        false
    }
}

/// Every keychain but Windows's: a secret of any length, and nothing to
/// write on the item after it.
#[cfg(not(windows))]
mod no_limits {
    use keyring_core::Entry;

    use crate::store::{ItemMeta, StoreError};

    pub fn check_length(_bytes: usize) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn label(_entry: &Entry, _meta: &ItemMeta, _home: &str) -> keyring_core::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Said(&'static str);

    impl std::fmt::Display for Said {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Said {}

    #[test]
    fn a_keychain_that_cannot_prompt_says_how_to_unlock_it() {
        let error = describe(keyring_core::Error::PlatformFailure(Box::new(Said(
            "User interaction is not allowed.",
        ))));
        let text = error.to_string();
        assert!(matches!(error, StoreError::Unavailable(_)), "{text}");
        assert!(text.contains("security unlock-keychain"), "{text}");
    }
}
