//! What people do to the vault itself: `vault init`, `unlock`, `lock`,
//! `passwd` and `status`. Items are read and written through the
//! [`SecretStore`](crate::store::SecretStore) side, in the room above.

use std::path::PathBuf;

use super::format::{self, Header};
use super::passphrase::Passphrase;
use super::{KeySource, VaultStore};
use crate::fsutil::FsError;
use crate::store::StoreError;

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

impl VaultStore {
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
