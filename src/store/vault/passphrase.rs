//! Where a vault passphrase comes from (a file, a variable, a person), and
//! the passphrase itself while it is in memory: wiped on drop, no `Debug`.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::prompt::PromptError;
use crate::secret::Secret;
use crate::store::StoreError;

/// Asks a person for a passphrase (the CLI passes a no-echo terminal prompt).
pub type AskFn = fn(&str) -> Result<Secret, PromptError>;

/// The longest passphrase read from a file or variable.
const MAX_PASSPHRASE: usize = 64 * 1024;

/// Where a vault passphrase may come from, in this order.
#[derive(Debug, Clone, Default)]
pub struct PassphraseSources {
    /// A file holding the passphrase (one trailing line break is ignored).
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding it, when that variable is set.
    pub env: Option<&'static str>,
    /// Asks a person when neither is set.
    pub ask: Option<AskFn>,
}

/// A passphrase in memory: wiped on drop, no `Debug`.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub fn from_secret(secret: &Secret) -> Self {
        Self(Zeroizing::new(secret.expose_bytes().to_vec()))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.0[..] == other.0[..]
    }
}

impl PassphraseSources {
    /// True when a passphrase can be had without asking anyone.
    pub fn unattended(&self) -> bool {
        self.file.is_some() || self.env.is_some()
    }

    /// Like this, but never asking a person.
    pub fn without_asking(&self) -> Self {
        Self {
            ask: None,
            ..self.clone()
        }
    }

    /// The passphrase from the first source that is set; `None` when none is.
    ///
    /// The variable is read only now, and copied straight into a zeroizing buffer.
    pub fn read(&self, prompt: &str) -> Result<Option<Passphrase>, StoreError> {
        if let Some(path) = &self.file {
            return read_passphrase_file(path).map(Some);
        }
        if let Some(name) = self.env
            && let Some(value) = std::env::var_os(name)
        {
            let bytes = Zeroizing::new(value.into_encoded_bytes());
            if bytes.len() > MAX_PASSPHRASE {
                return Err(StoreError::Failed(format!("{name} is longer than 64 KiB")));
            }
            if !bytes.is_empty() {
                return Ok(Some(Passphrase(bytes)));
            }
        }
        if let Some(ask) = self.ask {
            return match ask(prompt) {
                Ok(secret) if secret.is_empty() => {
                    Err(StoreError::Failed("no passphrase was entered".into()))
                }
                Ok(secret) => Ok(Some(Passphrase::from_secret(&secret))),
                Err(PromptError::NoTerminal) => Ok(None),
                Err(e) => Err(StoreError::Failed(format!(
                    "cannot read the passphrase: {e}"
                ))),
            };
        }
        Ok(None)
    }
}

fn read_passphrase_file(path: &Path) -> Result<Passphrase, StoreError> {
    use std::io::Read;
    let failed = |e: std::io::Error| {
        StoreError::Failed(format!(
            "cannot read the passphrase file {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    // All the room a passphrase may take, up front: a growing buffer would
    // leave copies behind in the blocks it outgrew.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE + 1));
    file.take(MAX_PASSPHRASE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() > MAX_PASSPHRASE {
        return Err(StoreError::Failed(format!(
            "the passphrase file {} is longer than 64 KiB",
            path.display()
        )));
    }
    for ending in [b'\n', b'\r'] {
        if bytes.last() == Some(&ending) {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(StoreError::Failed(format!(
            "the passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(Passphrase(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn passphrase_file_loses_one_line_break_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let crlf = file(dir.path(), "crlf", "pw\r\n");
        let read = read_passphrase_file(&crlf).unwrap();
        assert_eq!(read.bytes(), b"pw");
        let empty = file(dir.path(), "empty", "\n");
        assert!(read_passphrase_file(&empty).is_err());
        let missing = dir.path().join("missing");
        let err = read_passphrase_file(&missing).err().unwrap();
        assert!(err.to_string().contains("passphrase file"), "{err}");
    }

    #[test]
    fn a_long_passphrase_file_is_read_into_room_reserved_once() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(1000);
        let read = read_passphrase_file(&file(dir.path(), "long", &long)).unwrap();
        assert_eq!(read.bytes(), long.as_bytes());
        assert_eq!(
            read.0.capacity(),
            MAX_PASSPHRASE + 1,
            "never grown, so no copy is left in an outgrown block"
        );
    }
}
