//! Docker's own `config.json`: read it, change only what we must, write it back safely.
//!
//! Keys keep their order (serde_json `preserve_order`), the file keeps its
//! mode, a timestamped backup goes beside it, and the write is atomic. A file
//! that is not valid JSON is never touched. The file may hold plaintext
//! logins, so its bytes and every string read from it are wiped when done.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::fsutil::{self, FsError};

pub const BACKUP_MARK: &str = ".pat-backup-";

/// The helper's name as config.json refers to it (`credsStore`, `credHelpers`).
pub const HELPER_NAME: &str = "pat";

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error(
        "{path} is not valid JSON (line {line}, column {column}); fix it by hand, nothing was changed"
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{path} is valid JSON but not an object; fix it by hand, nothing was changed")]
    NotObject { path: PathBuf },
    #[error("no backup of {0} to restore")]
    NoBackup(PathBuf),
    #[error(transparent)]
    Fs(#[from] FsError),
}

pub struct DockerConfig {
    pub path: PathBuf,
    pub root: Map<String, Value>,
    /// The file's bytes as read, or `None` if it did not exist.
    original: Option<Zeroizing<Vec<u8>>>,
    /// The contents as read, to tell whether anything changed.
    loaded: Map<String, Value>,
    mode: Option<u32>,
}

impl DockerConfig {
    pub fn load(dir: &Path) -> Result<Self, DockerConfigError> {
        Self::load_file(&dir.join("config.json"))
    }

    /// Any file of config.json's shape: containers' auth.json has the same
    /// `auths` and `credHelpers`, and is kept the same careful way.
    pub fn load_file(path: &Path) -> Result<Self, DockerConfigError> {
        let path = path.to_owned();
        let original = fsutil::read_optional(&path)?.map(Zeroizing::new);
        let root = match &original {
            None => Map::new(),
            Some(bytes) => parse(bytes, &path)?,
        };
        let mode = file_mode(&path);
        Ok(Self {
            path,
            loaded: root.clone(),
            root,
            original,
            mode,
        })
    }

    pub fn exists(&self) -> bool {
        self.original.is_some()
    }

    /// The file as Docker writes it: tab-indented.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut *out, formatter);
        self.root
            .serialize(&mut serializer)
            .expect("a JSON map always serialises");
        out
    }

    /// True when the contents differ from what was read.
    pub fn changed(&self) -> bool {
        self.root != self.loaded
    }

    /// Copies the current file beside itself; returns the backup's path.
    pub fn backup(&self) -> Result<Option<PathBuf>, DockerConfigError> {
        let Some(original) = &self.original else {
            return Ok(None);
        };
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!("{BACKUP_MARK}{stamp}"));
        let backup = self.path.with_file_name(name);
        fsutil::write_atomic(&backup, original)?;
        Ok(Some(backup))
    }

    /// Writes the file atomically, keeping its permission mode.
    pub fn save(&self) -> Result<(), DockerConfigError> {
        if let Some(dir) = self.path.parent() {
            fsutil::ensure_dir(dir)?;
        }
        fsutil::write_atomic_with_mode(
            &self.path,
            &self.to_bytes(),
            Some(self.mode.unwrap_or(0o600)),
        )?;
        Ok(())
    }

    /// The newest backup beside the file.
    pub fn latest_backup(&self) -> Option<PathBuf> {
        let dir = self.path.parent()?;
        let prefix = format!("{}{BACKUP_MARK}", self.path.file_name()?.to_string_lossy());
        let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        backups.sort();
        backups.pop()
    }

    /// Puts the newest backup back in place.
    pub fn restore_latest_backup(&self) -> Result<PathBuf, DockerConfigError> {
        let backup = self
            .latest_backup()
            .ok_or_else(|| DockerConfigError::NoBackup(self.path.clone()))?;
        let bytes = fsutil::read_optional(&backup)?
            .ok_or_else(|| DockerConfigError::NoBackup(self.path.clone()))?;
        fsutil::write_atomic_with_mode(&self.path, &bytes, Some(self.mode.unwrap_or(0o600)))?;
        Ok(backup)
    }

    /// `credsStore`: the helper for every registry without a `credHelpers` entry.
    pub fn creds_store(&self) -> Option<&str> {
        self.root.get("credsStore").and_then(Value::as_str)
    }

    /// `credHelpers` entries as (registry key, helper name).
    pub fn cred_helpers(&self) -> Vec<(String, String)> {
        self.root
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|helpers| {
                helpers
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The helper Docker runs for the registry written as `key`.
    pub fn helper_for(&self, key: &str) -> Option<&str> {
        helper_in(&self.root, key)
    }

    /// Sends every registry to this helper; returns the `credsStore` it replaces.
    pub fn use_helper_for_all(&mut self) -> Option<String> {
        let previous = self.creds_store().map(str::to_owned);
        self.root.insert("credsStore".into(), HELPER_NAME.into());
        previous.filter(|p| p != HELPER_NAME)
    }

    /// Sends the registry written as `key` to this helper, whatever `credsStore` says.
    pub fn use_helper_for(&mut self, key: &str) {
        self.object_mut("credHelpers")
            .insert(key.to_owned(), HELPER_NAME.into());
    }

    /// Stops sending registries to this helper: `credsStore` (unless `keys`
    /// narrows it down) and the `credHelpers` entries naming it. Entries for
    /// other helpers stay. Returns what was removed, for the message.
    pub fn stop_using_helper(&mut self, keys: &[String]) -> Vec<String> {
        let mut removed = Vec::new();
        if keys.is_empty() && self.creds_store() == Some(HELPER_NAME) {
            self.root.remove("credsStore");
            removed.push("credsStore".to_owned());
        }
        if let Some(helpers) = self
            .root
            .get_mut("credHelpers")
            .and_then(Value::as_object_mut)
        {
            let had_entries = !helpers.is_empty();
            helpers.retain(|key, helper| {
                let ours = helper.as_str() == Some(HELPER_NAME)
                    && (keys.is_empty() || keys.iter().any(|k| k == key));
                if ours {
                    removed.push(format!("credHelpers.{key}"));
                }
                !ours
            });
            if had_entries && helpers.is_empty() {
                self.root.remove("credHelpers");
            }
        }
        removed
    }

    /// The `credHelpers` object, created if missing.
    pub fn object_mut(&mut self, key: &str) -> &mut Map<String, Value> {
        let entry = self
            .root
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().expect("made an object above")
    }
}

/// The top-level object of a config.json holding `bytes`; blank is empty.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Map<String, Value>, DockerConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(mut other) => {
            wipe(&mut other);
            Err(DockerConfigError::NotObject {
                path: path.to_owned(),
            })
        }
        Err(e) => Err(DockerConfigError::Invalid {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
        }),
    }
}

impl Drop for DockerConfig {
    fn drop(&mut self) {
        for map in [&mut self.root, &mut self.loaded] {
            map.values_mut().for_each(wipe);
        }
    }
}

/// Overwrites every string in `value` before it is freed: the `auth`,
/// `password` and `identitytoken` fields among them hold secrets.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(fields) => fields.values_mut().for_each(wipe),
        _ => {}
    }
}

/// The helper config.json names for `key`: its `credHelpers` entry (matched
/// exactly, as Docker does), else `credsStore`.
pub fn helper_in<'a>(root: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    root.get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| helpers.get(key))
        .and_then(Value::as_str)
        .or_else(|| root.get("credsStore").and_then(Value::as_str))
}

fn file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_the_helper_keeps_other_helpers_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore":"pat","credHelpers":{"ghcr.io":"pat","gcr.io":"gcloud"},"detachKeys":"x"}"#,
        )
        .unwrap();
        let mut config = DockerConfig::load(dir.path()).unwrap();
        assert_eq!(config.helper_for("ghcr.io"), Some("pat"));
        assert_eq!(config.helper_for("gcr.io"), Some("gcloud"));
        assert_eq!(
            config.helper_for("quay.io"),
            Some("pat"),
            "credsStore is the fallback"
        );
        let removed = config.stop_using_helper(&[]);
        assert_eq!(removed, ["credsStore", "credHelpers.ghcr.io"]);
        assert_eq!(
            serde_json::Value::Object(config.root.clone()),
            serde_json::json!({"credHelpers": {"gcr.io": "gcloud"}, "detachKeys": "x"})
        );
        config.use_helper_for("ghcr.io");
        assert!(config.stop_using_helper(&["gcr.io".into()]).is_empty());
        assert_eq!(
            config.stop_using_helper(&["ghcr.io".into()]),
            ["credHelpers.ghcr.io"]
        );
    }

    #[test]
    fn wiping_empties_every_string_at_any_depth() {
        let mut value = serde_json::json!({
            "auths": {"ghcr.io": {"auth": "c2VjcmV0", "n": 1, "list": ["a", {"b": "c"}]}}
        });
        wipe(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"auths": {"ghcr.io": {"auth": "", "n": 1, "list": ["", {"b": ""}]}}})
        );
    }

    #[test]
    fn keys_keep_their_order_and_invalid_json_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{\"zeta\": 1, \"alpha\": {\"b\": 2, \"a\": 1}}").unwrap();
        let mut config = DockerConfig::load(dir.path()).unwrap();
        config.root.insert("credsStore".into(), "pat".into());
        config.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (z, a, c) = (
            text.find("zeta").unwrap(),
            text.find("alpha").unwrap(),
            text.find("credsStore").unwrap(),
        );
        assert!(z < a && a < c, "{text}");
        std::fs::write(&path, "{broken").unwrap();
        let err = DockerConfig::load(dir.path()).err().unwrap();
        assert!(err.to_string().contains("not valid JSON"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{broken");
    }
}
