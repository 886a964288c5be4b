//! Storing a new Hub token (`hub create`, `hub rotate`), and knowing whether
//! it was stored before anything is decided about it.
//!
//! A store can fail after the secret was written (a team server that took
//! the secret and not its record), or with its outcome unknown. So a failed
//! store is read back: the new secret stored is a success (its record is
//! finished if need be); another secret there means the new token is held by
//! nobody and may go; a store that cannot be read back leaves the new token
//! alone, and the note in [`Pending`] lets the same command, run again,
//! finish the job.

use super::pending::Pending;
use super::{Abandoned, Hub, ManageError, Result};
use crate::index::{HubLink, TokenRecord};
use crate::names::TokenName;
use crate::remote::hub::session::Session;
use crate::secret::Secret;
use crate::service::write::{Facts, TokenFacts, TokenSpec};
use crate::store::BackendKind;

/// What a failed store of a new token came to.
pub(crate) enum StoreOutcome {
    /// Not stored: what was stored before stands. The new token was taken back off Hub, or not.
    NotStored(Abandoned),
    /// The new secret is stored and served, but its record could not be finished.
    Incomplete,
    /// Not known: the store could not be read back.
    Unknown,
}

/// A new token ready to be stored.
pub(super) struct NewSecret<'a> {
    pub name: &'a TokenName,
    pub username: &'a str,
    pub server_url: &'a str,
    pub secret: &'a Secret,
    pub pending: &'a Pending,
}

/// What is stored under a name, next to a pending new token.
enum Held {
    /// The new token's secret, with its record finished or not.
    Ours {
        complete: bool,
    },
    Other,
}

/// What running a command again found an earlier run had left under way.
pub(crate) enum Resumed {
    /// The new token was stored: its record is finished now.
    Stored(Box<Pending>),
    /// The new token was never stored: it was deleted from Hub.
    Dropped,
}

impl Hub<'_> {
    /// Stores a new token and its record (Hub link, expiry, the token it
    /// replaces). Returns where, and whether it is the registry's default.
    fn put_new(&self, new: &NewSecret<'_>) -> Result<(BackendKind, bool)> {
        let name = new.name;
        self.service
            .check_policy(&name.registry, new.username, new.secret)?;
        let mut edit = self.service.ledger()?.begin()?;
        let existing = edit.token(name)?;
        let replaces = new.pending.replaces.as_ref();
        let expected = match (&existing, replaces) {
            (None, None) => true,
            (Some(record), Some(old)) if linked_uuid(record) == Some(old.uuid.as_str()) => true,
            // Finishing what an earlier attempt stored.
            (Some(_), _) => edit.secret(name)?.is_some_and(|s| new.pending.is(&s)),
            (None, Some(_)) => false,
        };
        if !expected {
            return Err(ManageError::Invalid(format!(
                "{name} was {} by another process meanwhile",
                if existing.is_some() {
                    "changed"
                } else {
                    "deleted"
                }
            )));
        }
        // A rotation leaves the default alone; a new token becomes it when
        // asked, or when the registry has none (a team server names
        // `default` as the default even before it exists).
        let make_default = replaces.is_none()
            && (new.pending.make_default || !edit.has_default(&name.registry)?);
        let spec = TokenSpec {
            name: name.clone(),
            username: new.username,
            server_url: new.server_url.to_owned(),
            secret: new.secret,
            description: new.pending.description.clone(),
            make_default,
        };
        let facts = TokenFacts {
            expires_at: new.pending.expires_at,
            hub: Some(HubLink {
                uuid: new.pending.uuid.clone(),
                scopes: new.pending.scopes.clone(),
                retiring: new.pending.replaces.clone(),
                used_before_link: None,
                org: new.pending.org.clone(),
                resources: new.pending.resources.clone(),
            }),
            ..TokenFacts::default()
        };
        let outcome = self
            .service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok((outcome.backend, make_default))
    }

    /// What `name` holds now, beside the pending new token; the stored secret too.
    fn held(
        &self,
        name: &TokenName,
        pending: &Pending,
    ) -> Result<(Held, Option<(TokenRecord, Secret)>)> {
        let mut edit = self.service.ledger()?.begin()?;
        let Some(record) = edit.token(name)? else {
            return Ok((Held::Other, None));
        };
        let Some(secret) = edit.secret(name)? else {
            return Ok((Held::Other, None));
        };
        if !pending.is(&secret) {
            return Ok((Held::Other, None));
        }
        let linked = linked_uuid(&record) == Some(pending.uuid.as_str());
        let default_ok = pending.replaces.is_some()
            || if pending.make_default {
                edit.default_of(&name.registry)? == Some(name.integration.clone())
            } else {
                edit.has_default(&name.registry)?
            };
        Ok((
            Held::Ours {
                complete: linked && default_ok,
            },
            Some((record, secret)),
        ))
    }

    /// Stores a new token. When that fails, what is stored is read back:
    /// the new secret there is a success (its record finished if need be);
    /// another secret means the new token is held by nobody, and it is
    /// deleted from Hub. The note of what was under way goes once that is settled.
    pub(super) fn keep_new(
        &self,
        session: &Session,
        new: &NewSecret<'_>,
    ) -> Result<(BackendKind, bool), (ManageError, StoreOutcome)> {
        let paths = &self.service.paths;
        let error = match self.put_new(new) {
            Ok(kept) => {
                let _ = Pending::clear(paths, new.name);
                return Ok(kept);
            }
            Err(e) => e,
        };
        match self.held(new.name, new.pending) {
            Err(_) => Err((error, StoreOutcome::Unknown)),
            Ok((Held::Other, _)) => {
                let abandoned = self.abandon(session, &new.pending.uuid);
                if abandoned.deleted {
                    let _ = Pending::clear(paths, new.name);
                }
                Err((error, StoreOutcome::NotStored(abandoned)))
            }
            Ok((Held::Ours { complete }, _)) => {
                if complete || self.put_new(new).is_ok() {
                    let _ = Pending::clear(paths, new.name);
                    let is_default = self.is_default(new.name).unwrap_or(false);
                    return Ok((self.backend_of(new.name), is_default));
                }
                Err((error, StoreOutcome::Incomplete))
            }
        }
    }

    /// Settles what an earlier run left under way for `name`, if anything:
    /// a new token found stored gets its record finished; one not stored is
    /// held by nobody and is deleted from Hub.
    pub(super) fn resume(&self, session: &Session, name: &TokenName) -> Result<Option<Resumed>> {
        let Some(pending) =
            Pending::of(&self.service.paths, name).map_err(crate::error::ServiceError::from)?
        else {
            return Ok(None);
        };
        // An earlier run's token is settled through its owner's API only.
        let (theirs, mine) = (pending.org.as_deref(), self.org.as_deref());
        if !theirs
            .unwrap_or_default()
            .eq_ignore_ascii_case(mine.unwrap_or_default())
        {
            let message = format!(
                "an earlier run left a new Docker Hub token for {name} under way, {}: run the same command {}",
                theirs.map_or_else(
                    || "a personal one".to_owned(),
                    |o| format!("an access token of the organisation {o}")
                ),
                theirs.map_or_else(|| "without --org".to_owned(), |o| format!("with --org {o}"))
            );
            // Nothing was done yet: a rotation named without --org runs again for the organisation.
            return Err(match (theirs, mine) {
                (Some(org), None) => ManageError::OrgToken {
                    org: org.to_owned(),
                    message,
                },
                _ => ManageError::Invalid(message),
            });
        }
        let resumed = match self.held(name, &pending)? {
            (Held::Ours { complete }, Some((record, secret))) => {
                if !complete {
                    self.put_new(&NewSecret {
                        name,
                        username: &record.username,
                        server_url: &record.server_url,
                        secret: &secret,
                        pending: &pending,
                    })?;
                }
                Resumed::Stored(Box::new(pending))
            }
            _ => {
                self.remove(session, &pending.uuid)?;
                Resumed::Dropped
            }
        };
        Pending::clear(&self.service.paths, name).map_err(crate::error::ServiceError::from)?;
        Ok(Some(resumed))
    }

    pub(super) fn is_default(&self, name: &TokenName) -> Result<bool> {
        let mut edit = self.service.ledger()?.begin()?;
        Ok(edit.default_of(&name.registry)? == Some(name.integration.clone()))
    }

    pub(super) fn backend_of(&self, name: &TokenName) -> BackendKind {
        self.service
            .ledger()
            .and_then(|l| l.begin()?.token(name))
            .ok()
            .flatten()
            .map_or(BackendKind::Keychain, |r| r.secret.backend)
    }
}

fn linked_uuid(record: &TokenRecord) -> Option<&str> {
    record.hub.as_ref().map(|h| h.uuid.as_str())
}
