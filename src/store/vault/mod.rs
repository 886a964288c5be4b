//! The encrypted vault file: the backend for machines without an OS keychain.

use std::path::PathBuf;

use super::{BackendKind, ItemMeta, SecretStore, StoreError, StoredItem};
use crate::secret::Secret;

/// Where the vault's passphrase may come from.
#[derive(Debug, Clone, Default)]
pub struct PassphraseSources {
    pub file: Option<PathBuf>,
    pub env: bool,
}

pub struct VaultStore {
    path: PathBuf,
    #[allow(dead_code)]
    passphrase: PassphraseSources,
    #[allow(dead_code)]
    cache_seconds: u32,
}

impl VaultStore {
    pub fn new(path: PathBuf, passphrase: PassphraseSources, cache_seconds: u32) -> Self {
        Self {
            path,
            passphrase,
            cache_seconds,
        }
    }

    /// True when the vault exists or a passphrase source is set, so `auto` may use it.
    pub fn usable(&self) -> bool {
        self.path.exists() || self.passphrase.file.is_some() || self.passphrase.env
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the vault {} is not available yet",
            self.path.display()
        ))
    }
}

impl SecretStore for VaultStore {
    fn kind(&self) -> BackendKind {
        BackendKind::File
    }
    fn get(&self, _item: &str) -> Result<Option<Secret>, StoreError> {
        Err(self.unavailable())
    }
    fn put(&self, _item: &str, _meta: &ItemMeta, _secret: &Secret) -> Result<(), StoreError> {
        Err(self.unavailable())
    }
    fn delete(&self, _item: &str) -> Result<bool, StoreError> {
        Err(self.unavailable())
    }
    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        Err(self.unavailable())
    }
}
