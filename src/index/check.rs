//! What an index file must be to be trusted, and the error when it is not.
//!
//! Every reader applies the same checks, the whole index and the hot paths
//! alike, so a file one reader refuses is damaged for all of them.

use std::path::{Path, PathBuf};

use super::record::RegistryRecord;
use crate::fsutil::FsError;
use crate::names::Integration;
use crate::registry::Registry;

/// Bucket files, and `index.json` once it only marks that layout (see `layout`).
pub(super) const FORMAT_VERSION: u32 = 2;
/// `index.json` holding every token, as the first versions wrote it.
pub(super) const LEGACY_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "index file {path} is damaged (line {line}: {message}); run `docker-credential-pat doctor --repair` to rebuild it from the secret store"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "index file {path} was written by a newer docker-credential-pat (format {found}); upgrade this one"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl IndexError {
    /// A parse error, without serde's position suffix (the line is reported separately).
    pub(super) fn corrupt(path: &Path, e: &serde_json::Error) -> Self {
        let message = e.to_string();
        let message = message
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_owned();
        IndexError::Corrupt {
            path: path.to_owned(),
            line: e.line(),
            message,
        }
    }

    /// The whole file must be UTF-8. serde_json skips unknown fields without
    /// looking, so without this a stray byte there passed the full parse while
    /// `get`'s snapshot refused the same file. (The snapshot paths check only
    /// what they read, to keep `get` from scanning the whole file.)
    pub(super) fn check_utf8(bytes: &[u8], path: &Path) -> Result<(), Self> {
        std::str::from_utf8(bytes)
            .map(|_| ())
            .map_err(|e| IndexError::Corrupt {
                path: path.to_owned(),
                line: 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                message: "it is not valid UTF-8".into(),
            })
    }
}

pub(crate) fn damaged(path: &Path, message: String) -> IndexError {
    IndexError::Corrupt {
        path: path.to_owned(),
        line: 0,
        message,
    }
}

/// A file from a newer version is refused before its records are read.
pub(super) fn check_version(version: u32, path: &Path) -> Result<(), IndexError> {
    if version > FORMAT_VERSION {
        return Err(IndexError::TooNew {
            path: path.to_owned(),
            found: version,
        });
    }
    Ok(())
}

/// A registry key must be canonical, or lookups would silently miss it.
pub(super) fn check_key(key: &str, path: &Path) -> Result<Registry, IndexError> {
    if let Some(registry) = Registry::from_key(key) {
        return Ok(registry);
    }
    Err(match Registry::parse(key) {
        Err(e) => damaged(path, format!("registry {key:?}: {e}")),
        Ok(_) => damaged(path, format!("registry {key:?} is not in canonical form")),
    })
}

/// Integration names must be valid and the default must exist.
pub(super) fn check_record<T>(
    key: &str,
    record: &RegistryRecord<T>,
    path: &Path,
) -> Result<(), IndexError> {
    for name in record.tokens.keys() {
        Integration::parse(name).map_err(|e| damaged(path, e.to_string()))?;
    }
    if let Some(default) = &record.default
        && !record.tokens.contains_key(default)
    {
        return Err(damaged(
            path,
            format!("default token {default:?} of {key} does not exist"),
        ));
    }
    Ok(())
}
