//! Where secrets live: one trait, with the OS keychain and the encrypted vault behind it.
//! (A team's OpenBao server keeps records as well as secrets, and so stands
//! behind [`crate::ledger::Ledger`] instead.)
//!
//! Stores know secrets and item names, and nothing about Docker, JSON,
//! config.toml or integrations. Each item carries a little non-secret metadata (registry,
//! account, token id) so `doctor` can check the index against the store and
//! rebuild it if the index is lost.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub mod keychain;
#[cfg(test)]
pub mod memory;
#[cfg(target_os = "linux")]
pub(crate) mod secret_service;
pub mod vault;

/// Where a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The OS credential store: macOS Keychain, Windows Credential Manager, Secret Service.
    Keychain,
    /// The Argon2id-encrypted vault file.
    File,
    /// An OpenBao or HashiCorp Vault server (secret and record together).
    #[serde(rename = "openbao")]
    OpenBao,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Keychain => "keychain",
            BackendKind::File => "file",
            BackendKind::OpenBao => "openbao",
        }
    }
}

impl BackendKind {
    /// How messages name it: "the keychain", "the file", "the OpenBao server".
    pub fn place(self) -> &'static str {
        match self {
            BackendKind::Keychain => "the keychain",
            BackendKind::File => "the file",
            BackendKind::OpenBao => "the OpenBao server",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the Secret Service session is set up on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// Secrets cross the user's private session bus unencrypted (fast).
    #[default]
    Plain,
    /// A Diffie-Hellman session as libsecret uses (a few milliseconds more per process).
    Encrypted,
}

/// Non-secret facts stored with an item, for people browsing their keychain and for recovery.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ItemMeta {
    pub registry: String,
    pub account: String,
    pub token_id: String,
}

/// An item found in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub item: String,
    pub meta: Option<ItemMeta>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached; the text names the cause and the remedy.
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "the {what} did not answer within {seconds} s; it may be locked behind a prompt that cannot be shown, or hung ({hint})"
    )]
    TimedOut {
        what: &'static str,
        seconds: u64,
        hint: &'static str,
    },
    #[error("wrong passphrase for vault {0}")]
    WrongPassphrase(PathBuf),
    #[error("vault {path} cannot be read: {detail}; the file was left untouched")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the vault {0} is locked and no passphrase is available: set DOCKER_PAT_PASSPHRASE_FILE, or run `docker-credential-pat vault unlock` in a terminal"
    )]
    NoPassphrase(PathBuf),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

/// A secret store. Item names are random references chosen by the index.
pub trait SecretStore {
    fn kind(&self) -> BackendKind;
    /// The secret under `item`, or `None` if there is no such item.
    fn get(&self, item: &str) -> Result<Option<Secret>, StoreError>;
    /// Creates or replaces `item`.
    fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError>;
    /// Like [`SecretStore::put`], and returns where the store put the item when
    /// it can say: a location hint for [`SecretStore::get_located`].
    fn put_located(
        &self,
        item: &str,
        meta: &ItemMeta,
        secret: &Secret,
    ) -> Result<Option<String>, StoreError> {
        self.put(item, meta, secret).map(|()| None)
    }
    /// Like [`SecretStore::get`], looking at `hint` first; a stale hint is ignored.
    fn get_located(&self, item: &str, hint: Option<&str>) -> Result<Option<Secret>, StoreError> {
        let _ = hint;
        self.get(item)
    }
    /// Removes `item`; `false` when it was not there.
    fn delete(&self, item: &str) -> Result<bool, StoreError>;
    /// Like [`SecretStore::delete`], trying `hint` first; a stale hint is ignored.
    fn delete_located(&self, item: &str, hint: Option<&str>) -> Result<bool, StoreError> {
        let _ = hint;
        self.delete(item)
    }
    /// Every item this helper keeps here for the current data folder.
    fn items(&self) -> Result<Vec<StoredItem>, StoreError>;
}

pub type DynStore = dyn SecretStore;
