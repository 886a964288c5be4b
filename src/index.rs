//! The index: everything about tokens that is not secret.
//!
//! Addresses, usernames, integrations, timestamps and flags live in one JSON
//! file beside the secrets' store, so `list` never touches a secret. Each token
//! points at its secret by a random reference, which makes rename an index-only
//! change and rotation atomic: the new secret is written first, then one index
//! commit switches to it and schedules the old one for removal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Paths;
use crate::fsutil::{self, FileLock, FsError};
use crate::names::{Integration, TokenName};
use crate::policy::SecretKind;
use crate::registry::Registry;
use crate::store::BackendKind;

const FORMAT_VERSION: u32 = 1;

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
}

impl IndexError {
    /// A parse error, without serde's position suffix (the line is reported separately).
    fn corrupt(path: &Path, e: &serde_json::Error) -> Self {
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
    fn check_utf8(bytes: &[u8], path: &Path) -> Result<(), Self> {
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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Index {
    pub version: u32,
    /// Canonical registry key → its tokens.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryRecord>,
    /// Secrets no token refers to any more, still to be removed from their store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<SecretRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryRecord<T = TokenRecord> {
    /// The integration `get` uses when `DOCKER_PAT_INTEGRATION` is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default = "BTreeMap::new")]
    pub tokens: BTreeMap<String, T>,
}

impl<T> Default for RegistryRecord<T> {
    fn default() -> Self {
        Self {
            default: None,
            tokens: BTreeMap::new(),
        }
    }
}

/// What the protocol's selection rule needs to know of a token.
pub trait Selectable {
    fn is_active(&self) -> bool;
}

impl Selectable for TokenRecord {
    fn is_active(&self) -> bool {
        self.active
    }
}

impl<T: Selectable> RegistryRecord<T> {
    /// The chosen integration, or else the default, and only while it is active.
    pub fn select(&self, integration: Option<&Integration>) -> Option<(Integration, &T)> {
        let name = match integration {
            Some(integration) => integration.as_str(),
            None => self.default.as_deref()?,
        };
        let token = self.tokens.get(name).filter(|t| t.is_active())?;
        Some((Integration::parse(name).ok()?, token))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Stable for the token's life; usage records refer to it.
    pub id: String,
    /// Where the current secret is.
    pub secret: SecretRef,
    pub username: String,
    /// The address as the client stored it, reported by `list`.
    pub server_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub rotated_at: DateTime<Utc>,
    pub active: bool,
    pub kind: SecretKind,
}

/// A secret's place: which backend, under which item name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretRef {
    pub backend: BackendKind,
    pub item: String,
    /// Where the store put the item (a Secret Service object path), so `get`
    /// can skip the search; checked against the item name on every use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl SecretRef {
    pub fn new(backend: BackendKind) -> Self {
        Self {
            backend,
            item: crate::ids::new_id(),
            hint: None,
        }
    }
}

/// A token together with its place in the index.
pub struct TokenEntry<'a> {
    pub name: TokenName,
    pub record: &'a TokenRecord,
    pub is_default: bool,
}

impl Index {
    /// Reads the index; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Self, IndexError> {
        match fsutil::read_private(path)? {
            None => Ok(Self {
                version: FORMAT_VERSION,
                ..Self::default()
            }),
            Some(bytes) => Self::parse(&bytes, path),
        }
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, IndexError> {
        IndexError::check_utf8(bytes, path)?;
        let index: Index =
            serde_json::from_slice(bytes).map_err(|e| IndexError::corrupt(path, &e))?;
        if index.version > FORMAT_VERSION {
            return Err(IndexError::TooNew {
                path: path.to_owned(),
                found: index.version,
            });
        }
        index.check(path)?;
        Ok(index)
    }

    /// Rejects an index whose keys a person may have mangled by hand.
    fn check(&self, path: &Path) -> Result<(), IndexError> {
        for (key, record) in &self.registries {
            check_key(key, path)?;
            check_record(key, record, path)?;
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Compact: `get` and `list` parse this file on every call.
        let mut bytes = serde_json::to_vec(self).expect("the index always serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn registry(&self, registry: &Registry) -> Option<&RegistryRecord> {
        self.registries.get(registry.key())
    }

    pub fn token(&self, name: &TokenName) -> Option<&TokenRecord> {
        self.registry(&name.registry)?
            .tokens
            .get(name.integration.as_str())
    }

    pub fn token_mut(&mut self, name: &TokenName) -> Option<&mut TokenRecord> {
        self.registries
            .get_mut(name.registry.key())?
            .tokens
            .get_mut(name.integration.as_str())
    }

    /// The token the protocol uses for `registry`: the chosen integration, or
    /// else the registry's default, and only while it is active.
    pub fn select(
        &self,
        registry: &Registry,
        integration: Option<&Integration>,
    ) -> Option<(Integration, &TokenRecord)> {
        self.registry(registry)?.select(integration)
    }

    /// Every token, ordered by registry and integration.
    pub fn entries(&self) -> impl Iterator<Item = TokenEntry<'_>> {
        self.registries
            .iter()
            .filter_map(|(key, record)| Some((Registry::parse(key).ok()?, record)))
            .flat_map(|(registry, record)| {
                record
                    .tokens
                    .iter()
                    .filter_map(move |(integration, token)| {
                        Some(TokenEntry {
                            name: TokenName::new(
                                Integration::parse(integration).ok()?,
                                registry.clone(),
                            ),
                            record: token,
                            is_default: record.default.as_deref() == Some(integration),
                        })
                    })
            })
    }

    /// Every token name, for suggestions when a person mistypes one.
    pub fn names(&self) -> Vec<String> {
        self.entries().map(|e| e.name.to_string()).collect()
    }

    /// Every secret the index refers to, current or retired.
    pub fn referenced_secrets(&self) -> impl Iterator<Item = &SecretRef> {
        self.registries
            .values()
            .flat_map(|r| r.tokens.values().map(|t| &t.secret))
            .chain(self.retired.iter())
    }

    /// Removes a token; its secret goes on the retired list. Returns the record.
    pub fn remove(&mut self, name: &TokenName) -> Option<TokenRecord> {
        let record = self.registries.get_mut(name.registry.key())?;
        let token = record.tokens.remove(name.integration.as_str())?;
        if record.default.as_deref() == Some(name.integration.as_str()) {
            record.default = None;
        }
        if record.tokens.is_empty() {
            self.registries.remove(name.registry.key());
        }
        self.retired.push(token.secret.clone());
        Some(token)
    }

    /// Inserts a token record, returning the secret it replaced (now retired).
    pub fn insert(&mut self, name: &TokenName, token: TokenRecord) {
        let record = self
            .registries
            .entry(name.registry.key().to_owned())
            .or_default();
        if let Some(old) = record
            .tokens
            .insert(name.integration.as_str().to_owned(), token)
            && old.secret != record.tokens[name.integration.as_str()].secret
        {
            self.retired.push(old.secret);
        }
    }

    pub fn set_default(&mut self, name: &TokenName) {
        if let Some(record) = self.registries.get_mut(name.registry.key()) {
            record.default = Some(name.integration.as_str().to_owned());
        }
    }
}

fn damaged(path: &Path, message: String) -> IndexError {
    IndexError::Corrupt {
        path: path.to_owned(),
        line: 0,
        message,
    }
}

/// A registry key must be canonical, or lookups would silently miss it.
fn check_key(key: &str, path: &Path) -> Result<Registry, IndexError> {
    let registry =
        Registry::parse(key).map_err(|e| damaged(path, format!("registry {key:?}: {e}")))?;
    if registry.key() != key {
        return Err(damaged(
            path,
            format!("registry {key:?} is not in canonical form"),
        ));
    }
    Ok(registry)
}

/// Integration names must be valid and the default must exist.
fn check_record<T>(key: &str, record: &RegistryRecord<T>, path: &Path) -> Result<(), IndexError> {
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

/// The index file as read for the protocol's hot paths, which parse only what they use:
/// `get` parses one registry, `list` only the fields it prints.
pub struct Snapshot {
    bytes: Vec<u8>,
    path: PathBuf,
}

/// The top level, with each registry left unparsed.
#[derive(Deserialize)]
struct Outline<'a> {
    version: u32,
    #[serde(borrow, default)]
    registries: BTreeMap<std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue>,
}

/// A token as `list` sees it; every other field is skipped unparsed.
#[derive(Deserialize)]
pub struct ListedToken {
    pub server_url: String,
    pub username: String,
    pub active: bool,
}

impl Selectable for ListedToken {
    fn is_active(&self) -> bool {
        self.active
    }
}

#[derive(Deserialize)]
struct ListOutline {
    version: u32,
    #[serde(default)]
    registries: BTreeMap<String, RegistryRecord<ListedToken>>,
}

impl Snapshot {
    /// Reads the index file; `None` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<Self>, IndexError> {
        Ok(fsutil::read_private(path)?.map(|bytes| Self::from_bytes(bytes, path.to_owned())))
    }

    /// The index as read from `path`.
    pub(crate) fn from_bytes(bytes: Vec<u8>, path: PathBuf) -> Self {
        Self { bytes, path }
    }

    fn corrupt(&self, e: serde_json::Error) -> IndexError {
        IndexError::corrupt(&self.path, &e)
    }

    fn check_version(&self, version: u32) -> Result<(), IndexError> {
        if version > FORMAT_VERSION {
            return Err(IndexError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        Ok(())
    }

    /// One registry's record, parsed in full; the others only scanned. Every
    /// key is still checked, so a mangled one is an error rather than "not found".
    pub fn registry(&self, registry: &Registry) -> Result<Option<RegistryRecord>, IndexError> {
        let outline: Outline<'_> =
            serde_json::from_slice(&self.bytes).map_err(|e| self.corrupt(e))?;
        self.check_version(outline.version)?;
        for key in outline.registries.keys() {
            check_key(key, &self.path)?;
        }
        let Some(raw) = outline.registries.get(registry.key()) else {
            return Ok(None);
        };
        let record: RegistryRecord =
            serde_json::from_str(raw.get()).map_err(|e| self.corrupt(e))?;
        check_record(registry.key(), &record, &self.path)?;
        Ok(Some(record))
    }

    /// Every registry with the fields `list` needs, checked as a whole index is.
    pub fn listing(&self) -> Result<Vec<(Registry, RegistryRecord<ListedToken>)>, IndexError> {
        let outline: ListOutline =
            serde_json::from_slice(&self.bytes).map_err(|e| self.corrupt(e))?;
        self.check_version(outline.version)?;
        outline
            .registries
            .into_iter()
            .map(|(key, record)| {
                let registry = check_key(&key, &self.path)?;
                check_record(&key, &record, &self.path)?;
                Ok((registry, record))
            })
            .collect()
    }
}

/// The index held under the exclusive lock; `commit` writes it back.
pub struct IndexWriter {
    _lock: FileLock,
    path: PathBuf,
    pub index: Index,
}

impl IndexWriter {
    /// Takes the data lock and reads the current index.
    pub fn begin(paths: &Paths) -> Result<Self, IndexError> {
        fsutil::ensure_private_dir(&paths.data_dir)?;
        let lock = FileLock::acquire(&paths.lock_file(), fsutil::LOCK_WAIT)?;
        let path = paths.index_file();
        let index = Index::load(&path)?;
        Ok(Self {
            _lock: lock,
            path,
            index,
        })
    }

    /// Takes the data lock even when the index file is damaged, for `doctor`.
    /// A damaged index reads as empty and its error comes back beside the
    /// writer; nothing is written until the caller decides. An index from a
    /// newer version is still an error: it must not be rebuilt over.
    /// The folder is left as it is: doctor reports and repairs it itself.
    pub fn begin_for_repair(paths: &Paths) -> Result<(Self, Option<IndexError>), IndexError> {
        fsutil::ensure_dir(&paths.data_dir)?;
        let lock = FileLock::acquire(&paths.lock_file(), fsutil::LOCK_WAIT)?;
        let path = paths.index_file();
        let (index, damage) = match Index::load(&path) {
            Ok(index) => (index, None),
            Err(e @ IndexError::Corrupt { .. }) => (Index::default(), Some(e)),
            Err(e) => return Err(e),
        };
        Ok((
            Self {
                _lock: lock,
                path,
                index,
            },
            damage,
        ))
    }

    /// Writes the index atomically, still holding the lock.
    pub fn save(&mut self) -> Result<(), IndexError> {
        self.index.version = FORMAT_VERSION;
        fsutil::write_atomic(&self.path, &self.index.to_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(item: &str, active: bool) -> TokenRecord {
        let now = Utc::now();
        TokenRecord {
            id: crate::ids::new_id(),
            secret: SecretRef {
                backend: BackendKind::Keychain,
                item: item.into(),
                hint: None,
            },
            username: "alice".into(),
            server_url: "https://index.docker.io/v1/".into(),
            description: None,
            created_at: now,
            rotated_at: now,
            active,
            kind: SecretKind::Token,
        }
    }

    fn name(text: &str) -> TokenName {
        TokenName::parse(text).unwrap()
    }

    #[test]
    fn select_uses_default_unless_an_integration_is_named() {
        let mut index = Index::default();
        index.insert(&name("laptop@docker.io"), token("a", true));
        index.insert(&name("ci@docker.io"), token("b", true));
        assert!(
            index.select(&Registry::DockerHub, None).is_none(),
            "no default chosen yet"
        );
        index.set_default(&name("laptop@docker.io"));
        assert_eq!(
            index
                .select(&Registry::DockerHub, None)
                .unwrap()
                .1
                .secret
                .item,
            "a"
        );
        let ci = Integration::parse("ci").unwrap();
        assert_eq!(
            index
                .select(&Registry::DockerHub, Some(&ci))
                .unwrap()
                .1
                .secret
                .item,
            "b"
        );
        let other = Integration::parse("other").unwrap();
        assert!(
            index.select(&Registry::DockerHub, Some(&other)).is_none(),
            "never falls back"
        );
    }

    #[test]
    fn inactive_tokens_are_not_selected() {
        let mut index = Index::default();
        index.insert(&name("default@docker.io"), token("a", false));
        index.set_default(&name("default@docker.io"));
        assert!(index.select(&Registry::DockerHub, None).is_none());
    }

    #[test]
    fn replacing_and_removing_retire_the_old_secret() {
        let mut index = Index::default();
        index.insert(&name("ci@ghcr.io"), token("old", true));
        index.insert(&name("ci@ghcr.io"), token("new", true));
        assert_eq!(
            index
                .retired
                .iter()
                .map(|r| r.item.as_str())
                .collect::<Vec<_>>(),
            ["old"]
        );
        index.set_default(&name("ci@ghcr.io"));
        index.remove(&name("ci@ghcr.io")).unwrap();
        assert!(index.registries.is_empty(), "an empty registry is dropped");
        assert_eq!(index.retired.len(), 2);
    }

    #[test]
    fn round_trips_through_json() {
        let mut index = Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        index.insert(&name("ci@docker.io"), token("a", true));
        index.set_default(&name("ci@docker.io"));
        let bytes = index.to_bytes();
        let again = Index::parse(&bytes, Path::new("index.json")).unwrap();
        assert_eq!(again.to_bytes(), bytes);
    }

    #[test]
    fn snapshot_reads_one_registry_and_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        let mut index = Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        index.insert(&name("ci@docker.io"), token("a", true));
        index.insert(&name("default@ghcr.io"), token("b", false));
        index.set_default(&name("ci@docker.io"));
        std::fs::write(&path, index.to_bytes()).unwrap();
        let snapshot = Snapshot::read(&path).unwrap().unwrap();
        let hub = snapshot.registry(&Registry::DockerHub).unwrap().unwrap();
        assert_eq!(hub.select(None).unwrap().1.secret.item, "a");
        assert!(
            snapshot
                .registry(&Registry::parse("quay.io").unwrap())
                .unwrap()
                .is_none()
        );
        let listing = snapshot.listing().unwrap();
        assert_eq!(listing.len(), 2);
        assert!(
            listing[1].1.select(None).is_none(),
            "ghcr.io has no default and an inactive token"
        );
        assert!(Snapshot::read(&dir.path().join("none")).unwrap().is_none());
        std::fs::write(&path, b"{\"version\":1,\"registries\":{\"docker.io\":").unwrap();
        let snapshot = Snapshot::read(&path).unwrap().unwrap();
        assert!(matches!(
            snapshot.registry(&Registry::DockerHub),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_stray_byte_where_get_would_refuse_it_is_damage_to_the_full_parse_too() {
        let bytes = b"{\"version\":1,\"registries\":{\"ghcr.io\":{\"unknown\":\"\xff\"}}}";
        let path = Path::new("index.json");
        let snapshot = Snapshot::from_bytes(bytes.to_vec(), path.to_owned());
        let ghcr = Registry::parse("ghcr.io").unwrap();
        assert!(snapshot.registry(&ghcr).is_err());
        assert!(matches!(
            Index::parse(bytes, path),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn damaged_index_is_an_error_naming_the_file() {
        let err = Index::parse(
            b"{\"version\":1,\"registries\":{",
            Path::new("/x/index.json"),
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("/x/index.json") && text.contains("doctor --repair"),
            "{text}"
        );
        let err = Index::parse(
            br#"{"version":1,"registries":{"Docker.IO":{"tokens":{}}}}"#,
            Path::new("i"),
        )
        .err();
        assert!(err.is_some(), "non-canonical key is rejected");
    }
}
