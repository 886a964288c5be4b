//! Generic credentials named `docker-credential-pat:ITEM`, so the entries of
//! docker-credential-wincred (named after the registry) are never touched.
//! The Credential Manager has no attributes, so the account goes in the
//! credential's user name and the rest in its comment, data folder included:
//! several data folders can share one Credential Manager without taking each
//! other's items for orphans.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use super::{KEYCHAIN_NAME, SERVICE};
use crate::store::{ItemMeta, SessionKind, StoreError, StoredItem};

pub use super::no_hints::{created_path, delete_at, get_at};

pub const NAME: &str = "Windows Credential Manager";
pub const REMEDY: &str = "sign in with a user profile that has a Credential Manager (service accounts and some remote sessions have none), or keep tokens in the encrypted vault instead: `docker-credential-pat vault init`";

const TARGET_PREFIX: &str = "docker-credential-pat:";
/// CRED_MAX_CREDENTIAL_BLOB_SIZE: what CredWriteW accepts for one secret.
const MAX_SECRET: usize = 2560;
/// CRED_MAX_STRING_LENGTH, for the comment.
const MAX_COMMENT: usize = 256;

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
pub fn items(store: &Arc<CredentialStore>, home: &str) -> keyring_core::Result<Vec<StoredItem>> {
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
