//! The encrypted vault file: the backend for machines without an OS keychain.
//!
//! Servers, CI runners, containers and SSH sessions often have no Secret
//! Service. There the secrets live in one file beside the index, sealed with
//! XChaCha20-Poly1305 under a key derived from a passphrase with Argon2id
//! (see [`format`] and [`kdf`]). The derived key is kept in the kernel
//! keyring for a while ([`cache`]), so Argon2 runs once per unlock.
//!
//! Every change reads, decrypts, edits and re-seals the whole file under
//! `vault.lock`, then replaces it atomically. The service takes its data lock
//! first, so the order is always data lock, then vault lock. A vault that
//! cannot be decrypted is never rewritten.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{BackendKind, ItemMeta, SecretStore, StoreError, StoredItem};
use crate::fsutil::{self, FileLock, FsError};
use crate::prompt::PromptError;
use crate::secret::Secret;

mod cache;
pub mod format;
pub mod kdf;

use cache::KeyCache;
use format::{Contents, Entry, FormatError, Header};
pub use kdf::KdfParams;
use kdf::VaultKey;

/// Asks a person for a passphrase (the CLI passes a no-echo terminal prompt).
pub type AskFn = fn(&str) -> Result<Secret, PromptError>;

/// The longest passphrase read from a file or variable.
const MAX_PASSPHRASE: usize = 64 * 1024;

/// Where a vault passphrase may come from, in this order.
#[derive(Debug, Clone, Default)]
pub struct PassphraseSources {
    /// A file holding the passphrase (one trailing line break is ignored).
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding it, when that variable is set.
    pub env: Option<&'static str>,
    /// Asks a person when neither is set.
    pub ask: Option<AskFn>,
}

/// A passphrase in memory: wiped on drop, no `Debug`.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub fn from_secret(secret: &Secret) -> Self {
        Self(Zeroizing::new(secret.expose_bytes().to_vec()))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.0[..] == other.0[..]
    }
}

impl PassphraseSources {
    /// True when a passphrase can be had without asking anyone.
    pub fn unattended(&self) -> bool {
        self.file.is_some() || self.env.is_some()
    }

    /// Like this, but never asking a person.
    pub fn without_asking(&self) -> Self {
        Self {
            ask: None,
            ..self.clone()
        }
    }

    /// The passphrase from the first source that is set; `None` when none is.
    ///
    /// The variable is read only now, and copied straight into a zeroizing buffer.
    pub fn read(&self, prompt: &str) -> Result<Option<Passphrase>, StoreError> {
        if let Some(path) = &self.file {
            return read_passphrase_file(path).map(Some);
        }
        if let Some(name) = self.env
            && let Some(value) = std::env::var_os(name)
        {
            let bytes = Zeroizing::new(value.into_encoded_bytes());
            if bytes.len() > MAX_PASSPHRASE {
                return Err(StoreError::Failed(format!("{name} is longer than 64 KiB")));
            }
            if !bytes.is_empty() {
                return Ok(Some(Passphrase(bytes)));
            }
        }
        if let Some(ask) = self.ask {
            return match ask(prompt) {
                Ok(secret) if secret.is_empty() => {
                    Err(StoreError::Failed("no passphrase was entered".into()))
                }
                Ok(secret) => Ok(Some(Passphrase::from_secret(&secret))),
                Err(PromptError::NoTerminal) => Ok(None),
                Err(e) => Err(StoreError::Failed(format!(
                    "cannot read the passphrase: {e}"
                ))),
            };
        }
        Ok(None)
    }
}

fn read_passphrase_file(path: &Path) -> Result<Passphrase, StoreError> {
    use std::io::Read;
    let failed = |e: std::io::Error| {
        StoreError::Failed(format!(
            "cannot read the passphrase file {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    // All the room a passphrase may take, up front: a growing buffer would
    // leave copies behind in the blocks it outgrew.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE + 1));
    file.take(MAX_PASSPHRASE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() > MAX_PASSPHRASE {
        return Err(StoreError::Failed(format!(
            "the passphrase file {} is longer than 64 KiB",
            path.display()
        )));
    }
    for ending in [b'\n', b'\r'] {
        if bytes.last() == Some(&ending) {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(StoreError::Failed(format!(
            "the passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(Passphrase(bytes))
}

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

/// What `vault status` reports.
pub struct VaultStatus {
    pub path: PathBuf,
    pub exists: bool,
    /// The header, or why it could not be read.
    pub header: Option<Result<Header, String>>,
    pub cache_available: bool,
    pub cache_seconds: u32,
    pub unlocked: bool,
    /// The number of items, when the vault is unlocked and readable.
    pub items: Option<usize>,
    /// Why the contents could not be read although the key was cached.
    pub damage: Option<String>,
}

/// What `vault unlock` did.
pub struct Unlocked {
    pub items: usize,
    /// `Err` when the key could not be cached; `Ok(false)` when caching is off.
    pub cached: Result<bool, String>,
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
        let mut raw = Zeroizing::new([0u8; kdf::KEY_LEN]);
        crate::ids::fill_random(&mut raw[..]);
        let data_key = VaultKey::from_bytes(&raw);
        let dir = self.items_dir();
        for name in self.item_names()? {
            remove_file(&dir.join(name))?;
        }
        fsutil::ensure_private_dir(&dir)?;
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
        let mut raw = Zeroizing::new([0u8; kdf::KEY_LEN]);
        crate::ids::fill_random(&mut raw[..]);
        let data_key = VaultKey::from_bytes(&raw);
        let header = base.wrapping(&key, &data_key);
        let dir = self.items_dir();
        for name in self.item_names()? {
            remove_file(&dir.join(name))?;
        }
        fsutil::ensure_private_dir(&dir)?;
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

    // ---- The operations behind `vault init|unlock|lock|passwd|status` ----

    /// Creates an empty vault; refuses if one exists. Caches the key.
    pub fn init(&self, passphrase: &Passphrase) -> Result<(), StoreError> {
        let _lock = self.lock_file()?;
        if self.exists() {
            return Err(StoreError::Failed(format!(
                "a vault already exists at {}; `docker-credential-pat vault passwd` changes its passphrase",
                self.path.display()
            )));
        }
        self.create(passphrase).map(|_| ())
    }

    /// Derives the key from the passphrase, checks it opens the vault, and caches it.
    pub fn unlock(&self) -> Result<Unlocked, StoreError> {
        let bytes = self.read_file()?.ok_or_else(|| self.no_vault())?;
        let header = self.parse(&bytes)?;
        let key = self.key_for(&header, KeySource::PassphraseOnly)?;
        Ok(Unlocked {
            items: self.count(&bytes, &header, &key)?,
            cached: self.cache_key(&header, &key),
        })
    }

    /// Drops the cached key; `false` when none was cached.
    pub fn lock(&self) -> Result<bool, StoreError> {
        self.keys.borrow_mut().clear();
        let Some(bytes) = self.read_file()? else {
            return Ok(false);
        };
        let header = self.parse(&bytes)?;
        self.cache
            .forget(&header.salt)
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    /// Seals the data key under a new passphrase and salt: one atomic write
    /// of the header, so exactly one of the two passphrases works at any time.
    ///
    /// The current passphrase must be given (a cached key is not enough);
    /// `new_passphrase` is asked for only once it has been checked.
    pub fn passwd(
        &self,
        new_passphrase: impl FnOnce() -> Result<Passphrase, StoreError>,
    ) -> Result<(), StoreError> {
        let _lock = self.lock_file()?;
        let bytes = self.read_file()?.ok_or_else(|| self.no_vault())?;
        let header = self.parse(&bytes)?;
        let key = self.key_for(&header, KeySource::PassphraseOnly)?;
        let (header, data_key) = match header.wrapped {
            None => self.convert(&bytes, &header, &key)?,
            Some(_) => {
                let data_key = self.data_key(&header, &key)?;
                (header, data_key)
            }
        };
        let passphrase = new_passphrase()?;
        let (base, new_key) = self.new_header(&passphrase)?;
        self.write_header(&base.wrapping(&new_key, &data_key))?;
        self.keys.borrow_mut().clear();
        let _ = self.cache.forget(&header.salt);
        Ok(())
    }

    /// Where the vault is and what state it is in; never asks for anything.
    pub fn status(&self) -> Result<VaultStatus, FsError> {
        let mut status = VaultStatus {
            path: self.path.clone(),
            exists: false,
            header: None,
            cache_available: self.cache.available(),
            cache_seconds: self.cache_seconds,
            unlocked: false,
            items: None,
            damage: None,
        };
        let bytes = match self.read_file() {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(status),
            Err(StoreError::Fs(e)) => return Err(e),
            Err(e) => {
                status.exists = true;
                status.header = Some(Err(e.to_string()));
                return Ok(status);
            }
        };
        status.exists = true;
        let header = match format::parse_header(&bytes) {
            Ok(header) => header,
            Err(e) => {
                status.header = Some(Err(self.corrupt(e).to_string()));
                return Ok(status);
            }
        };
        if let Ok(key) = self.key_for(&header, KeySource::CacheOnly) {
            status.unlocked = true;
            match self.count(&bytes, &header, &key) {
                Ok(count) => status.items = Some(count),
                Err(e) => status.damage = Some(e.to_string()),
            }
        }
        status.header = Some(Ok(header));
        Ok(status)
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
mod tests {
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
        let dir = tempfile::tempdir().unwrap();
        let good = pass_file(dir.path(), "good", "right");
        store(dir.path(), &good)
            .put("a", &meta("docker.io"), &secret("s1"))
            .unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let pass = pass_file(dir.path(), "pass", "pw");
        store(dir.path(), &pass)
            .put("a", &meta("docker.io"), &secret("s1"))
            .unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let pass = pass_file(dir.path(), "pass", "pw");
        store(dir.path(), &pass)
            .put("a", &meta("docker.io"), &secret("s1"))
            .unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let old = pass_file(dir.path(), "old", "old pw");
        store(dir.path(), &old)
            .put("a", &meta("docker.io"), &secret("s1"))
            .unwrap();
        let before = parse_header_of(dir.path());
        store(dir.path(), &old)
            .passwd(|| Ok(Passphrase(Zeroizing::new(b"new pw".to_vec()))))
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
    fn passphrase_file_loses_one_line_break_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let crlf = pass_file(dir.path(), "crlf", "pw\r\n");
        let read = read_passphrase_file(&crlf).unwrap();
        assert_eq!(read.bytes(), b"pw");
        let empty = pass_file(dir.path(), "empty", "\n");
        assert!(read_passphrase_file(&empty).is_err());
        let missing = dir.path().join("missing");
        let err = read_passphrase_file(&missing).err().unwrap();
        assert!(err.to_string().contains("passphrase file"), "{err}");
    }

    #[test]
    fn a_long_passphrase_file_is_read_into_room_reserved_once() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(1000);
        let read = read_passphrase_file(&pass_file(dir.path(), "long", &long)).unwrap();
        assert_eq!(read.bytes(), long.as_bytes());
        assert_eq!(
            read.0.capacity(),
            MAX_PASSPHRASE + 1,
            "never grown, so no copy is left in an outgrown block"
        );
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
            let mode =
                |path: PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
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
            .new_header(&Passphrase(Zeroizing::new(b"pw".to_vec())))
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
        let dir = tempfile::tempdir().unwrap();
        let old = pass_file(dir.path(), "old", "old pw");
        store(dir.path(), &old)
            .put("a", &meta("docker.io"), &secret("s1"))
            .unwrap();
        let item = std::fs::read(dir.path().join("vault.d").join("a")).unwrap();
        store(dir.path(), &old)
            .passwd(|| Ok(Passphrase(Zeroizing::new(b"new pw".to_vec()))))
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
}
