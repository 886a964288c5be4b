//! What a `hub create` or `hub rotate` had under way when it stopped: the
//! new Hub token it made, and what that token was for.
//!
//! Between the moment Hub hands over a new token and the moment the token is
//! known to be stored, only the running process knows of it. If the store's
//! answer is lost, or the record cannot follow the secret, the process ends
//! without knowing whether anything holds the new token. So before the
//! store, the intent is written to `hub-pending.json` in the data folder: the
//! token's name, the new Hub token's id, and a salted BLAKE2b fingerprint of
//! its secret (never the secret: a fingerprint of 160 random bits cannot be
//! turned back into it). The same command run again compares the stored
//! secret with the fingerprint: stored, it finishes the record and the
//! rotation; not stored, the new token is held by nobody and is deleted from
//! Hub. The entry goes once that is settled.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Paths;
use crate::fsutil::{self, FsError};
use crate::index::{HubResource, Retiring};
use crate::names::TokenName;
use crate::secret::Secret;

const FILE: &str = "hub-pending.json";

/// A new Hub token made for a stored token, not yet known to be stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The new token's id on Hub.
    pub uuid: String,
    salt: String,
    fingerprint: String,
    pub scopes: Vec<String>,
    /// The organisation whose access token it is; `None`: a personal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// What an organisation token reaches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<HubResource>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The Hub token it replaces (`hub rotate`), switched off once it is stored.
    pub replaces: Option<Retiring>,
    /// Asked to become the registry's default (`hub create --default`).
    pub make_default: bool,
    pub description: Option<String>,
}

impl Pending {
    pub(crate) fn new(uuid: &str, secret: &Secret) -> Self {
        let salt = crate::ids::random_hex(16);
        Self {
            uuid: uuid.to_owned(),
            fingerprint: fingerprint(&salt, secret),
            salt,
            scopes: Vec::new(),
            org: None,
            resources: Vec::new(),
            expires_at: None,
            replaces: None,
            make_default: false,
            description: None,
        }
    }

    /// True when `secret` is the new token's.
    pub(crate) fn is(&self, secret: &Secret) -> bool {
        fingerprint(&self.salt, secret) == self.fingerprint
    }

    fn path(paths: &Paths) -> std::path::PathBuf {
        paths.data_dir.join(FILE)
    }

    fn read_all(paths: &Paths) -> Result<BTreeMap<String, Pending>, FsError> {
        Ok(fsutil::read_optional(&Self::path(paths))?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default())
    }

    fn write_all(paths: &Paths, all: &BTreeMap<String, Pending>) -> Result<(), FsError> {
        if all.is_empty() {
            return match std::fs::remove_file(Self::path(paths)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FsError::Write {
                    path: Self::path(paths),
                    source: e,
                }),
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec_pretty(all).expect("pending entries serialise");
        fsutil::ensure_private_dir(&paths.data_dir)?;
        fsutil::write_atomic(&Self::path(paths), &text)
    }

    /// What was under way for `name`, if anything.
    pub(crate) fn of(paths: &Paths, name: &TokenName) -> Result<Option<Pending>, FsError> {
        Ok(Self::read_all(paths)?.remove(&name.to_string()))
    }

    /// Every token with something under way, for doctor.
    pub(crate) fn all(paths: &Paths) -> Vec<(String, Pending)> {
        Self::read_all(paths)
            .map(|all| all.into_iter().collect())
            .unwrap_or_default()
    }

    /// Notes that this is under way for `name`, replacing any earlier note.
    pub(crate) fn save(&self, paths: &Paths, name: &TokenName) -> Result<(), FsError> {
        let mut all = Self::read_all(paths)?;
        all.insert(name.to_string(), self.clone());
        Self::write_all(paths, &all)
    }

    /// Forgets what was under way for `name`.
    pub(crate) fn clear(paths: &Paths, name: &TokenName) -> Result<(), FsError> {
        let mut all = Self::read_all(paths)?;
        if all.remove(&name.to_string()).is_some() {
            Self::write_all(paths, &all)?;
        }
        Ok(())
    }
}

fn fingerprint(salt: &str, secret: &Secret) -> String {
    let mut input = zeroize::Zeroizing::new(Vec::with_capacity(salt.len() + 1 + secret.len()));
    input.extend_from_slice(salt.as_bytes());
    input.push(0);
    input.extend_from_slice(secret.expose_bytes());
    crate::kernel_keyring::short_hash(&input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_knows_its_secret_by_fingerprint_and_is_kept_per_token_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().join("pat"));
        let name = TokenName::parse("ci@docker.io").unwrap();
        let secret = Secret::from_str_copy("dckr_pat_new");
        let note = Pending::new("0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab", &secret);
        note.save(&paths, &name).unwrap();
        let text = std::fs::read_to_string(paths.data_dir.join(FILE)).unwrap();
        assert!(!text.contains("dckr_pat_new"), "{text}");
        let read = Pending::of(&paths, &name).unwrap().unwrap();
        assert!(read.is(&secret));
        assert!(!read.is(&Secret::from_str_copy("dckr_pat_old")));
        Pending::clear(&paths, &name).unwrap();
        assert!(Pending::of(&paths, &name).unwrap().is_none());
        assert!(!paths.data_dir.join(FILE).exists());
    }
}
