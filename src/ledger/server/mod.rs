//! The tokens on the server, laid out for the policies admins write:
//!
//! - `<prefix>/<registry>/<integration>`: one token. Data `username`, `secret`,
//!   optional `server_url` and `description`; everything else in its custom
//!   metadata, which KV returns with the data, so `get` needs `read` on this
//!   one path and nothing more.
//! - `<prefix>/<registry>/@default`: `{"integration": NAME}` when the
//!   registry's default is not the integration called `default`. Without it
//!   (or without the right to read it) `default` is the default. While there
//!   is none, the `default` token's custom metadata says so
//!   (`default_pointer = none`), and `get` reads only that token ([`mark`]).
//! - `<prefix>/@uses/<token id>`: each machine's latest use of the token.
//!
//! `@` appears in no registry and no integration name, so these never clash.
//! Writers that may race use check-and-set on the data, and metadata changes
//! are merge patches of the changed keys only, so no writer undoes another's.
//!
//! A change takes several requests, and any of them may fail or go
//! unanswered, so each is ordered for a safe state in between:
//!
//! - A new token's record is written before its secret: until the secret is
//!   there the token cannot be read, and once it is, it is whole.
//! - A replaced secret is written before its record. In between, the
//!   record's generation does not match the data's, so readers set aside
//!   what the record says about the secret (its expiry, its Docker Hub link)
//!   and keep the rest (whether it is active); the next write brings it up
//!   to date.
//! - A rename copies (record, then secret, keeping the token's id), moves
//!   the registry's default, and only then removes the old name; run again,
//!   it recognises its copy by the id and finishes.
//! - A removal removes the token before the default that names it, so `get`
//!   never falls back to another token half-way.
//!
//! A token removed with `bao kv delete` or `bao kv destroy` keeps its
//! metadata, and so its version count: the next write checks and sets
//! against that version rather than against "new".

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Edit, Entry, Found, Ledger, MachineUse};
use crate::config::{Config, Environment, Paths};
use crate::error::{Result, ServiceError};
use crate::index::{SecretRef, TokenRecord};
use crate::openbao::OpenBaoError;
use crate::openbao::client::Client;
use crate::openbao::kv::{Kv, Read, Slot};
use crate::openbao::settings::Resolved;
use record::{Defaults, TokenData};

mod edit;
use edit::ServerEdit;
mod health;
mod mark;
mod record;

use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::select::{Reason, Selection};
use crate::store::BackendKind;

const POINTER: &str = "@default";
const USES: &str = "@uses";
/// A machine reports a token's use at most this often.
const REPORT_EVERY_SECONDS: i64 = 300;

pub(crate) struct ServerLedger {
    pub(super) client: Client,
    config: Config,
    /// When this machine last reported each token's use (by id).
    reports: PathBuf,
    machine: String,
}

#[derive(Deserialize, Serialize)]
struct Pointer {
    integration: String,
}

#[derive(Deserialize, Serialize, Clone)]
struct Reported {
    at: DateTime<Utc>,
    client: String,
    /// What chose the token (`rule 2`, `default`…); absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chosen_by: Option<String>,
}

fn token_rel(name: &TokenName) -> String {
    format!("{}/{}", name.registry.key(), name.integration.as_str())
}

fn pointer_rel(registry: &Registry) -> String {
    format!("{}/{POINTER}", registry.key())
}

fn uses_rel(id: &str) -> String {
    format!("{USES}/{id}")
}

/// A token as read: its record, and what a check-and-set write needs.
struct Seen {
    read: Read<TokenData>,
    record: TokenRecord,
}

/// A token's place on the server: a live token, or none (absent, or deleted
/// by hand) with the version a first write there checks against.
enum TokenSlot {
    Live(Box<Seen>),
    Gone { cas: u64 },
}

impl ServerLedger {
    pub(crate) fn open(
        config: &Config,
        env: &Environment,
        paths: &Paths,
        machine: String,
    ) -> Result<Self, OpenBaoError> {
        let settings = Resolved::new(&config.openbao, env)?;
        Ok(Self {
            client: Client::new(settings)?,
            config: config.clone(),
            reports: paths.data_dir.join("openbao-reported.json"),
            machine,
        })
    }

    pub(super) fn kv(&self) -> Kv<'_> {
        Kv {
            client: &self.client,
        }
    }

    /// The full API path of a token, as a policy names it.
    pub(crate) fn path_of(&self, name: &TokenName) -> String {
        self.kv().data_path(&token_rel(name))
    }

    /// The registry's default integration: the pointer's, else `default`.
    fn default_integration(&self, registry: &Registry) -> Result<Integration> {
        match self.kv().read::<Pointer>(&pointer_rel(registry)) {
            Ok(Some(pointer)) => Ok(Integration::parse(&pointer.data.integration)
                .unwrap_or_else(|_| Integration::default_name())),
            Ok(None) | Err(OpenBaoError::Refused { .. }) => Ok(Integration::default_name()),
            Err(e) => Err(e.into()),
        }
    }

    /// The registry's default token, for `get`: the `default` token, served
    /// at once when it carries the mark ([`mark`]); otherwise the pointer
    /// decides, as it always does.
    fn read_registry_default(&self, registry: &Registry) -> Result<(TokenName, Option<Seen>)> {
        let default = TokenName::new(Integration::default_name(), registry.clone());
        let first = self.read_token(&default);
        match &first {
            Ok(Some(seen)) if mark::is_marked(&seen.read.custom) => return Ok((default, first?)),
            // The server cannot be asked: the pointer could not be read either,
            // and a second try would only hide the first answer (a 5xx retried
            // until the time ran out) behind "no time left".
            Err(ServiceError::Server(
                OpenBaoError::Unreachable { .. }
                | OpenBaoError::OutOfTime { .. }
                | OpenBaoError::Sealed { .. }
                | OpenBaoError::Auth { .. }
                | OpenBaoError::Server { .. }
                | OpenBaoError::Http(_),
            )) => return Ok((default, first?)),
            _ => {}
        }
        let chosen = self.default_integration(registry)?;
        if chosen == default.integration {
            return Ok((default, first?));
        }
        let name = TokenName::new(chosen, registry.clone());
        let seen = self.read_token(&name)?;
        Ok((name, seen))
    }

    fn read_token(&self, name: &TokenName) -> Result<Option<Seen>> {
        Ok(match self.read_token_slot(name)? {
            TokenSlot::Live(seen) => Some(*seen),
            TokenSlot::Gone { .. } => None,
        })
    }

    /// The token at `name`, or the version a write there checks against.
    fn read_token_slot(&self, name: &TokenName) -> Result<TokenSlot> {
        let rel = token_rel(name);
        let read = match self.kv().read_slot::<TokenData>(&rel)? {
            Slot::Live(read) => read,
            Slot::Absent => return Ok(TokenSlot::Gone { cas: 0 }),
            // Deleted by hand: its metadata, and version count, are still there.
            Slot::Deleted { version, .. } => return Ok(TokenSlot::Gone { cas: version }),
        };
        let kind = match (&read.data.username, &read.data.secret) {
            (Some(user), Some(secret)) => {
                crate::policy::classify(&name.registry, user, secret.expose(), &self.config)
            }
            _ => crate::policy::SecretKind::Token,
        };
        let defaults = Defaults {
            // Hashed only for a token put there by hand, which has no id of its own.
            id: read
                .custom
                .get("id")
                .cloned()
                .unwrap_or_else(|| crate::kernel_keyring::short_hash(rel.as_bytes())),
            created_at: read.created_time.clone(),
            kind,
            server_url: name.registry.default_address().to_owned(),
        };
        let place = SecretRef {
            backend: BackendKind::OpenBao,
            item: rel.clone(),
            hint: None,
        };
        let record =
            record::from_server(&read.data, &read.custom, place, defaults).map_err(|detail| {
                OpenBaoError::Malformed {
                    address: self.client.settings.addresses.join(", "),
                    path: self.kv().data_path(&rel),
                    detail,
                }
            })?;
        Ok(TokenSlot::Live(Box::new(Seen { read, record })))
    }

    /// Every registry on the server with its token names.
    fn walk(&self) -> Result<Vec<TokenName>> {
        let mut names = Vec::new();
        let mut folders: Vec<String> = self
            .kv()
            .list("")?
            .into_iter()
            .filter_map(|k| k.strip_suffix('/').map(str::to_owned))
            .collect();
        while let Some(folder) = folders.pop() {
            let Ok(registry) = Registry::parse(&folder) else {
                continue;
            };
            if registry.key() != folder {
                continue;
            }
            for key in self.kv().list(&folder)? {
                if let Some(sub) = key.strip_suffix('/') {
                    // Docker Hub's web-login entries live under docker.io/.
                    if registry.is_docker_hub() {
                        folders.push(format!("{folder}/{sub}"));
                    }
                } else if let Ok(integration) = Integration::parse(&key) {
                    names.push(TokenName::new(integration, registry.clone()));
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// True when this machine should report a use of `id` now, and notes that it does.
    fn report_due(&self, id: &str, at: DateTime<Utc>) -> bool {
        let mut last: BTreeMap<String, i64> = std::fs::read(&self.reports)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let now = at.timestamp();
        if last
            .get(id)
            .is_some_and(|&then| (0..REPORT_EVERY_SECONDS).contains(&(now - then)))
        {
            return false;
        }
        last.retain(|_, then| now - *then < 24 * 3600);
        last.insert(id.to_owned(), now);
        let bytes = serde_json::to_vec(&last).expect("a map of numbers serialises");
        crate::fsutil::write_atomic(&self.reports, &bytes).is_ok()
    }

    /// What doctor says of each token that is not as this helper leaves it.
    pub(super) fn token_findings(&self) -> Vec<crate::finding::Finding> {
        use crate::finding::Finding;
        const CHECK: &str = "openbao";
        let mut findings = Vec::new();
        self.client.start();
        let Ok(names) = self.walk() else {
            return findings;
        };
        for name in names {
            self.client.start();
            let rel = token_rel(&name);
            let path = self.kv().data_path(&rel);
            let slot = self.kv().read_slot::<TokenData>(&rel);
            if let Ok(Slot::Live(read)) = &slot {
                findings.extend(self.mark_finding(&name, &read.custom));
            }
            match slot {
                Ok(Slot::Deleted { version, destroyed }) => {
                    let (what, fix) = if destroyed {
                        (
                            "destroyed (`bao kv destroy`)",
                            format!(
                                "store it again (`docker login` or `docker-credential-pat add {}`), or remove what is left with `bao kv metadata delete {path}`",
                                name.registry
                            ),
                        )
                    } else {
                        (
                            "deleted (`bao kv delete`)",
                            format!(
                                "store it again (`docker login` or `docker-credential-pat add {}`), bring it back with `bao kv undelete -versions={version} {path}`, or remove what is left with `bao kv metadata delete {path}`",
                                name.registry
                            ),
                        )
                    };
                    findings.push(Finding::problem(
                        CHECK,
                        format!("the secret of {name} (version {version}) was {what}, so `get` finds no token there"),
                        fix,
                    ));
                }
                Ok(Slot::Live(read))
                    if record::describes_another_secret(&read.data, &read.custom) =>
                {
                    findings.push(Finding::warn(
                        CHECK,
                        format!(
                            "the record of {name} was written for another secret than the one stored (a change cut off half-way, or `bao kv put` by hand), so its expiry and Docker Hub link are set aside"
                        ),
                        format!(
                            "store the token again (`docker login` or `docker-credential-pat add {}`); `docker-credential-pat hub link {name}` links it to Docker Hub again",
                            name.registry
                        ),
                    ));
                }
                _ => {}
            }
        }
        findings
    }

    fn read_uses(&self, id: &str) -> Result<Option<Read<BTreeMap<String, Reported>>>> {
        Ok(self.kv().read(&uses_rel(id))?)
    }
}

impl Ledger for ServerLedger {
    fn get(&self, registry: &Registry, selection: &Selection) -> Result<Option<Found>> {
        self.client.start();
        // A rule's token is read to learn whether it exists; when it does, that read is the answer.
        let mut read_ahead = None;
        let pick = selection.pick(
            registry,
            |integration| {
                let name = TokenName::new(integration.clone(), registry.clone());
                let seen = self.read_token(&name)?;
                let exists = seen.is_some();
                read_ahead = seen.map(|seen| (name, seen));
                Ok::<_, ServiceError>(exists)
            },
            None,
        )?;
        let (name, seen, reason) = match pick {
            Some(pick) => {
                let name = TokenName::new(pick.integration, registry.clone());
                let seen = match read_ahead {
                    Some((read, seen)) if read == name => Some(seen),
                    _ => self.read_token(&name)?,
                };
                (name, seen, pick.reason)
            }
            None => {
                let (name, seen) = self.read_registry_default(registry)?;
                (name, seen, Reason::Default)
            }
        };
        let Some(seen) = seen else {
            return Ok(None);
        };
        if !seen.record.active {
            return Ok(None);
        }
        let Some(secret) = seen.read.data.secret else {
            return Err(OpenBaoError::Malformed {
                address: self.client.settings.addresses.join(", "),
                path: self.path_of(&name),
                detail: "it has no secret field".into(),
            }
            .into());
        };
        Ok(Some(Found {
            name,
            rotated_by: seen.record.rotated_by(),
            id: seen.record.id,
            username: seen.record.username,
            secret,
            expires_at: seen.record.expires_at,
            reason,
        }))
    }

    fn list(&self, selection: &Selection) -> Result<Vec<(String, String)>> {
        self.client.start();
        let names = self.walk()?;
        let mut registries: Vec<&Registry> = names.iter().map(|n| &n.registry).collect();
        registries.dedup();
        let mut listed = Vec::new();
        for registry in registries {
            self.client.start();
            let default = match selection.forced_integration() {
                Some(_) => None,
                None => Some(self.default_integration(registry)?),
            };
            let exists = |integration: &Integration| {
                Ok::<_, ServiceError>(
                    names
                        .binary_search(&TokenName::new(integration.clone(), registry.clone()))
                        .is_ok(),
                )
            };
            let Some(pick) = selection.pick(registry, exists, default)? else {
                continue;
            };
            match self.read_token(&TokenName::new(pick.integration, registry.clone())) {
                Ok(Some(seen)) if seen.record.active => listed.push((
                    registry.list_address(&seen.record.server_url).to_owned(),
                    seen.record.username,
                )),
                Ok(_) | Err(ServiceError::Server(OpenBaoError::Refused { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        self.client.start();
        let names = self.walk()?;
        let mut defaults: HashMap<Registry, Integration> = HashMap::new();
        let mut entries = Vec::new();
        for name in names {
            self.client.start();
            let seen = match self.read_token(&name) {
                Ok(Some(seen)) => seen,
                // A token this machine's policy may not read is not its to show.
                Ok(None) | Err(ServiceError::Server(OpenBaoError::Refused { .. })) => continue,
                Err(e) => return Err(e),
            };
            if !defaults.contains_key(&name.registry) {
                let default = self.default_integration(&name.registry)?;
                defaults.insert(name.registry.clone(), default);
            }
            entries.push(Entry {
                is_default: defaults[&name.registry] == name.integration,
                name,
                record: seen.record,
            });
        }
        Ok(entries)
    }

    fn begin(&self) -> Result<Box<dyn Edit + '_>> {
        Ok(Box::new(ServerEdit::new(self)))
    }

    fn report_use(&self, id: &str, at: DateTime<Utc>, client: &str, reason: &str) -> Result<()> {
        if !self.report_due(id, at) {
            return Ok(());
        }
        let rel = uses_rel(id);
        for _ in 0..3 {
            let (mut uses, cas) = match self.read_uses(id)? {
                Some(read) => (read.data, read.version),
                None => (BTreeMap::new(), 0),
            };
            uses.insert(
                self.machine.clone(),
                Reported {
                    at,
                    client: client.to_owned(),
                    chosen_by: (!reason.is_empty()).then(|| reason.to_owned()),
                },
            );
            let body = serde_json::to_vec(&uses).expect("uses serialise");
            if self.kv().write(&rel, &body, Some(cas))?.is_ok() {
                return Ok(());
            }
        }
        Err(OpenBaoError::Conflict {
            path: self.kv().data_path(&rel),
        }
        .into())
    }

    fn reported_uses(&self, ids: &[&str]) -> HashMap<String, MachineUse> {
        let mut latest = HashMap::new();
        for id in ids {
            self.client.start();
            let Ok(Some(read)) = self.read_uses(id) else {
                continue;
            };
            if let Some((machine, reported)) = read.data.into_iter().max_by_key(|(_, r)| r.at) {
                latest.insert(
                    (*id).to_owned(),
                    MachineUse {
                        at: reported.at,
                        machine,
                        client: reported.client,
                        chosen_by: reported.chosen_by,
                    },
                );
            }
        }
        latest
    }
}
