//! Where there is no OS keychain this helper knows: every call says so, and
//! `auto` falls back to the vault.

use std::sync::Arc;

use keyring_core::CredentialStore;

use crate::store::{SessionKind, StoredItem};

pub use super::by_name::entry;
pub use super::no_hints::{created_path, delete_at, get_at};
pub use super::no_limits::{check_length, label};

pub const NAME: &str = "OS keychain";
pub const REMEDY: &str = "make sure the OS credential store is available, or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";

pub fn connect(_session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "no OS keychain on this platform".into(),
    ))
}

pub fn items(_store: &Arc<CredentialStore>, _home: &str) -> keyring_core::Result<Vec<StoredItem>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "listing items".into(),
    ))
}
