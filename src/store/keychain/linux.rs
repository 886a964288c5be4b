//! The Secret Service (GNOME Keyring, KWallet, KeePassXC), through this
//! crate's own client: items carry their registry, account, token id and
//! data folder as attributes, and the client remembers where it put each.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use super::{SERVICE, by_name, specifier_items};
use crate::store::secret_service;
use crate::store::{ItemMeta, SessionKind, StoredItem};

/// The Secret Service holds any length, and the attributes go in with the item.
pub use super::no_limits::{check_length, label};

pub const NAME: &str = "Secret Service";
pub const REMEDY: &str = "start a Secret Service (GNOME Keyring, KWallet or KeePassXC) in your D-Bus session, or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";

pub fn connect(session: SessionKind) -> keyring_core::Result<Arc<CredentialStore>> {
    secret_service::Store::connect(session)
}

pub fn entry(
    store: &Arc<CredentialStore>,
    item: &str,
    meta: Option<&ItemMeta>,
    home: &str,
) -> keyring_core::Result<Entry> {
    let Some(meta) = meta else {
        return by_name::entry(store, item, None, home);
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

pub fn items(store: &Arc<CredentialStore>, home: &str) -> keyring_core::Result<Vec<StoredItem>> {
    let spec = HashMap::from([("service", SERVICE), ("home", home)]);
    Ok(specifier_items(Entry::search_in_store(store, &spec)?))
}

pub fn created_path(entry: &Entry) -> Option<String> {
    secret_service::created_path(entry)
}

pub fn get_at(entry: &Entry, hint: &str) -> Option<Vec<u8>> {
    secret_service::get_at(entry, hint)
}

pub fn delete_at(entry: &Entry, hint: &str) -> bool {
    secret_service::delete_at(entry, hint)
}
