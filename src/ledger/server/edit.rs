//! Changes on the server, one request at a time, each ordered so that a
//! change cut off between two requests leaves a state `get` serves safely
//! and the same command, run again, finishes (see the parent module).

use std::collections::{BTreeMap, HashMap};

use zeroize::Zeroizing;

use super::mark::{self, MARK, NO_POINTER};
use super::record::{self, GENERATION, TokenData};
use super::{Pointer, ServerLedger, TokenSlot, pointer_rel, token_rel, uses_rel};
use crate::error::{Result, ServiceError};
use crate::index::{SecretRef, TokenRecord};
use crate::ledger::Edit;
use crate::names::{Integration, TokenName};
use crate::openbao::OpenBaoError;
use crate::openbao::kv::{Kv, Raced, Slot};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::store::BackendKind;

/// A change on the server: each step is written at once, with check-and-set
/// against the version this edit read.
pub(super) struct ServerEdit<'a> {
    ledger: &'a ServerLedger,
    seen: HashMap<TokenName, Known>,
    /// Tokens this edit found not there, with the version a first write checks against.
    gone: HashMap<TokenName, u64>,
    /// The secrets of the versions in `seen` that this edit read.
    secrets: HashMap<TokenName, Secret>,
    /// Each registry's default as this edit read it.
    defaults: HashMap<Registry, Integration>,
}

/// A token as this edit last read or wrote it.
#[derive(Clone)]
struct Known {
    version: u64,
    record: TokenRecord,
    /// The custom metadata on the server, as it is (generation included).
    custom: BTreeMap<String, String>,
}

/// What a put writes over: the version to check against, and whether a token is there now.
struct Over {
    cas: u64,
    custom: BTreeMap<String, String>,
    live: bool,
}

impl<'a> ServerEdit<'a> {
    /// What this edit now knows the server holds for `name`.
    fn remember(
        &mut self,
        name: &TokenName,
        version: u64,
        record: TokenRecord,
        custom: BTreeMap<String, String>,
    ) {
        self.gone.remove(name);
        self.secrets.remove(name);
        self.seen.insert(
            name.clone(),
            Known {
                version,
                record,
                custom,
            },
        );
    }

    pub(super) fn new(ledger: &'a ServerLedger) -> Self {
        Self {
            ledger,
            seen: HashMap::new(),
            gone: HashMap::new(),
            secrets: HashMap::new(),
            defaults: HashMap::new(),
        }
    }

    fn kv(&self) -> Kv<'_> {
        self.ledger.kv()
    }

    fn conflict(&self, name: &TokenName) -> ServiceError {
        OpenBaoError::Conflict {
            path: self.ledger.path_of(name),
        }
        .into()
    }

    /// Writes the token's data (secret included, in wiped memory) with
    /// check-and-set; returns the version written.
    fn write_data(
        &self,
        name: &TokenName,
        record: &TokenRecord,
        secret: &Secret,
        cas: u64,
        generation: Option<&str>,
    ) -> Result<u64> {
        let fields = record::to_server(record);
        let mut body = Zeroizing::new(Vec::with_capacity(512 + secret.len()));
        body.extend_from_slice(b"{\"secret\":");
        serde_json::to_writer(&mut *body, secret.expose()).expect("a string serialises");
        let generation = generation.map(|g| (GENERATION.to_owned(), serde_json::json!(g)));
        for (key, value) in fields
            .data
            .iter()
            .chain(generation.iter().map(|(k, v)| (k, v)))
        {
            body.push(b',');
            serde_json::to_writer(&mut *body, key).expect("a string serialises");
            body.push(b':');
            serde_json::to_writer(&mut *body, value).expect("a value serialises");
        }
        body.push(b'}');
        match self.kv().write(&token_rel(name), &body, Some(cas))? {
            Ok(version) => Ok(version),
            Err(Raced) => Err(self.conflict(name)),
        }
    }

    fn patch(
        &self,
        name: &TokenName,
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
    ) -> Result<(), OpenBaoError> {
        let changes = record::record_changes(old, new);
        self.kv().patch_custom(&token_rel(name), &changes)
    }

    /// Points the registry's default at `integration`, keeping the `default`
    /// token's mark true ([`mark`]).
    fn set_pointer(&self, registry: &Registry, integration: &Integration) -> Result<()> {
        let rel = pointer_rel(registry);
        if integration.as_str() == crate::names::DEFAULT_INTEGRATION {
            self.kv().delete(&rel)?;
            self.ledger.mark(registry);
            return Ok(());
        }
        self.ledger.unmark(registry)?;
        self.ledger.client.start();
        let body = serde_json::to_vec(&Pointer {
            integration: integration.as_str().to_owned(),
        })
        .expect("a pointer serialises");
        self.kv().write(&rel, &body, None)?.map_err(|Raced| {
            ServiceError::from(OpenBaoError::Conflict {
                path: self.kv().data_path(&rel),
            })
        })?;
        self.ledger.unmark_again(registry);
        Ok(())
    }

    /// True when `name` is its registry's `default` token, and this edit
    /// read that no pointer names another: a write of it may set the mark.
    fn may_mark(&self, name: &TokenName) -> bool {
        let default = Integration::default_name();
        name.integration == default && self.defaults.get(&name.registry) == Some(&default)
    }

    /// What `put` writes over at `name`: what this edit read, else the server's state now.
    fn over(&self, name: &TokenName) -> Result<Over> {
        if let Some(known) = self.seen.get(name) {
            return Ok(Over {
                cas: known.version,
                custom: known.custom.clone(),
                live: true,
            });
        }
        if let Some(&cas) = self.gone.get(name) {
            return Ok(Over {
                cas,
                custom: BTreeMap::new(),
                live: false,
            });
        }
        Ok(match self.kv().read_slot::<TokenData>(&token_rel(name))? {
            Slot::Live(read) => Over {
                cas: read.version,
                custom: read.custom,
                live: true,
            },
            // Deleted by hand: its metadata, and version count, are still there.
            Slot::Deleted { version, .. } => Over {
                cas: version,
                custom: BTreeMap::new(),
                live: false,
            },
            Slot::Absent => Over {
                cas: 0,
                custom: BTreeMap::new(),
                live: false,
            },
        })
    }
}

/// The one line for a change of which only the first part was made.
fn unfinished(done: String, missing: String, fix: String) -> ServiceError {
    OpenBaoError::Unfinished { done, missing, fix }.into()
}

/// What went wrong, in words to follow "but".
fn cause(e: &OpenBaoError) -> String {
    match e {
        OpenBaoError::Unknown { detail, .. } => format!("its outcome is not known ({detail})"),
        e => e.to_string(),
    }
}

impl Edit for ServerEdit<'_> {
    fn default_of(&mut self, registry: &Registry) -> Result<Option<Integration>> {
        self.ledger.client.start();
        let default = self.ledger.default_integration(registry)?;
        self.defaults.insert(registry.clone(), default.clone());
        Ok(Some(default))
    }

    fn token(&mut self, name: &TokenName) -> Result<Option<TokenRecord>> {
        // What this edit read or wrote is what it writes over (check-and-set
        // against that version), so a second read would only cost a round trip.
        // Nor would one of a token found not there: a first write checks against that.
        if let Some(known) = self.seen.get(name) {
            return Ok(Some(known.record.clone()));
        }
        if self.gone.contains_key(name) {
            return Ok(None);
        }
        self.ledger.client.start();
        Ok(match self.ledger.read_token_slot(name)? {
            TokenSlot::Live(seen) => {
                self.remember(
                    name,
                    seen.read.version,
                    seen.record.clone(),
                    seen.read.custom,
                );
                if let Some(secret) = seen.read.data.secret {
                    self.secrets.insert(name.clone(), secret);
                }
                Some(seen.record)
            }
            TokenSlot::Gone { cas } => {
                self.gone.insert(name.clone(), cas);
                None
            }
        })
    }

    fn names(&mut self) -> Result<Vec<TokenName>> {
        self.ledger.client.start();
        self.ledger.walk()
    }

    fn secret(&mut self, name: &TokenName) -> Result<Option<Secret>> {
        // The secret of the version this edit read, which its writes check against.
        if let Some(secret) = self.secrets.get(name) {
            return Ok(Some(secret.clone()));
        }
        self.secret_now(name)
    }

    fn secret_now(&mut self, name: &TokenName) -> Result<Option<Secret>> {
        self.ledger.client.start();
        Ok(self
            .ledger
            .read_token(name)?
            .and_then(|seen| seen.read.data.secret))
    }

    fn put(
        &mut self,
        name: &TokenName,
        mut record: TokenRecord,
        secret: &Secret,
    ) -> Result<BackendKind> {
        self.ledger.client.start();
        let over = self.over(name)?;
        record.secret = SecretRef {
            backend: BackendKind::OpenBao,
            item: token_rel(name),
            hint: None,
        };
        let generation = crate::ids::new_id();
        let mut custom = record::to_server(&record).custom;
        custom.insert(GENERATION.to_owned(), generation.clone());
        // The mark travels with the record; set now, it is checked once written.
        let marking = self.may_mark(name) && !mark::is_marked(&over.custom);
        if self.may_mark(name) {
            custom.insert(MARK.to_owned(), NO_POINTER.to_owned());
        }
        let version = if over.live {
            // The secret first: until the record follows, readers see a record
            // of another generation and set its facts aside.
            let version = self.write_data(name, &record, secret, over.cas, Some(&generation))?;
            self.ledger.client.start();
            if let Err(e) = self.patch(name, &over.custom, &custom) {
                return Err(unfinished(
                    format!("the new secret of {name} is stored on the server"),
                    format!(
                        "its record was not updated: {}; `get` serves the new secret{}, without the old one's expiry or Docker Hub link",
                        cause(&e),
                        if self.seen.get(name).is_some_and(|k| !k.record.active) {
                            " once the token is active again"
                        } else {
                            ""
                        }
                    ),
                    "run the same command again to finish".into(),
                ));
            }
            version
        } else {
            // A new token: its record first, then the secret, whose write makes it appear whole.
            self.kv().set_custom(&token_rel(name), &custom)?;
            self.ledger.client.start();
            self.write_data(name, &record, secret, over.cas, Some(&generation))?
        };
        if marking {
            self.ledger.recheck_mark(&name.registry);
        }
        self.remember(name, version, record, custom);
        Ok(BackendKind::OpenBao)
    }

    fn update(&mut self, name: &TokenName, record: TokenRecord) -> Result<()> {
        self.ledger.client.start();
        let Some(known) = self.seen.get(name).cloned() else {
            return Err(ServiceError::Invalid(format!(
                "{name} was changed without being read first"
            )));
        };
        let (old_fields, new_fields) =
            (record::to_server(&known.record), record::to_server(&record));
        let mut version = known.version;
        if old_fields.data != new_fields.data {
            // The data carries the secret: read it again, and write only over the version seen.
            let seen = self
                .ledger
                .read_token(name)?
                .ok_or_else(|| self.conflict(name))?;
            let secret = seen.read.data.secret.ok_or_else(|| self.conflict(name))?;
            if seen.read.version != known.version {
                return Err(self.conflict(name));
            }
            let generation = seen.read.data.generation.as_deref();
            version = self.write_data(name, &record, &secret, known.version, generation)?;
            self.ledger.client.start();
        }
        // Only what this change changed: keys it did not touch stay as they are.
        let changes = record::custom_changes(&old_fields.custom, &new_fields.custom);
        if let Err(e) = self.kv().patch_custom(&token_rel(name), &changes) {
            if version == known.version {
                return Err(e.into());
            }
            return Err(unfinished(
                format!("the description and username of {name} are updated on the server"),
                format!("the rest of its record is not: {}", cause(&e)),
                "run the same command again to finish".into(),
            ));
        }
        let mut custom = known.custom;
        for (key, value) in changes {
            match value {
                Some(value) => custom.insert(key, value),
                None => custom.remove(&key),
            };
        }
        self.remember(name, version, record, custom);
        Ok(())
    }

    fn remove(&mut self, name: &TokenName) -> Result<bool> {
        self.ledger.client.start();
        let was_default = self.ledger.default_integration(&name.registry)? == name.integration;
        let id = self.seen.get(name).map(|k| k.record.id.clone());
        self.ledger.client.start();
        // The token before the default that names it: in between, `get` finds
        // nothing for the registry rather than falling back to another token.
        let removed = self.kv().delete(&token_rel(name))?;
        if was_default && name.integration.as_str() != crate::names::DEFAULT_INTEGRATION {
            self.ledger.client.start();
            if let Err(e) = self.kv().delete(&pointer_rel(&name.registry)) {
                return Err(unfinished(
                    format!("{name} is deleted from the server"),
                    format!(
                        "the default of {} still names it: {}; until it is changed, `get` finds no token for {}",
                        name.registry,
                        cause(&e),
                        name.registry
                    ),
                    format!(
                        "run `docker-credential-pat delete {name}` again to finish, or choose another default with `docker-credential-pat default INTEGRATION@{}`",
                        name.registry
                    ),
                ));
            }
            self.ledger.mark(&name.registry);
        }
        if let Some(id) = id {
            // The uses of a token that is gone are of no more use; keeping them harms nothing.
            self.ledger.client.start();
            let _ = self.kv().delete(&uses_rel(&id));
        }
        self.seen.remove(name);
        self.secrets.remove(name);
        // Its metadata went with it: a first write there checks against 0.
        self.gone.insert(name.clone(), 0);
        Ok(removed)
    }

    fn rename(&mut self, from: &TokenName, to: &TokenName) -> Result<()> {
        self.ledger.client.start();
        let seen = self
            .ledger
            .read_token(from)?
            .ok_or_else(|| self.conflict(from))?;
        let secret = seen
            .read
            .data
            .secret
            .as_ref()
            .ok_or_else(|| self.conflict(from))?;
        let mut record = seen.record.clone();
        record.secret.item = token_rel(to);
        // Everything the old path carried moves along, its id (and so its uses) included.
        let mut custom = seen.read.custom.clone();
        custom.extend(record::to_server(&record).custom);
        // The mark belongs to the `default` token where it is; a copy starts without it.
        custom.remove(MARK);
        self.ledger.client.start();
        match self.kv().read_slot::<TokenData>(&token_rel(to))? {
            // Copied by an earlier run that stopped before it finished.
            Slot::Live(there)
                if there.custom.get("id") == custom.get("id")
                    && there.data.secret.as_ref() == Some(secret) => {}
            Slot::Live(_) => return Err(self.conflict(to)),
            slot => {
                let cas = match slot {
                    Slot::Deleted { version, .. } => version,
                    _ => 0,
                };
                self.kv().set_custom(&token_rel(to), &custom)?;
                self.ledger.client.start();
                self.write_data(
                    to,
                    &record,
                    secret,
                    cas,
                    seen.read.data.generation.as_deref(),
                )?;
            }
        }
        self.gone.remove(to);
        let again = format!(
            "run `docker-credential-pat rename {from} {}` again to finish",
            to.integration
        );
        self.ledger.client.start();
        let finish = || -> Result<(), OpenBaoError> {
            if self
                .ledger
                .default_integration(&from.registry)
                .map_err(|e| match e {
                    ServiceError::Server(e) => e,
                    e => OpenBaoError::Setup(e.to_string()),
                })?
                == from.integration
            {
                self.ledger.client.start();
                self.set_pointer(&to.registry, &to.integration)
                    .map_err(|e| match e {
                        ServiceError::Server(e) => e,
                        e => OpenBaoError::Setup(e.to_string()),
                    })?;
            }
            self.ledger.client.start();
            self.kv().delete(&token_rel(from))?;
            Ok(())
        };
        if let Err(e) = finish() {
            return Err(unfinished(
                format!("{to} holds the token now"),
                format!("{from} is still there too: {}", cause(&e)),
                again,
            ));
        }
        self.seen.remove(from);
        self.secrets.remove(from);
        self.gone.insert(from.clone(), 0);
        Ok(())
    }

    fn is_copy_of(&mut self, from: &TokenName, to: &TokenName) -> Result<bool> {
        self.ledger.client.start();
        let (Some(from), Some(to)) = (self.ledger.read_token(from)?, self.ledger.read_token(to)?)
        else {
            return Ok(false);
        };
        Ok(from.record.id == to.record.id && from.read.data.secret == to.read.data.secret)
    }

    fn set_default(&mut self, name: &TokenName) -> Result<()> {
        self.ledger.client.start();
        self.set_pointer(&name.registry, &name.integration)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}
