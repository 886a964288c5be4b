//! The index: everything about tokens that is not secret.
//!
//! Addresses, usernames, integrations, timestamps and flags live in one JSON
//! file beside the secrets' store, so `list` never touches a secret. Each token
//! points at its secret by a random reference, which makes rename an index-only
//! change and rotation atomic: the new secret is written first, then one index
//! commit switches to it and schedules the old one for removal.
//!
//! - `record`: what the index holds: a token's record, a registry's tokens
//!   and default, and the whole index in memory;
//! - `check`: what a file must be to be trusted, and [`IndexError`];
//! - `layout`: the files on disk, `index.json` and its buckets;
//! - `read`: the whole index, read;
//! - `snapshot` and `listing`: the protocol's hot paths, which read only the
//!   part `get` or `list` uses;
//! - `write`: the writer that holds the data lock and saves what changed.

mod check;
mod layout;
mod listing;
mod read;
mod record;
mod snapshot;
#[cfg(test)]
mod tests;
mod write;

pub use check::IndexError;
pub(crate) use layout::bucket_of;
pub use layout::registry_file;
pub use listing::ListedToken;
pub use record::{
    HubLink, HubResource, Index, RegistryRecord, RemoteLink, RemoteOwner, RemoteView, Retiring,
    Rotating, SecretRef, Selectable, TokenEntry, TokenRecord,
};
pub use snapshot::Snapshot;
pub use write::IndexWriter;
