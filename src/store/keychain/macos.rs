//! The macOS Keychain: a generic password per item, found by its service
//! and item name.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use super::{SERVICE, specifier_items};
use crate::store::{SessionKind, StoredItem};

pub use super::by_name::entry;
pub use super::no_hints::{created_path, delete_at, get_at};
/// The Keychain item carries only its service and account.
pub use super::no_limits::{check_length, label};

pub const NAME: &str = "macOS Keychain";
pub const REMEDY: &str = "unlock the login keychain (`security unlock-keychain`), or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";

pub fn connect(_session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

pub fn items(store: &Arc<CredentialStore>, _home: &str) -> keyring_core::Result<Vec<StoredItem>> {
    let spec = HashMap::from([("service", SERVICE)]);
    Ok(specifier_items(Entry::search_in_store(store, &spec)?))
}
