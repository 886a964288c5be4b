//! Changes on Docker Hub whose answer may be lost: read back before deciding.
//!
//! Switching a token on or off and deleting it do the same thing twice, so
//! one whose outcome is unknown is read back and, if it did not happen, sent
//! once more. Creating a token does not: a create whose answer was lost is
//! never sent again; Hub's listing is read instead, and a token it made then
//! (its secret never arrived, so nobody holds it) is deleted again.

use super::Hub;
use crate::remote::hub::HubError;
use crate::remote::hub::client::{CreatedToken, HubToken, NewToken};
use crate::remote::hub::session::Session;

/// What became of a create whose answer never came.
#[derive(Debug)]
pub(crate) enum Lost {
    /// Hub had made it; it was deleted again.
    Removed(String),
    /// Hub had made it, and deleting it failed.
    Left(String),
    /// Hub lists no such token (yet).
    NoneListed,
    /// Hub could not be asked.
    Unchecked,
}

impl Hub<'_> {
    /// The token `uuid` on Hub; `None` when Hub has none by that id.
    pub(super) fn lookup(
        &self,
        session: &Session,
        uuid: &str,
    ) -> Result<Option<HubToken>, HubError> {
        match self.with_session(session, |c, s| c.get(s, uuid)) {
            Ok(token) => Ok(Some(token)),
            Err(HubError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs an idempotent change of `uuid`; when its outcome is unknown,
    /// reads the token back (`landed`) and sends it once more only if it did not happen.
    fn settle_change(
        &self,
        session: &Session,
        uuid: &str,
        done: &'static str,
        send: impl Fn() -> Result<(), HubError>,
        landed: impl Fn(Option<&HubToken>) -> bool,
    ) -> Result<(), HubError> {
        let mut error = match send() {
            Ok(()) => return Ok(()),
            Err(e) if e.may_have_acted() => e,
            Err(e) => return Err(e),
        };
        for attempt in 0..2 {
            match self.lookup(session, uuid) {
                Ok(now) if landed(now.as_ref()) => return Ok(()),
                Ok(_) if attempt == 0 => match send() {
                    Ok(()) => return Ok(()),
                    Err(e) if e.may_have_acted() => error = e,
                    Err(e) => return Err(e),
                },
                // Sent twice, read back twice, not done: it did not happen.
                Ok(_) => return Err(error),
                Err(_) => {
                    return Err(HubError::Unsure {
                        done,
                        uuid: uuid.to_owned(),
                        detail: error.to_string(),
                    });
                }
            }
        }
        Err(error)
    }

    /// Activates or deactivates `uuid` on Hub.
    pub(super) fn switch(
        &self,
        session: &Session,
        uuid: &str,
        active: bool,
    ) -> Result<(), HubError> {
        let done = if active { "activated" } else { "deactivated" };
        self.settle_change(
            session,
            uuid,
            done,
            || self.with_session(session, |c, s| c.set_active(s, uuid, active).map(drop)),
            |now| now.is_some_and(|t| t.is_active == active),
        )
    }

    /// Deletes `uuid` from Hub; one that is already gone counts as deleted.
    pub(super) fn remove(&self, session: &Session, uuid: &str) -> Result<(), HubError> {
        self.settle_change(
            session,
            uuid,
            "deleted",
            || match self.with_session(session, |c, s| c.delete(s, uuid)) {
                Err(HubError::Refused { status: 404, .. }) => Ok(()),
                other => other,
            },
            |now| now.is_none(),
        )
    }

    /// Creates a token, sent once. `before` are the ids Hub listed just
    /// before: a token with the same label that was not among them, and was
    /// never used, is the one this request made.
    pub(super) fn create_once(
        &self,
        session: &Session,
        new: &NewToken,
        before: &[HubToken],
    ) -> Result<CreatedToken, HubError> {
        let error = match self.with_session(session, |c, s| c.create(s, new)) {
            Ok(created) => return Ok(created),
            Err(e) if e.may_have_acted() => e,
            Err(e) => return Err(e),
        };
        let lost = match self.with_session(session, |c, s| c.list(s)) {
            Err(_) => Lost::Unchecked,
            Ok(now) => {
                let made: Vec<&HubToken> = now
                    .iter()
                    .filter(|t| t.token_label == new.token_label && t.last_used.is_none())
                    .filter(|t| before.iter().all(|b| b.uuid != t.uuid))
                    .collect();
                match made.as_slice() {
                    [] => Lost::NoneListed,
                    [one] => match self.remove(session, &one.uuid) {
                        Ok(()) => Lost::Removed(one.uuid.clone()),
                        Err(_) => Lost::Left(one.uuid.clone()),
                    },
                    // Someone else is creating tokens of this label too: not ours to tell apart.
                    _ => Lost::Unchecked,
                }
            }
        };
        Err(HubError::CreateLost {
            label: new.token_label.as_str().into(),
            lost,
            detail: error.to_string().into(),
            org: self.org.as_deref().map(Into::into),
        })
    }
}
