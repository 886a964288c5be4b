//! `gitlab rotate`: a token replaced through GitLab's rotate calls, in an
//! order that never trips GitLab's reuse detection (a rotate call that
//! presents or names an already rotated token revokes its whole family),
//! even when the helper is killed at any step and run again.
//!
//! 1. **Read the state first.** The token in question is the one a rotation
//!    left in flight (the record's intent), else the linked one. It is read
//!    at GitLab — by id with the management credential, or as `self` with the
//!    stored token — before any rotate call. A rotate call is only ever made
//!    for a token GitLab has just said is active.
//! 2. **Write the intent** ("rotating token ID, started at T") on the
//!    token's record, in one commit, before the rotate call.
//! 3. **Rotate once**: `self/rotate` with the stored token when it has the
//!    `self_rotate` or `api` scope, else by id with the management
//!    credential. Never sent again by this run, whatever happens.
//! 4. **Store the new token** the moment the answer arrives (one commit that
//!    also clears the intent), before anything else that can fail.
//!
//! A run that finds an intent and the token still active knows the rotation
//! did not happen, and rotates. One that finds it revoked knows the answer
//! was lost: with the management credential it looks for what that rotation
//! made (a live token of the same name made since the intent), revokes all
//! but the newest, and rotates the newest (whose secret nobody holds) to get
//! a secret it can store; when there is none, it creates a fresh project or
//! group token of the same name, scopes, role and expiry length. A personal
//! token whose successor cannot be found is lost, and the error says so.

use chrono::{DateTime, NaiveDate, Utc};

use super::create::{Left, SKEW, facts, may_have_acted};
use super::{Gitlab, ManageError, Result, link_of};
use crate::index::{RemoteLink, RemoteOwner, Rotating, TokenRecord};
use crate::names::TokenName;
use crate::remote::RemoteError;
use crate::remote::api::{Created, NewToken, Presenting, RemoteToken, TokenApi, TokenRef};
use crate::secret::Secret;
use crate::service::write::{Facts, TokenSpec};

/// The steps of a rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Read,
    Intent,
    Rotate,
    Store,
    Recover,
}

/// Why a rotation stopped, and what is true now.
pub(crate) struct RotateFailure {
    pub step: Step,
    pub error: ManageError,
    /// The rotate call may have happened: the next run reads GitLab's state first.
    pub in_flight: bool,
}

impl RotateFailure {
    fn at(step: Step, error: impl Into<ManageError>) -> Box<Self> {
        Box::new(Self {
            step,
            error: error.into(),
            in_flight: false,
        })
    }
}

/// How an interrupted rotation was finished.
pub(crate) enum Recovery {
    /// What the lost rotation made was found and rotated again.
    Successor { lost: String },
    /// Nothing it made was found live; a fresh token was created.
    Fresh,
}

/// What a rotation did.
pub(crate) struct Rotated {
    pub name: TokenName,
    pub old_id: String,
    pub new: RemoteToken,
    pub itself: bool,
    pub recovery: Option<Recovery>,
    /// Live tokens an interrupted rotation left that nobody holds, revoked.
    pub revoked: Vec<String>,
}

type Outcome<T> = std::result::Result<T, Box<RotateFailure>>;

impl Gitlab<'_> {
    /// Replaces a linked token by rotating it at GitLab; see the module comment.
    pub(crate) fn rotate(&self, text: &str) -> Outcome<Rotated> {
        let read = |e: ManageError| RotateFailure::at(Step::Read, e);
        let (name, record, secret) = self.stored_with_secret(text).map_err(read)?;
        let link = link_of(&name, &record).map_err(read)?;
        if let Some(intent) = &link.rotating {
            self.wait_out(intent.started_at);
        }
        let in_flight = link
            .rotating
            .as_ref()
            .map_or(link.id.clone(), |r| r.id.clone());
        let target = TokenRef {
            owner: link.owner.clone(),
            id: in_flight.clone(),
        };
        let state = self
            .state(&target, &link, &record, &secret)
            .map_err(|e| read(e.into()))?;
        match (state, &link.rotating) {
            (Some(token), _) if token.is_active() => {
                let itself = in_flight == link.id && can_rotate_itself(&token);
                let with = if itself {
                    Presenting::Itself(&secret)
                } else {
                    Presenting::Manager
                };
                let made = self.rotate_once(&name, &link, &token, with)?;
                Ok(Rotated {
                    name,
                    old_id: link.id.clone(),
                    new: made.token,
                    itself,
                    // A token other than the linked one in flight: a recovery's own rotation.
                    recovery: (in_flight != link.id).then(|| Recovery::Successor {
                        lost: in_flight.clone(),
                    }),
                    revoked: Vec::new(),
                })
            }
            (state, Some(intent)) => self.recover(name, &link, intent, state),
            (state, None) => Err(RotateFailure::at(
                Step::Read,
                ManageError::Invalid(not_active(&name, &link, state.as_ref())),
            )),
        }
    }

    /// A stored token of this registry, its record and its secret, read at
    /// once (on a team server, in one request).
    pub(super) fn stored_with_secret(
        &self,
        text: &str,
    ) -> Result<(TokenName, TokenRecord, Secret)> {
        crate::remote::stored_with_secret(self.service, &self.endpoint.registry, text)
    }

    /// The token `target` as GitLab has it now: read by id with the
    /// management credential, or as `self` with the stored token. `None`
    /// when GitLab no longer has it, or refuses the stored token (revoked or
    /// expired: without the management credential, which cannot be told).
    fn state(
        &self,
        target: &TokenRef,
        link: &RemoteLink,
        record: &TokenRecord,
        secret: &Secret,
    ) -> Result<Option<RemoteToken>, RemoteError> {
        if self.api.has_manager() {
            return match self.managed(|api| api.get(target)) {
                Ok(token) => Ok(Some(token)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            };
        }
        if target.id != link.id {
            return Err(RemoteError::NoLogin);
        }
        let result = self.api.verify(secret);
        self.record_own_use(record);
        match result {
            Ok(token) if token.id == link.id => Ok(Some(RemoteToken {
                owner: link.owner.clone(),
                ..token
            })),
            Ok(_) | Err(RemoteError::Unauthorized { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Steps 2 to 4 for a token GitLab has just said is active.
    fn rotate_once(
        &self,
        name: &TokenName,
        link: &RemoteLink,
        token: &RemoteToken,
        with: Presenting<'_>,
    ) -> Outcome<Created> {
        if matches!(with, Presenting::Manager) && !self.api.has_manager() {
            return Err(RotateFailure::at(Step::Read, RemoteError::NoLogin));
        }
        let intent = Rotating {
            id: token.id.clone(),
            started_at: Utc::now(),
        };
        self.update(name, |record| {
            if let Some(link) = record.remote.as_mut() {
                link.rotating = Some(intent.clone());
            }
        })
        .map_err(|e| RotateFailure::at(Step::Intent, e))?;
        let expires_at = same_length(token, Utc::now());
        let reference = TokenRef {
            owner: link.owner.clone(),
            id: token.id.clone(),
        };
        let result = match with {
            Presenting::Manager => self.managed(|api| api.rotate(&reference, with, expires_at)),
            Presenting::Itself(_) => self.api.rotate(&reference, with, expires_at),
        };
        let made = match result {
            Ok(made) => made,
            Err(error) => {
                let in_flight = may_have_acted(&error);
                if !in_flight {
                    // Refused: nothing happened at GitLab, so no intent is left.
                    let _ = self.update(name, |record| {
                        if let Some(link) = record.remote.as_mut() {
                            link.rotating = None;
                        }
                    });
                }
                return Err(Box::new(RotateFailure {
                    step: Step::Rotate,
                    error: error.into(),
                    in_flight,
                }));
            }
        };
        self.store_rotated(name, &made).map_err(|e| {
            Box::new(RotateFailure {
                step: Step::Store,
                error: e,
                in_flight: true,
            })
        })?;
        Ok(made)
    }

    /// Stores the new secret in place of the old in one commit, clearing the
    /// intent. No policy check first: what GitLab issued is a token, and a
    /// refusal here would lose it.
    fn store_rotated(&self, name: &TokenName, made: &Created) -> Result<()> {
        let mut edit = self.service.ledger()?.begin()?;
        let before = edit.token(name)?.ok_or_else(|| {
            ManageError::Invalid(format!("{name} was deleted by another process meanwhile"))
        })?;
        let spec = TokenSpec {
            name: name.clone(),
            username: &before.username,
            server_url: before.server_url.clone(),
            secret: &made.secret,
            description: None,
            make_default: false,
        };
        self.service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts(&made.token)))?;
        Ok(())
    }

    /// A rotation whose answer was lost: see the module comment.
    fn recover(
        &self,
        name: TokenName,
        link: &RemoteLink,
        intent: &Rotating,
        lost: Option<RemoteToken>,
    ) -> Outcome<Rotated> {
        let fail = |e: ManageError| RotateFailure::at(Step::Recover, e);
        if !self.api.has_manager() {
            return Err(fail(ManageError::Invalid(lost_words(&name, link, intent))));
        }
        let lost = match lost {
            Some(token) => token,
            None => {
                return Err(fail(ManageError::Invalid(format!(
                    "GitLab no longer has token {} that a rotation of {name} started at {}; `docker-credential-pat gitlab create` makes a new one",
                    intent.id,
                    rfc3339(intent.started_at)
                ))));
            }
        };
        let listed = self
            .managed(|api| api.list(&link.owner))
            .map_err(|e| fail(e.into()))?;
        let stored: Vec<String> = self
            .entries()
            .map_err(fail)?
            .iter()
            .filter_map(|e| e.record.remote.as_ref().map(|l| l.id.clone()))
            .collect();
        let mut found: Vec<RemoteToken> = listed
            .into_iter()
            .filter(|t| t.is_active() && t.name == lost.name && !stored.contains(&t.id))
            .filter(|t| {
                t.created_at
                    .is_some_and(|at| at >= intent.started_at - SKEW)
            })
            .collect();
        found.sort_by_key(|t| t.created_at);
        let newest = found.pop();
        let mut revoked = Vec::new();
        for other in found {
            let reference = TokenRef {
                owner: link.owner.clone(),
                id: other.id.clone(),
            };
            if self.managed(|api| api.revoke(&reference)).is_ok() {
                revoked.push(other.id);
            }
        }
        if let Some(successor) = newest {
            let made = self.rotate_once(&name, link, &successor, Presenting::Manager)?;
            return Ok(Rotated {
                name,
                old_id: lost.id.clone(),
                new: made.token,
                itself: false,
                recovery: Some(Recovery::Successor { lost: successor.id }),
                revoked,
            });
        }
        if link.owner == RemoteOwner::Personal {
            return Err(fail(ManageError::Invalid(lost_words(&name, link, intent))));
        }
        let made = self.fresh(&name, link, &lost).map_err(|e| {
            Box::new(RotateFailure {
                step: Step::Recover,
                error: e,
                in_flight: true,
            })
        })?;
        Ok(Rotated {
            name,
            old_id: lost.id.clone(),
            new: made.token,
            itself: false,
            recovery: Some(Recovery::Fresh),
            revoked,
        })
    }

    /// A fresh project or group token like `lost`, stored at once. Its intent
    /// (the lost token's, with a new start) stays until it is stored, so a
    /// lost answer here is found by the same search on the next run.
    fn fresh(&self, name: &TokenName, link: &RemoteLink, lost: &RemoteToken) -> Result<Created> {
        let started = Utc::now();
        self.update(name, |record| {
            if let Some(link) = record.remote.as_mut() {
                link.rotating = Some(Rotating {
                    id: lost.id.clone(),
                    started_at: started,
                });
            }
        })?;
        let new = NewToken {
            name: lost.name.clone(),
            description: (!lost.description.is_empty()).then(|| lost.description.clone()),
            scopes: if lost.scopes.is_empty() {
                link.scopes.clone()
            } else {
                lost.scopes.clone()
            },
            expires_at: same_length(lost, started),
            access_level: lost.access_level,
        };
        // Never sent twice: a lost answer leaves a token the next run's search
        // finds (same name, made since the intent above) and rotates.
        let made = self.managed(|api| api.create(&link.owner, &new))?;
        self.store_rotated(name, &made)?;
        Ok(made)
    }
}

/// True when a token may rotate itself (`self_rotate`, or `api`).
fn can_rotate_itself(token: &RemoteToken) -> bool {
    token
        .scopes
        .iter()
        .any(|s| s == "self_rotate" || s == "api")
}

/// The expiry a replacement gets: as many days from today as the old token
/// had from its creation (1 to 365); `None` when that is not known.
pub(crate) fn same_length(old: &RemoteToken, now: DateTime<Utc>) -> Option<NaiveDate> {
    let length = old.expires_at? - old.created_at?;
    // Whole days, counting a part day as one: made today to die in 30 days is 30 days.
    let days =
        length.num_seconds().div_euclid(86_400) + i64::from(length.num_seconds() % 86_400 != 0);
    let days = days.clamp(1, 365);
    Some(now.date_naive() + chrono::Duration::days(days))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn not_active(name: &TokenName, link: &RemoteLink, state: Option<&RemoteToken>) -> String {
    match state {
        Some(token) => format!(
            "{name}'s token {} is {} at GitLab, and only an active token can be rotated: `docker-credential-pat gitlab create` makes a new one",
            link.id,
            token.state.word()
        ),
        None => format!(
            "GitLab does not accept {name}'s token {} any more (revoked, expired or rotated elsewhere), so it was not presented to a rotate call; `docker-credential-pat gitlab login` lets this read its state",
            link.id
        ),
    }
}

fn lost_words(name: &TokenName, link: &RemoteLink, intent: &Rotating) -> String {
    let started = rfc3339(intent.started_at);
    if link.owner == RemoteOwner::Personal {
        format!(
            "the rotation of {name} started at {started} happened at GitLab, but its answer was lost, and with it the new token: make a new personal access token in GitLab's settings and store it with `docker login` (the old one is revoked)"
        )
    } else {
        format!(
            "the rotation of {name} started at {started} may have happened at GitLab and its answer was lost: `docker-credential-pat gitlab login --registry {}` and run this again to recover a working token",
            name.registry
        )
    }
}

/// What a failed create left, in words (shared with `gitlab create`).
pub(crate) fn left_words(left: &Left) -> String {
    match left {
        Left::Nothing => String::new(),
        Left::Revoked(ids) => format!(
            "; GitLab had made token {}, which nobody holds, so it was revoked again",
            ids.join(", ")
        ),
        Left::Live(ids) => format!(
            "; GitLab made token {}, which nobody holds and which could not be revoked: `docker-credential-pat gitlab revoke ID` revokes it",
            ids.join(", ")
        ),
        Left::Unknown => {
            "; GitLab may have made the token: `docker-credential-pat gitlab tokens` shows it, and `gitlab revoke ID` revokes it".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::api::TokenState;

    #[test]
    fn a_replacement_lasts_as_many_days_as_the_old_token_did() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let mut old = RemoteToken {
            id: "1".into(),
            owner: RemoteOwner::Project("2".into()),
            name: "ci".into(),
            description: String::new(),
            scopes: vec!["read_registry".into()],
            state: TokenState::Active,
            created_at: Some(at("2026-01-01T10:00:00Z")),
            expires_at: Some(at("2026-01-31T00:00:00Z")),
            last_used_at: None,
            access_level: Some(20),
        };
        let now = at("2026-06-01T12:00:00Z");
        // 29 days and 14 hours count as 30.
        assert_eq!(same_length(&old, now).unwrap().to_string(), "2026-07-01");
        old.expires_at = Some(at("2028-01-01T00:00:00Z"));
        assert_eq!(same_length(&old, now).unwrap().to_string(), "2027-06-01");
        old.expires_at = None;
        assert!(same_length(&old, now).is_none());
        assert!(can_rotate_itself(&RemoteToken {
            scopes: vec!["read_registry".into(), "self_rotate".into()],
            ..old.clone()
        }));
        assert!(!can_rotate_itself(&old));
    }
}
