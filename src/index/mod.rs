//! The index: everything about tokens that is not secret.
//!
//! Addresses, usernames, integrations, timestamps and flags live in one JSON
//! file beside the secrets' store, so `list` never touches a secret. Each token
//! points at its secret by a random reference, which makes rename an index-only
//! change and rotation atomic: the new secret is written first, then one index
//! commit switches to it and schedules the old one for removal.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Paths;
use crate::fsutil::{self, FileLock, FsError};
use crate::names::{Integration, TokenName};
use crate::policy::SecretKind;
use crate::registry::Registry;
use crate::store::BackendKind;
use layout::Layout;

mod layout;
mod listing;

pub(crate) use layout::bucket_of;

/// Bucket files, and `index.json` once it only marks that layout (see [`layout`]).
const FORMAT_VERSION: u32 = 2;
/// `index.json` holding every token, as the first versions wrote it.
const LEGACY_VERSION: u32 = 1;

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
    /// The registry each secret retired in this run belonged to: it is kept
    /// in that registry's file, so switching a token to a new secret and
    /// retiring the old one is one atomic write.
    #[serde(skip)]
    retired_from: HashMap<SecretRef, String>,
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
    /// When the token stops working, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The Docker Hub access token this secret is, once created or linked here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubLink>,
}

/// A token's counterpart on Docker Hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubLink {
    pub uuid: String,
    /// As Hub names them: `repo:admin`, `repo:write`, `repo:read`, `repo:public_read`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The token this one replaced, still active on Hub until a rotation finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<Retiring>,
    /// Hub's last use of the token when it was linked here: uses up to then
    /// were made before this helper held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_before_link: Option<DateTime<Utc>>,
}

/// A replaced Hub token still to be switched off: deactivated, or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retiring {
    pub uuid: String,
    pub delete: bool,
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
    /// Reads every token; no index yet is an empty index.
    pub fn load(paths: &Paths) -> Result<Self, IndexError> {
        let mut index = Self {
            version: FORMAT_VERSION,
            ..Self::default()
        };
        match layout::current(paths)? {
            Layout::Empty => {}
            Layout::Single(bytes) => index = Self::parse(&bytes, &paths.index_file())?,
            Layout::Buckets => {
                for (bucket, path) in layout::bucket_files(paths)? {
                    let Some(bytes) = fsutil::read_private(&path)? else {
                        continue;
                    };
                    index.absorb(Self::parse_bucket(&bytes, &path, bucket)?);
                }
            }
        }
        Ok(index)
    }

    /// One bucket file, whose registries must all belong to `bucket`.
    pub(crate) fn parse_bucket(bytes: &[u8], path: &Path, bucket: u8) -> Result<Self, IndexError> {
        let index = Self::parse(bytes, path)?;
        for key in index.registries.keys() {
            check_bucket(key, bucket, path)?;
        }
        // `list` reads the listing line on its own; a file it refuses is damaged
        // for every reader, not only for `list`.
        Snapshot::from_bytes(bytes.to_vec(), path.to_owned(), Some(bucket))
            .list(None, &mut Vec::new())?;
        Ok(index)
    }

    /// Adds another bucket's records.
    fn absorb(&mut self, other: Index) {
        self.registries.extend(other.registries);
        self.retired.extend(other.retired);
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, IndexError> {
        IndexError::check_utf8(bytes, path)?;
        // serde also reads a struct from a JSON array (`[1]`), which `list`'s
        // fast path rightly refuses: only an object is an index.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(IndexError::Corrupt {
                path: path.to_owned(),
                line: 1 + bytes
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .filter(|&&b| b == b'\n')
                    .count(),
                message: "it is not a JSON object".into(),
            });
        }
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

    /// A bucket file: the same object as [`Index::to_bytes`] with a `listing`
    /// first, holding only what `list` needs of each registry, and a line
    /// break after it. Compact JSON has no raw line break, so `list` parses
    /// the first line alone (a quarter of the bytes); the file stays one JSON
    /// object. Both parts are written from one index, so they always agree.
    fn to_bucket_bytes(&self) -> Vec<u8> {
        let listing: BTreeMap<&str, RegistryRecord<(&str, &str, bool)>> = self
            .registries
            .iter()
            .map(|(key, record)| {
                let tokens = record
                    .tokens
                    .iter()
                    .map(|(name, t)| {
                        (
                            name.clone(),
                            (t.server_url.as_str(), t.username.as_str(), t.active),
                        )
                    })
                    .collect();
                (
                    key.as_str(),
                    RegistryRecord {
                        default: record.default.clone(),
                        tokens,
                    },
                )
            })
            .collect();
        let fail = "the index always serialises";
        let mut out = format!("{{\"version\":{},\"listing\":", self.version).into_bytes();
        serde_json::to_writer(&mut out, &listing).expect(fail);
        out.extend_from_slice(b"\n,\"registries\":");
        serde_json::to_writer(&mut out, &self.registries).expect(fail);
        if !self.retired.is_empty() {
            out.extend_from_slice(b",\"retired\":");
            serde_json::to_writer(&mut out, &self.retired).expect(fail);
        }
        out.extend_from_slice(b"}\n");
        out
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
        self.retire(&name.registry, token.secret.clone());
        Some(token)
    }

    /// Puts a secret of `registry`'s on the retired list.
    pub fn retire(&mut self, registry: &Registry, secret: SecretRef) {
        self.retired_from
            .insert(secret.clone(), registry.key().to_owned());
        self.retired.push(secret);
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
            self.retire(&name.registry, old.secret);
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

/// The file that holds (or would hold) `registry`'s record.
pub fn registry_file(paths: &Paths, registry: &Registry) -> PathBuf {
    match layout::current(paths) {
        Ok(Layout::Buckets) => layout::bucket_path(paths, layout::bucket_of(registry.key())),
        _ => paths.index_file(),
    }
}

/// A registry found in another registry's bucket would be missed by `get`.
fn check_bucket(key: &str, bucket: u8, path: &Path) -> Result<(), IndexError> {
    if layout::bucket_of(key) != bucket {
        return Err(damaged(
            path,
            format!("registry {key:?} does not belong in this file"),
        ));
    }
    Ok(())
}

/// A registry key must be canonical, or lookups would silently miss it.
fn check_key(key: &str, path: &Path) -> Result<Registry, IndexError> {
    if let Some(registry) = Registry::from_key(key) {
        return Ok(registry);
    }
    Err(match Registry::parse(key) {
        Err(e) => damaged(path, format!("registry {key:?}: {e}")),
        Ok(_) => damaged(path, format!("registry {key:?} is not in canonical form")),
    })
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

/// An index file as read for the protocol's hot paths, which parse only what
/// they use: `get` reads one bucket and parses one registry of it, `list` only
/// the fields it prints.
pub struct Snapshot {
    bytes: Vec<u8>,
    path: PathBuf,
    /// The bucket this file holds; `None` for a first-format `index.json`.
    bucket: Option<u8>,
}

/// The top level, with each registry left unparsed.
#[derive(Deserialize)]
struct Outline<'a> {
    version: u32,
    #[serde(borrow, default)]
    registries: BTreeMap<Cow<'a, str>, &'a serde_json::value::RawValue>,
}

/// A token as `list` sees it, borrowed from the file where it can be; every
/// other field is skipped unparsed.
#[derive(Deserialize)]
pub struct ListedToken<'a> {
    #[serde(borrow)]
    pub server_url: Cow<'a, str>,
    #[serde(borrow)]
    pub username: Cow<'a, str>,
    pub active: bool,
}

impl Selectable for ListedToken<'_> {
    fn is_active(&self) -> bool {
        self.active
    }
}

impl Snapshot {
    /// The file holding `registry`'s record; `None` when there is none.
    pub fn of_registry(paths: &Paths, registry: &Registry) -> Result<Option<Self>, IndexError> {
        match layout::current(paths)? {
            Layout::Empty => Ok(None),
            Layout::Single(bytes) => Ok(Some(Self::single(paths, bytes))),
            Layout::Buckets => {
                let bucket = layout::bucket_of(registry.key());
                Ok(layout::read_bucket(paths, bucket)?.map(|bytes| Self {
                    bytes,
                    path: layout::bucket_path(paths, bucket),
                    bucket: Some(bucket),
                }))
            }
        }
    }

    /// Every index file, for `list`: of a bucket file only as much as holds
    /// its listing.
    pub fn all(paths: &Paths) -> Result<Vec<Self>, IndexError> {
        match layout::current(paths)? {
            Layout::Empty => Ok(Vec::new()),
            Layout::Single(bytes) => Ok(vec![Self::single(paths, bytes)]),
            Layout::Buckets => {
                let mut found = Vec::new();
                for (bucket, path) in layout::bucket_files(paths)? {
                    if let Some(bytes) = layout::read_listing_part(&path)? {
                        found.push(Self {
                            bytes,
                            path,
                            bucket: Some(bucket),
                        });
                    }
                }
                Ok(found)
            }
        }
    }

    /// An index file's bytes as read from `path`: the first format's whole
    /// index, or the bucket `bucket`.
    pub(crate) fn from_bytes(bytes: Vec<u8>, path: PathBuf, bucket: Option<u8>) -> Self {
        Self {
            bytes,
            path,
            bucket,
        }
    }

    fn single(paths: &Paths, bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            path: paths.index_file(),
            bucket: None,
        }
    }

    /// The `listing` at the head of a bucket file: its first line after the
    /// fixed prefix, a complete JSON value. `None` when the file was not
    /// written that way (it is then read whole).
    fn listing_head(&self) -> Option<&[u8]> {
        const PREFIX: &[u8] = b"{\"version\":2,\"listing\":";
        let rest = self
            .bytes
            .strip_prefix(PREFIX)
            .filter(|_| self.bucket.is_some())?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        (rest.get(end + 1) == Some(&b',')).then(|| &rest[..end])
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

    /// A key must be canonical and in its own bucket.
    fn check_key(&self, key: &str) -> Result<Registry, IndexError> {
        let registry = check_key(key, &self.path)?;
        if let Some(bucket) = self.bucket {
            check_bucket(key, bucket, &self.path)?;
        }
        Ok(registry)
    }

    /// One registry's record, parsed in full; the others only scanned. Every
    /// key is still checked, so a mangled one is an error rather than "not found".
    pub fn registry(&self, registry: &Registry) -> Result<Option<RegistryRecord>, IndexError> {
        let outline: Outline<'_> =
            serde_json::from_slice(&self.bytes).map_err(|e| self.corrupt(e))?;
        self.check_version(outline.version)?;
        for key in outline.registries.keys() {
            self.check_key(key)?;
        }
        let Some(raw) = outline.registries.get(registry.key()) else {
            return Ok(None);
        };
        let record: RegistryRecord =
            serde_json::from_str(raw.get()).map_err(|e| self.corrupt(e))?;
        check_record(registry.key(), &record, &self.path)?;
        Ok(Some(record))
    }

    /// Adds what `list` reports for this file to `out`: each registry's token
    /// for `integration` (else its default) while it is active, as (address,
    /// username). Checked as a whole index is.
    pub fn list(
        &self,
        integration: Option<&Integration>,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), IndexError> {
        fn run<'de, S: serde::de::DeserializeSeed<'de>>(
            bytes: &'de [u8],
            seed: S,
        ) -> serde_json::Result<S::Value> {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let value = seed.deserialize(&mut deserializer)?;
            deserializer.end()?;
            Ok(value)
        }
        let mut refused = None;
        let mut lister = listing::Lister {
            snapshot: self,
            wanted: integration.map(Integration::as_str),
            out,
            error: &mut refused,
        };
        let result = match self.listing_head() {
            Some(head) => run(head, &mut lister),
            None => run(&self.bytes, listing::WholeFile(&mut lister)).map(|_| ()),
        };
        result.map_err(|e| refused.take().unwrap_or_else(|| self.corrupt(e)))
    }
}

/// The part of the index a writer has loaded: every bucket, or some.
enum Scope {
    All,
    Buckets(BTreeSet<u8>),
}

impl Scope {
    fn contains(&self, bucket: u8) -> bool {
        match self {
            Scope::All => true,
            Scope::Buckets(set) => set.contains(&bucket),
        }
    }

    /// Where a newly retired secret is kept until it is removed from its store.
    fn home(&self) -> u8 {
        match self {
            Scope::All => 0,
            Scope::Buckets(set) => set.first().copied().unwrap_or(0),
        }
    }
}

/// The index held under the exclusive lock; `save` writes back what changed.
///
/// A writer for one registry loads and writes only that registry's bucket,
/// so `store` and `erase` cost the same whatever the number of tokens.
pub struct IndexWriter {
    _lock: FileLock,
    paths: Paths,
    pub index: Index,
    scope: Scope,
    /// Whether the bucket layout is in force (else the first save creates it).
    bucketed: bool,
    /// Each loaded bucket's bytes as last read or written (`None`: no file).
    on_disk: BTreeMap<u8, Option<Vec<u8>>>,
    /// The bucket each retired secret is kept in.
    homes: HashMap<SecretRef, u8>,
}

impl IndexWriter {
    /// Takes the data lock and reads the whole index.
    pub fn begin(paths: &Paths) -> Result<Self, IndexError> {
        Self::open(paths, None, false).map(|(writer, _)| writer)
    }

    /// Takes the data lock and reads only what concerns `registry`.
    pub fn begin_for(paths: &Paths, registry: &Registry) -> Result<Self, IndexError> {
        Self::open(paths, Some(registry), false).map(|(writer, _)| writer)
    }

    /// Takes the data lock even when index files are damaged, for `doctor`.
    /// A damaged file reads as empty and its error comes back beside the
    /// writer; nothing is written until the caller decides. An index from a
    /// newer version is still an error: it must not be rebuilt over.
    pub fn begin_for_repair(paths: &Paths) -> Result<(Self, Option<IndexError>), IndexError> {
        Self::open(paths, None, true)
    }

    fn open(
        paths: &Paths,
        registry: Option<&Registry>,
        lenient: bool,
    ) -> Result<(Self, Option<IndexError>), IndexError> {
        // For doctor the folder is left as it is: it reports and repairs it itself.
        if lenient {
            fsutil::ensure_dir(&paths.data_dir)?;
        } else {
            fsutil::ensure_private_dir(&paths.data_dir)?;
        }
        let lock = FileLock::acquire(&paths.lock_file(), fsutil::LOCK_WAIT)?;
        let mut damage = None;
        // A damaged `index.json` in front of intact buckets loses nothing:
        // the buckets are read, and the first save writes the marker again.
        let mut rewrite_marker = false;
        let layout = match layout::current(paths) {
            Err(e @ IndexError::Corrupt { .. }) if lenient => {
                damage = Some(e);
                rewrite_marker = true;
                if layout::bucket_files(paths)?.is_empty() {
                    Layout::Empty
                } else {
                    Layout::Buckets
                }
            }
            other => other?,
        };
        let mut tolerate = |result: Result<Index, IndexError>| match result {
            Ok(index) => Ok(index),
            Err(e @ IndexError::Corrupt { .. }) if lenient => {
                damage.get_or_insert(e);
                Ok(Index::default())
            }
            Err(e) => Err(e),
        };
        let mut writer = Self {
            _lock: lock,
            paths: paths.clone(),
            index: Index {
                version: FORMAT_VERSION,
                ..Index::default()
            },
            scope: Scope::All,
            bucketed: matches!(layout, Layout::Buckets) && !rewrite_marker,
            on_disk: BTreeMap::new(),
            homes: HashMap::new(),
        };
        match layout {
            Layout::Empty => {}
            Layout::Single(bytes) => {
                let index = tolerate(Index::parse(&bytes, &paths.index_file()))?;
                writer.index.absorb(index);
            }
            Layout::Buckets => {
                let files: Vec<(u8, PathBuf)> = match registry {
                    Some(registry) => {
                        let bucket = layout::bucket_of(registry.key());
                        writer.scope = Scope::Buckets(BTreeSet::from([bucket]));
                        vec![(bucket, layout::bucket_path(paths, bucket))]
                    }
                    None => layout::bucket_files(paths)?,
                };
                for (bucket, path) in files {
                    let bytes = fsutil::read_private(&path)?;
                    if let Some(bytes) = &bytes {
                        let index = tolerate(Index::parse_bucket(bytes, &path, bucket))?;
                        for secret in &index.retired {
                            writer.homes.insert(secret.clone(), bucket);
                        }
                        writer.index.absorb(index);
                    }
                    writer.on_disk.insert(bucket, bytes);
                }
            }
        }
        Ok((writer, damage))
    }

    /// Writes what changed atomically, bucket by bucket, still holding the lock.
    /// Each token lives in one bucket, so a crash between two buckets leaves
    /// every token either as it was or as it is now.
    pub fn save(&mut self) -> Result<(), IndexError> {
        let mut buckets: BTreeMap<u8, Index> = BTreeMap::new();
        let empty = || Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        for (key, record) in &self.index.registries {
            let bucket = layout::bucket_of(key);
            if !self.scope.contains(bucket) {
                return Err(IndexError::Internal(
                    "a registry outside the loaded part of the index was changed",
                ));
            }
            buckets
                .entry(bucket)
                .or_insert_with(empty)
                .registries
                .insert(key.clone(), record.clone());
        }
        let home = self.scope.home();
        for secret in &self.index.retired {
            let bucket = *self.homes.entry(secret.clone()).or_insert_with(|| {
                self.index
                    .retired_from
                    .get(secret)
                    .map_or(home, |key| layout::bucket_of(key))
            });
            if !self.scope.contains(bucket) {
                return Err(IndexError::Internal(
                    "a secret of a registry outside the loaded part of the index was retired",
                ));
            }
            buckets
                .entry(bucket)
                .or_insert_with(empty)
                .retired
                .push(secret.clone());
        }
        let bytes: BTreeMap<u8, Vec<u8>> = buckets
            .into_iter()
            .map(|(bucket, index)| (bucket, index.to_bucket_bytes()))
            .collect();
        if !self.bucketed {
            layout::create(&self.paths, &bytes)?;
            self.bucketed = true;
        } else {
            let touched: BTreeSet<u8> = self.on_disk.keys().chain(bytes.keys()).copied().collect();
            for bucket in touched {
                let new = bytes.get(&bucket);
                if self.on_disk.get(&bucket).and_then(Option::as_ref) != new {
                    layout::write_bucket(&self.paths, bucket, new.map(Vec::as_slice))?;
                }
            }
        }
        self.on_disk = bytes.into_iter().map(|(b, v)| (b, Some(v))).collect();
        if let Scope::Buckets(set) = &self.scope {
            for bucket in set {
                self.on_disk.entry(*bucket).or_insert(None);
            }
        }
        self.homes
            .retain(|secret, _| self.index.retired.contains(secret));
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
            expires_at: None,
            hub: None,
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

    fn paths(dir: &Path) -> Paths {
        Paths {
            config_dir: dir.into(),
            data_dir: dir.into(),
        }
    }

    fn legacy_index() -> Index {
        let mut index = Index {
            version: LEGACY_VERSION,
            ..Index::default()
        };
        index.insert(&name("ci@docker.io"), token("a", true));
        index.insert(&name("default@ghcr.io"), token("b", false));
        index.set_default(&name("ci@docker.io"));
        index
    }

    #[test]
    fn records_without_expiry_or_hub_link_still_read_and_write_the_same() {
        let old = br#"{"version":1,"registries":{"docker.io":{"default":"ci","tokens":{"ci":{"id":"i","secret":{"backend":"keychain","item":"s"},"username":"alice","server_url":"docker.io","created_at":"2026-01-01T00:00:00Z","rotated_at":"2026-01-01T00:00:00Z","active":true,"kind":"token"}}}}}"#;
        let index = Index::parse(old, Path::new("i")).unwrap();
        let token = index.token(&name("ci@docker.io")).unwrap();
        assert!(token.expires_at.is_none() && token.hub.is_none());
        assert_eq!(index.to_bytes(), [&old[..], b"\n"].concat());
        let mut index = index;
        let token = index.token_mut(&name("ci@docker.io")).unwrap();
        token.expires_at = Some("2027-03-01T00:00:00Z".parse().unwrap());
        token.hub = Some(HubLink {
            uuid: "u".into(),
            scopes: vec!["repo:read".into()],
            retiring: None,
            used_before_link: None,
        });
        let again = Index::parse(&index.to_bytes(), Path::new("i")).unwrap();
        let token = again.token(&name("ci@docker.io")).unwrap();
        assert_eq!(token.hub.as_ref().unwrap().scopes, ["repo:read"]);
        assert_eq!(
            token.expires_at.unwrap().to_rfc3339(),
            "2027-03-01T00:00:00+00:00"
        );
    }

    #[test]
    fn snapshot_reads_one_registry_and_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        assert!(
            Snapshot::of_registry(&paths, &Registry::DockerHub)
                .unwrap()
                .is_none()
        );
        assert!(Snapshot::all(&paths).unwrap().is_empty());
        std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
        for converted in [false, true] {
            if converted {
                IndexWriter::begin(&paths).unwrap().save().unwrap();
            }
            let snapshot = Snapshot::of_registry(&paths, &Registry::DockerHub)
                .unwrap()
                .unwrap();
            let hub = snapshot.registry(&Registry::DockerHub).unwrap().unwrap();
            assert_eq!(hub.select(None).unwrap().1.secret.item, "a");
            let quay = Registry::parse("quay.io").unwrap();
            assert!(
                Snapshot::of_registry(&paths, &quay)
                    .unwrap()
                    .is_none_or(|s| s.registry(&quay).unwrap().is_none())
            );
            let mut listed = Vec::new();
            for snapshot in Snapshot::all(&paths).unwrap() {
                snapshot.list(None, &mut listed).unwrap();
            }
            // ghcr.io has no default and an inactive token.
            assert_eq!(
                listed,
                [("https://index.docker.io/v1/".to_owned(), "alice".to_owned())]
            );
            let ci = Integration::parse("ci").unwrap();
            let mut listed = Vec::new();
            for snapshot in Snapshot::all(&paths).unwrap() {
                snapshot.list(Some(&ci), &mut listed).unwrap();
            }
            assert_eq!(listed.len(), 1);
        }
        let bucket = layout::bucket_path(&paths, layout::bucket_of("docker.io"));
        std::fs::write(&bucket, b"{\"version\":2,\"registries\":{\"docker.io\":").unwrap();
        let snapshot = Snapshot::of_registry(&paths, &Registry::DockerHub)
            .unwrap()
            .unwrap();
        assert!(matches!(
            snapshot.registry(&Registry::DockerHub),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn first_format_index_is_converted_whole_on_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let legacy = legacy_index();
        std::fs::write(paths.index_file(), legacy.to_bytes()).unwrap();
        // An interrupted earlier conversion left a stray bucket: not in force.
        fsutil::ensure_private_dir(&paths.index_dir()).unwrap();
        std::fs::write(layout::bucket_path(&paths, 7), b"stale").unwrap();
        assert_eq!(Index::load(&paths).unwrap().names(), legacy.names());
        let mut writer = IndexWriter::begin_for(&paths, &Registry::DockerHub).unwrap();
        writer.index.set_default(&name("ci@docker.io"));
        writer.save().unwrap();
        let marker = std::fs::read_to_string(paths.index_file()).unwrap();
        assert!(marker.starts_with("{\"version\":2"), "{marker}");
        assert!(
            !layout::bucket_path(&paths, 7).exists(),
            "stray bucket removed"
        );
        let files: Vec<u8> = layout::bucket_files(&paths)
            .unwrap()
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        let mut expected = vec![layout::bucket_of("docker.io"), layout::bucket_of("ghcr.io")];
        expected.sort();
        assert_eq!(files, expected);
        let again = Index::load(&paths).unwrap();
        assert_eq!(again.names(), legacy.names());
        assert_eq!(
            again
                .registry(&Registry::DockerHub)
                .unwrap()
                .default
                .as_deref(),
            Some("ci")
        );
    }

    #[test]
    fn a_registry_writer_touches_only_its_own_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
        IndexWriter::begin(&paths).unwrap().save().unwrap();
        let ghcr = layout::bucket_path(&paths, layout::bucket_of("ghcr.io"));
        let before = std::fs::metadata(&ghcr).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut writer = IndexWriter::begin_for(&paths, &Registry::DockerHub).unwrap();
        assert_eq!(writer.index.registries.len(), 1, "only docker.io is loaded");
        writer.index.remove(&name("ci@docker.io")).unwrap();
        writer.save().unwrap();
        assert_eq!(
            std::fs::metadata(&ghcr).unwrap().modified().unwrap(),
            before
        );
        // docker.io is now empty but its secret is retired, so its bucket stays.
        let index = Index::load(&paths).unwrap();
        assert_eq!(index.names(), ["default@ghcr.io"]);
        assert_eq!(index.retired.len(), 1);
        writer.index.retired.clear();
        writer.save().unwrap();
        assert!(
            !layout::bucket_path(&paths, layout::bucket_of("docker.io")).exists(),
            "an empty bucket is removed"
        );
        assert!(Index::load(&paths).unwrap().retired.is_empty());
        // Outside its registry a scoped writer refuses to write.
        writer.index.insert(&name("x@quay.io"), token("q", true));
        assert!(matches!(writer.save(), Err(IndexError::Internal(_))));
    }

    #[test]
    fn a_registry_in_the_wrong_bucket_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
        IndexWriter::begin(&paths).unwrap().save().unwrap();
        let from = layout::bucket_path(&paths, layout::bucket_of("ghcr.io"));
        let to = layout::bucket_path(&paths, layout::bucket_of("ghcr.io").wrapping_add(1));
        std::fs::rename(from, to).unwrap();
        let error = Index::load(&paths).err().unwrap();
        assert!(
            error.to_string().contains("does not belong in this file"),
            "{error}"
        );
        let (mut writer, damage) = IndexWriter::begin_for_repair(&paths).unwrap();
        assert!(damage.is_some());
        assert_eq!(writer.index.names(), ["ci@docker.io"]);
        writer.save().unwrap();
        assert_eq!(Index::load(&paths).unwrap().names(), ["ci@docker.io"]);
    }

    #[test]
    fn a_damaged_marker_in_front_of_intact_buckets_loses_nothing_on_repair() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::write(paths.index_file(), legacy_index().to_bytes()).unwrap();
        IndexWriter::begin(&paths).unwrap().save().unwrap();
        std::fs::write(paths.index_file(), b"{\"vers").unwrap();
        assert!(matches!(
            Index::load(&paths),
            Err(IndexError::Corrupt { .. })
        ));
        let (mut writer, damage) = IndexWriter::begin_for_repair(&paths).unwrap();
        assert!(damage.is_some());
        assert_eq!(writer.index.names().len(), 2);
        writer.save().unwrap();
        assert_eq!(Index::load(&paths).unwrap().names().len(), 2);
    }

    #[test]
    fn a_stray_byte_where_get_would_refuse_it_is_damage_to_the_full_parse_too() {
        let bytes = b"{\"version\":1,\"registries\":{\"ghcr.io\":{\"unknown\":\"\xff\"}}}";
        let path = Path::new("index.json");
        let snapshot = Snapshot::from_bytes(bytes.to_vec(), path.to_owned(), None);
        let ghcr = Registry::parse("ghcr.io").unwrap();
        assert!(snapshot.registry(&ghcr).is_err());
        assert!(matches!(
            Index::parse(bytes, path),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn only_an_object_is_an_index_as_list_reads_it() {
        // Found by fuzzing: serde read `[1]` as an index that `list` refused.
        let path = Path::new("index/93.json");
        for bytes in [&b"[1]\n"[..], b" \n[]", b"1", b"\"x\""] {
            assert!(
                matches!(Index::parse(bytes, path), Err(IndexError::Corrupt { .. })),
                "{bytes:?}"
            );
        }
        assert!(Index::parse(b"\n {\"version\":1,\"registries\":{}}", path).is_ok());
    }

    #[test]
    fn a_bucket_whose_listing_line_list_cannot_read_is_damaged() {
        // Found by fuzzing: a listing cut short on its line, closed on the next,
        // read as an index while `list` refused it.
        let bytes =
            b"{\"version\":2,\"listing\":{\"ghcr.io\":{\"tokens\":{}}\n,\"registries\":{}}}";
        let path = Path::new("index/7.json");
        assert!(Index::parse(bytes, path).is_ok());
        let bucket = bucket_of("ghcr.io");
        assert!(matches!(
            Index::parse_bucket(bytes, path, bucket),
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
