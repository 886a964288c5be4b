//! What the index holds: a token's record, each registry's tokens and
//! default, and the whole index in memory.
//!
//! Records are the helper's shared vocabulary for a token (the service, both
//! ledgers, the Hub rooms and doctor all speak it), so they stand low, with
//! nothing here that reads or writes a file.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{Integration, TokenName};
use crate::policy::SecretKind;
use crate::registry::Registry;
use crate::select::{Pick, Selection};
use crate::store::BackendKind;

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
    pub(super) retired_from: HashMap<SecretRef, String>,
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
    /// The token `selection` picks among this registry's, and only while it is active.
    pub fn select(&self, registry: &Registry, selection: &Selection) -> Option<(Pick, &T)> {
        let pick = selection.pick_among(
            registry,
            self.tokens.keys().map(String::as_str),
            self.default.as_deref(),
        )?;
        let token = self
            .tokens
            .get(pick.integration.as_str())
            .filter(|t| t.is_active())?;
        Some((pick, token))
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
    /// The token this secret is in another registry's token API (GitLab),
    /// once created or linked here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteLink>,
    /// The registry's own view of the token, as its API last described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<RemoteView>,
}

impl TokenRecord {
    /// The command family whose `rotate` replaces this token (`hub`,
    /// `gitlab`, `github`), when it is linked to its registry's token.
    pub fn rotated_by(&self) -> Option<&'static str> {
        match (&self.hub, &self.remote) {
            (Some(_), _) => Some("hub"),
            (None, Some(link)) if link.api == "gitlab" => Some("gitlab"),
            (None, Some(link)) if link.api == "github" => Some("github"),
            _ => None,
        }
    }
}

/// Whose token it is in the registry's API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteOwner {
    /// The signed-in user's own (a GitLab personal access token).
    Personal,
    /// A project's access token (its id or path).
    Project(String),
    /// A group's access token (its id or path).
    Group(String),
    /// An organisation's access token (its name).
    Org(String),
}

/// A token's counterpart in a registry's token API other than Docker Hub's
/// personal tokens (those keep their [`HubLink`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLink {
    /// Which API: `gitlab`.
    pub api: String,
    /// The token's id there.
    pub id: String,
    pub owner: RemoteOwner,
    /// As the registry names them (`read_registry`, `write_registry`…).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A rotation begun and not known to have ended: written before the
    /// rotate call, so a run cut off while it was out reads the registry's
    /// state before it calls again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotating: Option<Rotating>,
    /// The registry's last use of the token when it was linked here: uses up
    /// to then were made before this helper held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_before_link: Option<DateTime<Utc>>,
}

/// A rotation of the token `id` that started at `started_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotating {
    pub id: String,
    pub started_at: DateTime<Utc>,
}

/// What a registry said of a token the last time its API was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteView {
    /// `active`, `inactive`, `revoked`, `expired`, or `gone` (no longer listed).
    pub state: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the registry said so.
    pub seen_at: DateTime<Utc>,
}

/// A token's counterpart on Docker Hub: a personal access token of the
/// record's username, or (with `org`) an organisation access token, stored
/// with the organisation as its username.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubLink {
    pub uuid: String,
    /// As Hub names them: `repo:admin`, `repo:write`, `repo:read`, `repo:public_read`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The organisation whose access token it is; `None`: a personal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// What an organisation token reaches (personal tokens have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<HubResource>,
    /// The token this one replaced, still active on Hub until a rotation finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<Retiring>,
    /// Hub's last use of the token when it was linked here: uses up to then
    /// were made before this helper held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_before_link: Option<DateTime<Utc>>,
}

/// One resource an organisation access token reaches: a repository path
/// pattern (`TYPE_REPO`) or the organisation itself (`TYPE_ORG`), with the
/// scopes Hub names (`scope-image-pull`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub scopes: Vec<String>,
}

impl HubResource {
    /// In words: `acme/*: image-pull, image-push`.
    pub fn short(&self) -> String {
        let scopes: Vec<&str> = self
            .scopes
            .iter()
            .map(|s| s.strip_prefix("scope-").unwrap_or(s))
            .collect();
        format!("{}: {}", self.path, scopes.join(", "))
    }
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
        selection: &Selection,
    ) -> Option<(Pick, &TokenRecord)> {
        self.registry(registry)?.select(registry, selection)
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
