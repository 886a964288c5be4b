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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RegistryRecord {
    /// The integration `get` uses when `DOCKER_PAT_INTEGRATION` is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
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

fn corrupt(path: &Path, error: &serde_json::Error) -> IndexError {
    IndexError::Corrupt {
        path: path.to_owned(),
        line: error.line(),
        message: error
            .to_string()
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Reading one registry's record out of the whole index.
mod partial {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    use super::{Index, RegistryRecord};
    use crate::registry::Registry;

    pub struct OneRegistry<'a> {
        pub wanted: &'a str,
    }

    impl<'de> DeserializeSeed<'de> for OneRegistry<'_> {
        type Value = Index;

        fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Index, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for OneRegistry<'_> {
        type Value = Index;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an index object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Index, A::Error> {
            let mut index = Index::default();
            let mut version = None;
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "version" => version = Some(map.next_value::<u32>()?),
                    "registries" => {
                        if let Some(record) = map.next_value_seed(Registries {
                            wanted: self.wanted,
                        })? {
                            index.registries.insert(self.wanted.to_owned(), record);
                        }
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            index.version = version.ok_or_else(|| de::Error::missing_field("version"))?;
            Ok(index)
        }
    }

    /// The `registries` object: every key checked, only the wanted record parsed.
    struct Registries<'a> {
        wanted: &'a str,
    }

    impl<'de> DeserializeSeed<'de> for Registries<'_> {
        type Value = Option<RegistryRecord>;

        fn deserialize<D: de::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Registries<'_> {
        type Value = Option<RegistryRecord>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of registries")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                check_key(&key)?;
                if key == self.wanted {
                    found = Some(map.next_value::<RegistryRecord>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    /// A map key, borrowed from the input when it has no escapes (the usual case).
    pub struct Key<'de>(pub Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl<'de> Visitor<'de> for KeyVisitor {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_owned())))
                }
            }
            deserializer.deserialize_str(KeyVisitor)
        }
    }

    /// Registry keys are checked even where their records are skipped.
    pub fn check_key<E: de::Error>(key: &str) -> Result<(), E> {
        match Registry::parse(key) {
            Ok(registry) if registry.key() == key => Ok(()),
            _ => Err(E::custom(format!(
                "registry {key:?} is not in canonical form"
            ))),
        }
    }
}

/// What `list` needs of a registry: its default and, per token, only the
/// fields `list` prints. Reading just these halves the cost of a large index.
#[derive(Debug, Deserialize)]
pub struct ListedRegistry {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    tokens: BTreeMap<String, ListedToken>,
}

#[derive(Debug, Deserialize)]
pub struct ListedToken {
    pub username: String,
    pub server_url: String,
    active: bool,
}

impl ListedRegistry {
    /// The same choice as [`Index::select`].
    pub fn select(&self, integration: Option<&Integration>) -> Option<&ListedToken> {
        let name = match integration {
            Some(integration) => integration.as_str(),
            None => self.default.as_deref()?,
        };
        self.tokens.get(name).filter(|t| t.active)
    }
}

/// The registries for `list`, keyed by canonical key; a missing index is empty.
pub fn load_listing(path: &Path) -> Result<BTreeMap<String, ListedRegistry>, IndexError> {
    #[derive(Deserialize)]
    struct Listing {
        version: u32,
        #[serde(default, deserialize_with = "checked_keys")]
        registries: BTreeMap<String, ListedRegistry>,
    }
    fn checked_keys<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, ListedRegistry>, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<String, ListedRegistry>::deserialize(deserializer)?;
        for (key, record) in &map {
            partial::check_key::<D::Error>(key)?;
            for name in record.tokens.keys() {
                Integration::parse(name).map_err(D::Error::custom)?;
            }
            if let Some(default) = &record.default
                && !record.tokens.contains_key(default)
            {
                return Err(D::Error::custom(format!(
                    "default token {default:?} of {key} does not exist"
                )));
            }
        }
        Ok(map)
    }
    let Some(bytes) = fsutil::read_optional(path)? else {
        return Ok(BTreeMap::new());
    };
    let listing: Listing = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &e))?;
    if listing.version > FORMAT_VERSION {
        return Err(IndexError::TooNew {
            path: path.to_owned(),
            found: listing.version,
        });
    }
    Ok(listing.registries)
}

impl Index {
    /// Reads the index; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Self, IndexError> {
        match fsutil::read_optional(path)? {
            None => Ok(Self {
                version: FORMAT_VERSION,
                ..Self::default()
            }),
            Some(bytes) => Self::parse(&bytes, path),
        }
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, IndexError> {
        let index: Index = serde_json::from_slice(bytes).map_err(|e| corrupt(path, &e))?;
        if index.version > FORMAT_VERSION {
            return Err(IndexError::TooNew {
                path: path.to_owned(),
                found: index.version,
            });
        }
        index.check(path)?;
        Ok(index)
    }

    /// Reads only what `get` needs: the record of `registry`, with every
    /// registry key still checked. The other records are skipped unparsed,
    /// which keeps `get` fast with a thousand tokens; writers and `tokens`
    /// read the whole index and refuse a damaged one.
    pub fn load_registry(path: &Path, registry: &Registry) -> Result<Self, IndexError> {
        let Some(bytes) = fsutil::read_optional(path)? else {
            return Self::load(path);
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let seed = partial::OneRegistry {
            wanted: registry.key(),
        };
        let index = serde::de::DeserializeSeed::deserialize(seed, &mut deserializer)
            .and_then(|index| deserializer.end().map(|()| index))
            .map_err(|e| corrupt(path, &e))?;
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
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_owned(),
            line: 0,
            message,
        };
        for (key, record) in &self.registries {
            let registry =
                Registry::parse(key).map_err(|e| corrupt(format!("registry {key:?}: {e}")))?;
            if registry.key() != key {
                return Err(corrupt(format!(
                    "registry {key:?} is not in canonical form"
                )));
            }
            for name in record.tokens.keys() {
                Integration::parse(name).map_err(|e| corrupt(e.to_string()))?;
            }
            if let Some(default) = &record.default
                && !record.tokens.contains_key(default)
            {
                return Err(corrupt(format!(
                    "default token {default:?} of {key} does not exist"
                )));
            }
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("the index always serialises");
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
        let record = self.registry(registry)?;
        let name = match integration {
            Some(integration) => integration.as_str(),
            None => record.default.as_deref()?,
        };
        let token = record.tokens.get(name).filter(|t| t.active)?;
        Some((Integration::parse(name).ok()?, token))
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
    fn one_registry_read_matches_the_whole_read() {
        let mut index = Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        index.insert(&name("ci@docker.io"), token("a", true));
        index.set_default(&name("ci@docker.io"));
        index.insert(&name("laptop@ghcr.io"), token("b", true));
        index.retired.push(SecretRef {
            backend: BackendKind::Keychain,
            item: "old".into(),
            hint: None,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        std::fs::write(&path, index.to_bytes()).unwrap();
        let one = Index::load_registry(&path, &Registry::DockerHub).unwrap();
        assert_eq!(one.registries.len(), 1);
        let (integration, token) = one.select(&Registry::DockerHub, None).unwrap();
        assert_eq!(
            (integration.as_str(), token.secret.item.as_str()),
            ("ci", "a")
        );
        let none = Index::load_registry(&path, &Registry::parse("quay.io").unwrap()).unwrap();
        assert!(none.registries.is_empty());
        let missing = dir.path().join("nothing.json");
        assert!(
            Index::load_registry(&missing, &Registry::DockerHub)
                .unwrap()
                .registries
                .is_empty()
        );
    }

    #[test]
    fn listing_selects_as_the_whole_index_does() {
        let mut index = Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        index.insert(&name("ci@docker.io"), token("a", true));
        index.insert(&name("laptop@docker.io"), token("b", false));
        index.set_default(&name("laptop@docker.io"));
        index.insert(&name("ci@ghcr.io"), token("c", true));
        index.set_default(&name("ci@ghcr.io"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        std::fs::write(&path, index.to_bytes()).unwrap();
        let listing = load_listing(&path).unwrap();
        for integration in [None, Some("ci"), Some("laptop"), Some("none")] {
            let integration = integration.map(|i| Integration::parse(i).unwrap());
            for key in ["docker.io", "ghcr.io"] {
                let registry = Registry::parse(key).unwrap();
                let whole = index
                    .select(&registry, integration.as_ref())
                    .map(|(_, t)| t.username.clone());
                let listed = listing[key]
                    .select(integration.as_ref())
                    .map(|t| t.username.clone());
                assert_eq!(whole, listed, "{key} {integration:?}");
            }
        }
        std::fs::write(&path, br#"{"version":1,"registries":{"GHCR.io":{}}}"#).unwrap();
        assert!(load_listing(&path).is_err());
        std::fs::write(&path, br#"{"version":7,"registries":{}}"#).unwrap();
        assert!(matches!(
            load_listing(&path),
            Err(IndexError::TooNew { .. })
        ));
    }

    #[test]
    fn one_registry_read_still_refuses_damage_it_can_see() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        for damaged in [
            &b""[..],
            b"{\"version\":1,\"registries\":{",
            b"{\"version\":1,\"registries\":{\"Docker.IO\":{\"tokens\":{}}}}",
            b"{\"version\":1,\"registries\":{\"quay.io\":{}}} trailing",
            b"{\"registries\":{}}",
            b"{\"version\":99,\"registries\":{}}",
            b"{\"version\":1,\"registries\":{\"docker.io\":{\"default\":\"x\",\"tokens\":{}}}}",
            b"[]",
        ] {
            std::fs::write(&path, damaged).unwrap();
            assert!(
                Index::load_registry(&path, &Registry::DockerHub).is_err(),
                "{}",
                String::from_utf8_lossy(damaged)
            );
        }
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
