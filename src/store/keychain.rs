//! The OS credential store, reached through `keyring-core`.
//!
//! Every call runs on a worker thread with a deadline: a keychain waiting on an
//! unlock prompt nobody can see, or a Secret Service daemon that stopped
//! answering, must never hang `docker pull`. On timeout the caller gets an
//! error and the process exits; the stuck thread goes with it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

use super::{BackendKind, ItemMeta, SecretStore, SessionKind, StoreError, StoredItem};
use crate::secret::Secret;

/// The service name every item is filed under.
pub const SERVICE: &str = "docker-credential-pat";

#[cfg(target_os = "linux")]
const KEYCHAIN_NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
const KEYCHAIN_NAME: &str = "macOS Keychain";
#[cfg(windows)]
const KEYCHAIN_NAME: &str = "Windows Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const KEYCHAIN_NAME: &str = "OS keychain";

#[cfg(target_os = "linux")]
const REMEDY: &str = "start a Secret Service (GNOME Keyring, KWallet or KeePassXC) in your D-Bus session, or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";
#[cfg(target_os = "macos")]
const REMEDY: &str = "unlock the login keychain (`security unlock-keychain`), or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";
#[cfg(windows)]
const REMEDY: &str = "sign in with a user profile that has a Credential Manager (service accounts and some remote sessions have none), or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const REMEDY: &str = "make sure the OS credential store is available, or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";

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
fn specifier_items(found: Vec<Entry>) -> Vec<StoredItem> {
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

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    pub fn connect(session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
        crate::store::secret_service::Store::connect(session)
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        item: &str,
        meta: Option<&ItemMeta>,
        home: &str,
    ) -> keyring_core::Result<Entry> {
        let Some(meta) = meta else {
            return Entry::new_in_store(store, SERVICE, item);
        };
        let label = format!("{SERVICE}: {} @ {}", meta.account, meta.registry);
        let modifiers = HashMap::from([
            ("label", label.as_str()),
            ("registry", meta.registry.as_str()),
            ("account", meta.account.as_str()),
            ("token", meta.token_id.as_str()),
            ("home", home),
        ]);
        Entry::new_in_store_with_modifiers(store, SERVICE, item, &modifiers)
    }

    pub fn items(
        store: &Arc<CredentialStore>,
        home: &str,
    ) -> keyring_core::Result<Vec<StoredItem>> {
        let spec = HashMap::from([("service", SERVICE), ("home", home)]);
        Ok(specifier_items(Entry::search_in_store(store, &spec)?))
    }

    pub fn created_path(entry: &Entry) -> Option<String> {
        crate::store::secret_service::created_path(entry)
    }

    /// The Secret Service holds any length, and the attributes went in with the item.
    pub fn check_length(_bytes: usize) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn label(_entry: &Entry, _meta: &ItemMeta, _home: &str) -> keyring_core::Result<()> {
        Ok(())
    }

    pub fn get_at(entry: &Entry, hint: &str) -> Option<Vec<u8>> {
        crate::store::secret_service::get_at(entry, hint)
    }

    pub fn delete_at(entry: &Entry, hint: &str) -> bool {
        crate::store::secret_service::delete_at(entry, hint)
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;

    /// Only the Secret Service reports where it put an item.
    pub fn created_path(_entry: &Entry) -> Option<String> {
        None
    }

    pub fn check_length(_bytes: usize) -> Result<(), StoreError> {
        Ok(())
    }

    /// The Keychain item carries only its service and account.
    pub fn label(_entry: &Entry, _meta: &ItemMeta, _home: &str) -> keyring_core::Result<()> {
        Ok(())
    }

    pub fn get_at(_entry: &Entry, _hint: &str) -> Option<Vec<u8>> {
        None
    }

    pub fn delete_at(_entry: &Entry, _hint: &str) -> bool {
        false
    }

    pub fn connect(_session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
        Ok(apple_native_keyring_store::keychain::Store::new()?)
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        item: &str,
        _meta: Option<&ItemMeta>,
        _home: &str,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, SERVICE, item)
    }

    pub fn items(
        store: &Arc<CredentialStore>,
        _home: &str,
    ) -> keyring_core::Result<Vec<StoredItem>> {
        let spec = HashMap::from([("service", SERVICE)]);
        Ok(specifier_items(Entry::search_in_store(store, &spec)?))
    }
}

#[cfg(windows)]
mod platform {
    //! Generic credentials named `docker-credential-pat:ITEM`, so the entries of
    //! docker-credential-wincred (named after the registry) are never touched.
    //! The Credential Manager has no attributes, so the account goes in the
    //! credential's user name and the rest in its comment, data folder included:
    //! several data folders can share one Credential Manager without taking each
    //! other's items for orphans.

    use super::*;

    const TARGET_PREFIX: &str = "docker-credential-pat:";
    /// CRED_MAX_CREDENTIAL_BLOB_SIZE: what CredWriteW accepts for one secret.
    const MAX_SECRET: usize = 2560;
    /// CRED_MAX_STRING_LENGTH, for the comment.
    const MAX_COMMENT: usize = 256;

    /// Only the Secret Service reports where it put an item.
    pub fn created_path(_entry: &Entry) -> Option<String> {
        None
    }

    pub fn get_at(_entry: &Entry, _hint: &str) -> Option<Vec<u8>> {
        None
    }

    pub fn delete_at(_entry: &Entry, _hint: &str) -> bool {
        false
    }

    pub fn connect(_session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
        Ok(windows_native_keyring_store::Store::new()?)
    }

    /// A longer secret is refused whole: the Credential Manager would reject it.
    pub fn check_length(bytes: usize) -> Result<(), StoreError> {
        if bytes <= MAX_SECRET {
            return Ok(());
        }
        Err(StoreError::Failed(format!(
            "the token is {bytes} bytes long and the {KEYCHAIN_NAME} holds at most 2,560 bytes per credential; nothing was stored. Keep this token in the encrypted vault instead: `docker-credential-pat vault init`, then set backend = \"file\" in config.toml"
        )))
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        item: &str,
        _meta: Option<&ItemMeta>,
        _home: &str,
    ) -> keyring_core::Result<Entry> {
        let target = format!("{TARGET_PREFIX}{item}");
        let modifiers = HashMap::from([("target", target.as_str())]);
        Entry::new_in_store_with_modifiers(store, SERVICE, item, &modifiers)
    }

    /// Writes the account and the comment onto the credential just written.
    pub fn label(entry: &Entry, meta: &ItemMeta, home: &str) -> keyring_core::Result<()> {
        let comment = comment(meta, home);
        let attributes = HashMap::from([
            ("username", meta.account.as_str()),
            ("comment", comment.as_str()),
        ]);
        entry.update_attributes(&attributes)
    }

    /// `docker-credential-pat; home=H; token=ID; registry=R`, the registry left out
    /// when the whole would pass the Credential Manager's limit.
    fn comment(meta: &ItemMeta, home: &str) -> String {
        let base = format!(
            "{SERVICE}; home={}; token={}",
            home_tag(home),
            meta.token_id
        );
        let full = format!("{base}; registry={}", meta.registry);
        if full.chars().count() <= MAX_COMMENT {
            full
        } else {
            base
        }
    }

    /// A short digest of the data folder; Windows paths ignore case.
    fn home_tag(home: &str) -> String {
        use blake2::{Blake2b256, Digest};
        Blake2b256::digest(home.to_lowercase().as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Our credentials through CredEnumerateW; those of another data folder are
    /// left out, and one without our comment (written by an older version, or
    /// interrupted between its two writes) is listed without metadata.
    pub fn items(
        store: &Arc<CredentialStore>,
        home: &str,
    ) -> keyring_core::Result<Vec<StoredItem>> {
        let spec = HashMap::from([("pattern", "^docker-credential-pat:")]);
        let ours = home_tag(home);
        let mut items = Vec::new();
        for entry in Entry::search_in_store(store, &spec)? {
            let attributes = match entry.get_attributes() {
                Ok(attributes) => attributes,
                // Deleted since it was listed.
                Err(keyring_core::Error::NoEntry) => continue,
                Err(e) => return Err(e),
            };
            let Some(item) = attributes
                .get("target_name")
                .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            else {
                continue;
            };
            let fields: HashMap<&str, &str> = attributes
                .get("comment")
                .map(String::as_str)
                .unwrap_or_default()
                .split("; ")
                .filter_map(|field| field.split_once('='))
                .collect();
            match fields.get("home") {
                Some(tag) if *tag != ours => continue,
                _ => {}
            }
            let meta = match (
                fields.get("registry"),
                attributes.get("username").filter(|u| !u.is_empty()),
                fields.get("token"),
            ) {
                (Some(registry), Some(account), Some(token_id)) => Some(ItemMeta {
                    registry: (*registry).to_owned(),
                    account: account.clone(),
                    token_id: (*token_id).to_owned(),
                }),
                _ => None,
            };
            items.push(StoredItem {
                item: item.to_owned(),
                meta,
            });
        }
        Ok(items)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod platform {
    use super::*;

    /// Only the Secret Service reports where it put an item.
    pub fn created_path(_entry: &Entry) -> Option<String> {
        None
    }

    pub fn check_length(_bytes: usize) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn label(_entry: &Entry, _meta: &ItemMeta, _home: &str) -> keyring_core::Result<()> {
        Ok(())
    }

    pub fn get_at(_entry: &Entry, _hint: &str) -> Option<Vec<u8>> {
        None
    }

    pub fn delete_at(_entry: &Entry, _hint: &str) -> bool {
        false
    }

    pub fn connect(_session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
        Err(keyring_core::Error::NotSupportedByStore(
            "no OS keychain on this platform".into(),
        ))
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        item: &str,
        _meta: Option<&ItemMeta>,
        _home: &str,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, SERVICE, item)
    }

    pub fn items(
        _store: &Arc<CredentialStore>,
        _home: &str,
    ) -> keyring_core::Result<Vec<StoredItem>> {
        Err(keyring_core::Error::NotSupportedByStore(
            "listing items".into(),
        ))
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
