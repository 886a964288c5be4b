//! The encrypted vault file: the backend for machines without an OS keychain.
//!
//! Servers, CI runners, containers and SSH sessions often have no Secret
//! Service. There the secrets live beside the index: a header file, and one
//! file per item (in `vault.d/`) sealed with XChaCha20-Poly1305 under a data
//! key, which the header keeps sealed under a key derived from a passphrase
//! with Argon2id (see [`format`] and [`kdf`]). The derived key is kept in the
//! kernel keyring for a while (`cache`), so Argon2 runs once per unlock.
//! Where the passphrase comes from is `passphrase`'s business; what people do
//! to the vault itself (`vault init`, `unlock`, `lock`, `passwd`, `status`)
//! is `lifecycle`'s.
//!
//! Every change writes one item's file atomically under `vault.lock`; a
//! first-format vault (every item in one sealed file) is converted first, its
//! old file in force until that is done. The service takes its data lock
//! first, so the order is always data lock, then vault lock. A vault that
//! cannot be decrypted is never rewritten.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{BackendKind, ItemMeta, SecretStore, StoreError, StoredItem};
use crate::fsutil::{self, FileLock, FsError};
use crate::secret::Secret;

mod cache;
pub mod format;
pub mod kdf;
mod lifecycle;
mod passphrase;

use cache::KeyCache;
use format::{Contents, Entry, FormatError, Header};
pub use kdf::KdfParams;
use kdf::VaultKey;
pub use lifecycle::{Unlocked, VaultStatus};
pub use passphrase::{AskFn, Passphrase, PassphraseSources};

/// Which sources may supply the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    /// The key cache, then a passphrase.
    Any,
    /// Only the key cache: never ask, never derive.
    CacheOnly,
    /// Only a passphrase, to prove a person knows it.
    PassphraseOnly,
}

/// The vault file as a [`SecretStore`].
pub struct VaultStore {
    path: PathBuf,
    lock_path: PathBuf,
    passphrase: PassphraseSources,
    cache_seconds: u32,
    kdf: KdfParams,
    /// Open vaults whose parameters are above [`KdfParams::opening_limit`].
    allow_higher_kdf: bool,
    cache: KeyCache,
    /// Keys this process already holds, by salt, so one command derives once.
    keys: RefCell<Vec<(Vec<u8>, VaultKey)>>,
}

impl VaultStore {
    /// `kdf` applies to vaults created or re-keyed by this process.
    pub fn new(
        path: PathBuf,
        passphrase: PassphraseSources,
        cache_seconds: u32,
        kdf: KdfParams,
    ) -> Self {
        let lock_path = path.with_file_name(format!(
            "{}.lock",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        Self {
            cache: KeyCache::new(&path),
            path,
            lock_path,
            passphrase,
            cache_seconds,
            kdf,
            allow_higher_kdf: false,
            keys: RefCell::new(Vec::new()),
        }
    }

    /// Opens vaults that ask for more Argon2 work than the configured parameters.
    pub fn allow_higher_kdf(mut self, allow: bool) -> Self {
        self.allow_higher_kdf = allow;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// True when the vault exists or a passphrase source is set, so `auto` may use it.
    pub fn usable(&self) -> bool {
        self.exists() || self.passphrase.unattended()
    }

    pub fn cache_seconds(&self) -> u32 {
        self.cache_seconds
    }

    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    fn no_vault(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "there is no vault at {} yet: create one with `docker-credential-pat vault init`, or set DOCKER_PAT_PASSPHRASE_FILE to create it on first use",
            self.path.display()
        ))
    }

    fn corrupt(&self, error: FormatError) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: error.to_string(),
        }
    }

    fn prompt(&self) -> String {
        format!("Passphrase for vault {}: ", self.path.display())
    }

    /// The file's bytes, or `None` when there is no vault.
    fn read_file(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.len() > format::MAX_FILE_LEN as u64 => {
                return Err(self.corrupt(FormatError::TooLarge));
            }
            _ => {}
        }
        Ok(fsutil::read_private(&self.path)?)
    }

    fn parse(&self, bytes: &[u8]) -> Result<Header, StoreError> {
        format::parse_header(bytes).map_err(|e| self.corrupt(e))
    }

    fn remembered(&self, salt: &[u8]) -> Option<VaultKey> {
        self.keys
            .borrow()
            .iter()
            .find(|(s, _)| s == salt)
            .map(|(_, k)| k.clone())
    }

    fn remember(&self, salt: &[u8], key: &VaultKey) {
        let mut keys = self.keys.borrow_mut();
        keys.retain(|(s, _)| s != salt);
        keys.push((salt.to_vec(), key.clone()));
    }

    /// The key for the vault whose header is `header`.
    fn key_for(&self, header: &Header, source: KeySource) -> Result<VaultKey, StoreError> {
        if source != KeySource::PassphraseOnly {
            if let Some(key) = self.remembered(&header.salt) {
                return Ok(key);
            }
            if self.cache_seconds > 0
                && let Some(cached) = self.cache.load(&header.salt)
                && kdf::same_check(&cached.check, &header.key_check)
            {
                self.remember(&header.salt, &cached.key);
                return Ok(cached.key);
            }
        }
        if source == KeySource::CacheOnly {
            return Err(StoreError::NoPassphrase(self.path.clone()));
        }
        // The header is authenticated only by the key derived from it, so its
        // cost is checked before any work is spent on it.
        let limit = self.kdf.opening_limit();
        if !self.allow_higher_kdf && !header.kdf.within(&limit) {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "its header asks for more key-derivation work ({}) than this machine allows (m={} KiB, t={}); if you raised it yourself, set vault_kdf_allow_higher = true (or raise vault_kdf_memory_kib and vault_kdf_iterations) in config.toml, otherwise the file was tampered with",
                    header.kdf, limit.memory_kib, limit.iterations
                ),
            });
        }
        let Some(passphrase) = self.passphrase.read(&self.prompt())? else {
            return Err(match source {
                KeySource::PassphraseOnly => StoreError::Failed(format!(
                    "this needs the passphrase of the vault {}: set DOCKER_PAT_PASSPHRASE_FILE or DOCKER_PAT_PASSPHRASE, or run it in a terminal",
                    self.path.display()
                )),
                _ => StoreError::NoPassphrase(self.path.clone()),
            });
        };
        let derived = kdf::derive(passphrase.bytes(), &header.salt, &header.kdf)
            .map_err(|e| self.corrupt(FormatError::BadKdfParams(e.to_string())))?;
        if !kdf::same_check(&derived.check, &header.key_check) {
            return Err(StoreError::WrongPassphrase(self.path.clone()));
        }
        if source == KeySource::Any {
            // Best effort: without the cache the next use derives the key again.
            let _ = self.cache_key(header, &derived.key);
            self.remember(&header.salt, &derived.key);
        }
        Ok(derived.key)
    }

    /// Caches `key` in the kernel keyring; `Ok(false)` when caching is off.
    fn cache_key(&self, header: &Header, key: &VaultKey) -> Result<bool, String> {
        if self.cache_seconds == 0 {
            return Ok(false);
        }
        if !self.cache.available() {
            return Err("no kernel keyring is available".into());
        }
        self.cache
            .store(&header.salt, key, &header.key_check, self.cache_seconds)
            .map(|()| true)
            .map_err(|e| e.to_string())
    }

    fn unseal(
        &self,
        bytes: &[u8],
        header: &Header,
        key: &VaultKey,
    ) -> Result<Contents, StoreError> {
        format::open(bytes, header, key).map_err(|e| self.corrupt(e))
    }

    /// The key that opens the items: the data key sealed in a version 2
    /// header, or for version 1 the passphrase key itself.
    fn data_key(&self, header: &Header, key: &VaultKey) -> Result<VaultKey, StoreError> {
        match header.wrapped {
            Some(_) => header.unwrap_key(key).map_err(|e| self.corrupt(e)),
            None => Ok(key.clone()),
        }
    }

    /// The folder of item files, beside the header file.
    fn items_dir(&self) -> PathBuf {
        self.path.with_file_name(format!(
            "{}.d",
            self.path.file_name().unwrap_or_default().to_string_lossy()
        ))
    }

    /// An item's file. Item names are chosen by the index (hex), so anything
    /// that could leave the folder is refused rather than opened.
    fn item_path(&self, item: &str) -> Result<PathBuf, StoreError> {
        let safe = !item.is_empty()
            && item.len() <= 128
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(StoreError::Failed(format!(
                "{item:?} is not a valid vault item name"
            )));
        }
        Ok(self.items_dir().join(item))
    }

    fn read_item(&self, key: &VaultKey, item: &str) -> Result<Option<Entry>, StoreError> {
        let path = self.item_path(item)?;
        let Some(bytes) = fsutil::read_optional(&path)? else {
            return Ok(None);
        };
        format::open_item(&bytes, key, item)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                detail: e.to_string(),
            })
    }

    fn write_item(&self, key: &VaultKey, item: &str, entry: &Entry) -> Result<(), StoreError> {
        let path = self.item_path(item)?;
        let bytes = format::seal_item(key, item, entry).map_err(|e| {
            StoreError::Failed(format!(
                "cannot write to the vault {}: {e}",
                self.path.display()
            ))
        })?;
        fsutil::write_atomic(&path, &bytes)?;
        Ok(())
    }

    /// The names of the item files present.
    fn item_names(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.items_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(FsError::Read { path: dir, source }.into()),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| self.item_path(name).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    fn write_header(&self, header: &Header) -> Result<(), StoreError> {
        fsutil::write_atomic(&self.path, &header.to_bytes())?;
        Ok(())
    }

    /// A fresh data key and an empty item folder, for a vault being created
    /// or converted; files an interrupted earlier attempt left are removed.
    fn start_items(&self) -> Result<VaultKey, StoreError> {
        let mut raw = Zeroizing::new([0u8; kdf::KEY_LEN]);
        crate::ids::fill_random(&mut raw[..]);
        let dir = self.items_dir();
        for name in self.item_names()? {
            remove_file(&dir.join(name))?;
        }
        fsutil::ensure_private_dir(&dir)?;
        Ok(VaultKey::from_bytes(&raw))
    }

    /// Rewrites a version 1 vault as version 2 under the same passphrase key:
    /// every item into its own file, then the new header over the old file.
    /// Until that last step the old file is in force, so an interruption
    /// loses nothing; files it left are cleared by the next attempt.
    fn convert(
        &self,
        bytes: &[u8],
        header: &Header,
        key: &VaultKey,
    ) -> Result<(Header, VaultKey), StoreError> {
        let contents = self.unseal(bytes, header, key)?;
        let data_key = self.start_items()?;
        for (item, entry) in &contents.items {
            self.write_item(&data_key, item, entry)?;
        }
        let converted = header.wrapping(key, &data_key);
        self.write_header(&converted)?;
        Ok((converted, data_key))
    }

    /// Under the lock: the header and data key to change items with,
    /// converting a version 1 vault first. With no vault, one is created
    /// when `create` is true and a passphrase can be had without asking;
    /// otherwise `None`.
    fn writable(&self, create: bool) -> Result<Option<(Header, VaultKey)>, StoreError> {
        match self.read_file()? {
            Some(bytes) => {
                let header = self.parse(&bytes)?;
                let key = self.key_for(&header, KeySource::Any)?;
                if header.wrapped.is_none() {
                    return self.convert(&bytes, &header, &key).map(Some);
                }
                let data_key = self.data_key(&header, &key)?;
                Ok(Some((header, data_key)))
            }
            None if create => {
                let Some(passphrase) = self.passphrase.without_asking().read("")? else {
                    return Ok(None);
                };
                self.create(&passphrase).map(Some)
            }
            None => Ok(None),
        }
    }

    /// A new, empty vault; the caller holds the lock and has checked there is none.
    fn create(&self, passphrase: &Passphrase) -> Result<(Header, VaultKey), StoreError> {
        let (base, key) = self.new_header(passphrase)?;
        let data_key = self.start_items()?;
        let header = base.wrapping(&key, &data_key);
        self.write_header(&header)?;
        let _ = self.cache_key(&header, &key);
        self.remember(&header.salt, &key);
        Ok((header, data_key))
    }

    /// How many items the vault holds; the key is checked on the way.
    fn count(&self, bytes: &[u8], header: &Header, key: &VaultKey) -> Result<usize, StoreError> {
        match header.wrapped {
            None => Ok(self.unseal(bytes, header, key)?.items.len()),
            Some(_) => {
                self.data_key(header, key)?;
                Ok(self.item_names()?.len())
            }
        }
    }

    fn lock_file(&self) -> Result<FileLock, StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsutil::ensure_private_dir(dir)?;
        }
        Ok(FileLock::acquire(&self.lock_path, fsutil::LOCK_WAIT)?)
    }

    /// A fresh vault header and key for `passphrase`, with this process's KDF parameters.
    fn new_header(&self, passphrase: &Passphrase) -> Result<(Header, VaultKey), StoreError> {
        self.kdf
            .check()
            .map_err(|e| StoreError::Failed(format!("cannot create the vault: {e}")))?;
        let mut salt = vec![0u8; format::SALT_LEN];
        crate::ids::fill_random(&mut salt);
        let derived = kdf::derive(passphrase.bytes(), &salt, &self.kdf)
            .map_err(|e| StoreError::Failed(format!("cannot derive the vault key: {e}")))?;
        let header = Header {
            version: format::FORMAT_VERSION,
            kdf: self.kdf,
            salt,
            nonce: [0; format::NONCE_LEN],
            key_check: derived.check,
            wrapped: None,
        };
        Ok((header, derived.key))
    }
}

impl SecretStore for VaultStore {
    fn kind(&self) -> BackendKind {
        BackendKind::File
    }

    /// Reads the header and the one item's file, whatever the number of items.
    fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
        let Some(bytes) = self.read_file()? else {
            return Ok(None);
        };
        let header = self.parse(&bytes)?;
        let key = self.key_for(&header, KeySource::Any)?;
        let entry = match header.wrapped {
            None => self.unseal(&bytes, &header, &key)?.items.remove(item),
            Some(_) => self.read_item(&self.data_key(&header, &key)?, item)?,
        };
        Ok(entry.map(|entry| entry.secret))
    }

    fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
        let entry = Entry {
            meta: meta.clone(),
            secret: secret.clone(),
        };
        let _lock = self.lock_file()?;
        let (_, data_key) = self
            .writable(self.passphrase.unattended())?
            .ok_or_else(|| self.no_vault())?;
        self.write_item(&data_key, item, &entry)
    }

    fn delete(&self, item: &str) -> Result<bool, StoreError> {
        let _lock = self.lock_file()?;
        if self.writable(false)?.is_none() {
            return Ok(false);
        }
        let path = self.item_path(item)?;
        let existed = path.exists();
        remove_file(&path)?;
        Ok(existed)
    }

    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        let Some(bytes) = self.read_file()? else {
            return Ok(Vec::new());
        };
        let header = self.parse(&bytes)?;
        let key = self.key_for(&header, KeySource::Any)?;
        if header.wrapped.is_none() {
            let contents = self.unseal(&bytes, &header, &key)?;
            return Ok(contents
                .items
                .into_iter()
                .map(|(item, entry)| StoredItem {
                    item,
                    meta: Some(entry.meta),
                })
                .collect());
        }
        let data_key = self.data_key(&header, &key)?;
        let mut found = Vec::new();
        for item in self.item_names()? {
            // A damaged item is still listed, without its facts, for doctor to report.
            let meta = self
                .read_item(&data_key, &item)
                .ok()
                .flatten()
                .map(|e| e.meta);
            found.push(StoredItem { item, meta });
        }
        Ok(found)
    }
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FsError::Write {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests;
