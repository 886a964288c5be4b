//! What acts on Docker Hub and on the stored token together.
//!
//! The order of each operation is what keeps a token usable whatever
//! happens: a token is switched off here before Hub switches it off (so
//! `get` never serves a token Hub refuses, and a refusal puts it back), and
//! the store goes first for anything that replaces (so the old token stays
//! stored and active until the new one is stored and checked). A Hub token
//! is deleted or switched off by the helper only when nothing here stores
//! or uses it, and a change whose outcome is unknown is read back first.
//! `rotate` goes: create the new token, check it at Hub, store it (one
//! ledger commit: from then on Docker gets it), then switch the old one off.
//! A rotation interrupted after the commit leaves the old token's id on the
//! record (`retiring`), and the next rotation of that token finishes the job.
//!
//! The same flows manage an organisation's access tokens (`hub … --org ORG`,
//! [`Hub::org`]): the client then speaks to the organisation's token calls,
//! a new token is stored with the organisation as its username (as `docker
//! login -u ORG` expects) and checked at Hub under that name, and its
//! [`HubLink`] carries the organisation and what the token reaches. A stored
//! token is acted on only by a run for its own owner ([`Hub::owns`]).
//!
//! Tokens are read and changed only through the service's [`Ledger`], so all
//! of this works the same on this machine's index and on a team's OpenBao
//! server, where the expiry and the Hub link travel with the record.
//!
//! - this file: [`Hub`], the stored and Hub tokens that commands name, and
//!   what every operation shares;
//! - [`sign_in`]: the session (`hub login`, `hub logout`);
//! - [`create`]: a new token made on Hub and stored, or a stored one linked;
//! - [`state`]: activating, deactivating and deleting, on Hub and here;
//! - [`rotate`]: a token replaced by a new one, in the order above;
//! - [`listing`]: Hub's tokens beside the stored ones, and the audit;
//! - [`settle`]: Hub changes whose answer was lost, read back before
//!   anything is decided; a create sent once;
//! - [`keep`]: a new token stored, and a failed store read back: the new
//!   token is kept when it is stored, deleted from Hub when it is not, left
//!   alone when that cannot be known;
//! - [`pending`]: the note of a new token not yet known to be stored, which
//!   the same command, run again, settles first.
//!
//! [`Ledger`]: crate::ledger::Ledger
//! [`HubLink`]: crate::index::HubLink

use std::time::Duration;

use super::HubError;
use super::client::{HubClient, HubToken};
use super::session::Session;
use super::spec;
use crate::error::ServiceError;
use crate::index::TokenRecord;
use crate::ledger::Entry;
use crate::names::TokenName;
use crate::registry::Registry;
use crate::service::Service;
use crate::service::tokens::find_entry;

pub(crate) mod create;
mod keep;
pub(crate) use keep::StoreOutcome;
pub(crate) mod listing;
pub(crate) mod pending;
pub(crate) mod rotate;
pub(crate) mod settle;
pub(crate) mod sign_in;
pub(crate) mod state;

/// The client name recorded for the helper's own checks of a token at Hub.
pub(crate) const CHECK_CLIENT: &str = "hub-check";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManageError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Local(#[from] ServiceError),
    #[error("{0}")]
    Invalid(String),
    /// A stored token named without `--org` is an access token of `org`:
    /// the command runs again for that organisation.
    #[error("{message}")]
    OrgToken { org: String, message: String },
    /// Part of a change was made: what was, why the rest was not, and how to finish.
    #[error("{head}{cause}{tail}")]
    Partial {
        head: String,
        cause: Box<ManageError>,
        tail: String,
    },
}

impl From<crate::config::ConfigError> for ManageError {
    fn from(e: crate::config::ConfigError) -> Self {
        ManageError::Local(e.into())
    }
}

type Result<T, E = ManageError> = std::result::Result<T, E>;

/// Docker Hub as this run sees it: the service, the client, Hub's URL, and
/// the organisation whose access tokens it manages (`None`: the signed-in
/// account's personal tokens). Every flow below works on either.
pub(crate) struct Hub<'a> {
    pub service: &'a Service,
    pub client: HubClient,
    pub url: String,
    pub org: Option<String>,
}

/// A token given on the command line: one stored here, or only a Hub token id.
pub(crate) enum Target {
    Local {
        name: TokenName,
        record: Box<TokenRecord>,
        uuid: String,
    },
    Remote {
        uuid: String,
    },
}

impl Target {
    pub(crate) fn uuid(&self) -> &str {
        match self {
            Target::Local { uuid, .. } | Target::Remote { uuid } => uuid,
        }
    }
}

/// A new Hub token that could not be kept, and whether it was taken back off Hub.
pub(crate) struct Abandoned {
    pub uuid: String,
    pub deleted: bool,
}

impl<'a> Hub<'a> {
    /// Hub for the signed-in account's personal tokens.
    pub(crate) fn open(service: &'a Service) -> Result<Self> {
        Self::open_for(service, None)
    }

    /// Hub for `org`'s access tokens, or (`None`) the personal ones.
    pub(crate) fn open_for(service: &'a Service, org: Option<&str>) -> Result<Self> {
        let org = org
            .map(super::org::check_org)
            .transpose()
            .map_err(ManageError::Invalid)?;
        let url = service.env.hub_url(&service.config)?;
        let timeout = Duration::from_secs(u64::from(service.config.hub_timeout_seconds));
        Ok(Self {
            service,
            client: HubClient::new(&url, timeout)?.for_org(org.as_deref()),
            url,
            org,
        })
    }

    /// The name Hub takes with the token at `/v2/auth/token` and `docker
    /// login` takes as the username: the organisation's, or the account's.
    fn identifier<'s>(&'s self, session: &'s Session) -> &'s str {
        self.org.as_deref().unwrap_or(&session.username)
    }

    /// True when `record` is a token of what this run manages: an access
    /// token of its organisation, or a personal token of `username`.
    pub(crate) fn owns(&self, record: &TokenRecord, username: &str) -> bool {
        let org = record.hub.as_ref().and_then(|h| h.org.as_deref());
        match (&self.org, org) {
            (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(theirs),
            // Not linked yet (stored by `docker login -u ORG`): its username says whose it is.
            (Some(mine), None) => {
                record.hub.is_none() && record.username.eq_ignore_ascii_case(mine)
            }
            (None, None) => record.username.eq_ignore_ascii_case(username),
            (None, Some(_)) => false,
        }
    }

    /// The open session, or the error that says to sign in.
    pub(crate) fn session(&self) -> Result<Session, HubError> {
        Session::open(&self.url, &self.service.paths).ok_or(HubError::NoSession)
    }

    /// Runs a call with the session; a 401 drops it, so the next command asks to sign in.
    fn with_session<T>(
        &self,
        session: &Session,
        call: impl FnOnce(&HubClient, &Session) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let result = call(&self.client, session);
        match (result, &self.org) {
            (Err(HubError::SessionExpired), _) => {
                let _ = Session::forget(&self.url, &self.service.paths);
                Err(HubError::SessionExpired)
            }
            (
                Err(HubError::Refused {
                    status: 403,
                    what,
                    detail,
                }),
                Some(org),
            ) => Err(HubError::NotOwner {
                org: org.clone(),
                what,
                detail,
            }),
            (result, _) => result,
        }
    }

    /// A token named on the command line: a stored one linked to Hub, or a
    /// Hub token id (in full, or its first 8 or more characters).
    fn target(
        &self,
        session: &Session,
        entries: &[Entry],
        text: &str,
        listing: &mut Option<Vec<HubToken>>,
    ) -> Result<Target> {
        if let Some(uuid) = self.expand_id(session, text, listing)? {
            return Ok(match linked_to(entries, &uuid) {
                Some((name, record)) => Target::Local {
                    name,
                    record: Box::new(record),
                    uuid,
                },
                None => Target::Remote { uuid },
            });
        }
        let entry = find_entry(entries, text)?;
        let uuid = hub_uuid(&entry.name, &entry.record)?;
        Ok(Target::Local {
            name: entry.name.clone(),
            record: Box::new(entry.record.clone()),
            uuid,
        })
    }

    /// The full Hub token id `text` stands for, when it is one or a unique
    /// beginning of one (as `hub tokens` shows them); `None` for anything else.
    fn expand_id(
        &self,
        session: &Session,
        text: &str,
        listing: &mut Option<Vec<HubToken>>,
    ) -> Result<Option<String>> {
        if spec::is_uuid(text) {
            return Ok(Some(text.to_ascii_lowercase()));
        }
        if !spec::is_id_prefix(text) {
            return Ok(None);
        }
        if listing.is_none() {
            *listing = Some(self.with_session(session, |c, s| c.list(s))?);
        }
        let prefix = text.to_ascii_lowercase();
        let found: Vec<&HubToken> = listing
            .iter()
            .flatten()
            .filter(|t| t.uuid.starts_with(&prefix))
            .collect();
        match found.as_slice() {
            [one] => Ok(Some(one.uuid.clone())),
            [] => Err(ManageError::Invalid(format!(
                "no token on Docker Hub has an id starting with {prefix}; `docker-credential-pat hub tokens` shows them"
            ))),
            _ => Err(ManageError::Invalid(format!(
                "{} tokens on Docker Hub have ids starting with {prefix}; give more of the id",
                found.len()
            ))),
        }
    }

    /// A stored token and its record, read at once: nothing is held while Hub is called.
    fn stored(&self, text: &str) -> Result<(TokenName, TokenRecord), ServiceError> {
        let mut edit = self.service.ledger()?.begin()?;
        let name = self.service.resolve(&mut *edit, text)?;
        let record = edit
            .token(&name)?
            .ok_or_else(|| ServiceError::UnknownToken {
                name: name.to_string(),
                suggestions: Vec::new(),
            })?;
        Ok((name, record))
    }

    /// Refuses a stored token that belongs to another Hub account than the
    /// session's, or to another organisation than this run's.
    fn check_owner(&self, session: &Session, name: &TokenName, record: &TokenRecord) -> Result<()> {
        if self.owns(record, &session.username) {
            return Ok(());
        }
        let org = record.hub.as_ref().and_then(|h| h.org.as_deref());
        let theirs = |org: &str| {
            format!(
                "{name} is an access token of the Docker Hub organisation {}: give --org {}",
                crate::text::printable(org, 64),
                crate::text::printable(org, 64)
            )
        };
        if let (Some(org), None) = (org, &self.org) {
            return Err(ManageError::OrgToken {
                org: org.to_owned(),
                message: theirs(org),
            });
        }
        if org.is_some() || self.org.is_some() {
            return Err(ManageError::Invalid(match (org, &self.org) {
                (Some(org), _) => theirs(org),
                (None, Some(mine)) => format!(
                    "{name} is a personal Docker Hub token, not one of the organisation {mine}: leave out --org"
                ),
                (None, None) => unreachable!("one of them is an organisation"),
            }));
        }
        Err(ManageError::Invalid(format!(
            "{name} belongs to {} on Docker Hub, and this session is {}'s: `docker-credential-pat hub login --username {}` first (or, if {} is an organisation, give --org {})",
            crate::text::printable(&record.username, 64),
            session.username,
            crate::text::printable(&record.username, 64),
            crate::text::printable(&record.username, 64),
            crate::text::printable(&record.username, 64)
        )))
    }

    /// Every named token, found and checked before anything is done.
    fn targets(&self, session: &Session, texts: &[String]) -> Result<Vec<Target>> {
        let entries = self.service.ledger()?.entries()?;
        let mut listing = None;
        let targets = texts
            .iter()
            .map(|text| self.target(session, &entries, text, &mut listing))
            .collect::<Result<Vec<_>>>()?;
        for target in &targets {
            if let Target::Local { name, record, .. } = target {
                self.check_owner(session, name, record)?;
            }
        }
        Ok(targets)
    }

    /// Forgets a replaced token once it is switched off on Hub.
    fn clear_retiring(&self, uuid: &str) -> Result<()> {
        let names: Vec<String> = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| {
                e.record
                    .hub
                    .as_ref()
                    .and_then(|h| h.retiring.as_ref())
                    .is_some_and(|r| r.uuid == uuid)
            })
            .map(|e| e.name.to_string())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        self.service.update_tokens(&names, |record| {
            if let Some(link) = record.hub.as_mut()
                && link.retiring.as_ref().is_some_and(|r| r.uuid == uuid)
            {
                link.retiring = None;
            }
        })?;
        Ok(())
    }

    /// Takes a new token that nothing holds back off Hub, if it can.
    fn abandon(&self, session: &Session, uuid: &str) -> Abandoned {
        let deleted = self.remove(session, uuid).is_ok();
        Abandoned {
            uuid: uuid.to_owned(),
            deleted,
        }
    }
}

/// The stored token linked to Hub token `uuid`.
fn linked_to(entries: &[Entry], uuid: &str) -> Option<(TokenName, TokenRecord)> {
    entries
        .iter()
        .find(|e| e.record.hub.as_ref().is_some_and(|h| h.uuid == uuid))
        .map(|e| (e.name.clone(), e.record.clone()))
}

/// The Hub id of a stored token, or why it has none.
fn hub_uuid(name: &TokenName, record: &TokenRecord) -> Result<String> {
    if name.registry != Registry::DockerHub {
        return Err(not_hub(name));
    }
    record.hub.as_ref().map(|h| h.uuid.clone()).ok_or_else(|| {
        ManageError::Invalid(format!(
            "{name} is not linked to a Docker Hub token: `docker-credential-pat hub link {name} TOKEN-ID` links it (`hub tokens` shows the ids)"
        ))
    })
}

fn not_hub(name: &TokenName) -> ManageError {
    ManageError::Invalid(format!(
        "{name} is not a Docker Hub token; the hub commands manage tokens of docker.io"
    ))
}

fn scopes_or(scopes: &[String], fallback: &[String]) -> Vec<String> {
    if scopes.is_empty() {
        fallback.to_vec()
    } else {
        scopes.to_vec()
    }
}
