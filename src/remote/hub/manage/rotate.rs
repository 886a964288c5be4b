//! `hub rotate`: a token replaced by a new one of the same label, scopes and
//! expiry length, in the order the module above describes.

use chrono::{DateTime, Utc};

use super::keep::{NewSecret, Resumed, StoreOutcome};
use super::pending::Pending;
use super::{CHECK_CLIENT, Hub, ManageError, Result, hub_uuid, scopes_or};
use crate::error::ServiceError;
use crate::index::{Retiring, TokenRecord};
use crate::names::TokenName;
use crate::remote::hub::HubError;
use crate::remote::hub::client::{HubToken, NewToken, rfc3339};
use crate::remote::hub::session::Session;
use crate::remote::hub::spec;

/// The steps of a rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Switching off the token an interrupted rotation replaced.
    Finish,
    Read,
    Create,
    Check,
    Store,
    Retire,
}

/// Why a rotation stopped, and what it left.
pub(crate) struct RotateFailure {
    pub step: Step,
    pub error: ManageError,
    /// The new token created on Hub, and what became of it.
    pub new: Option<(String, StoreOutcome)>,
    /// The token still active on Hub that should be switched off.
    pub still_active: Option<Retiring>,
}

impl RotateFailure {
    fn at(step: Step, error: impl Into<ManageError>) -> Box<Self> {
        Box::new(Self {
            step,
            error: error.into(),
            new: None,
            still_active: None,
        })
    }

    fn leaving_active(mut self: Box<Self>, retiring: &Retiring) -> Box<Self> {
        self.still_active = Some(retiring.clone());
        self
    }

    fn leaving(mut self: Box<Self>, uuid: &str, outcome: StoreOutcome) -> Box<Self> {
        self.new = Some((uuid.to_owned(), outcome));
        self
    }
}

/// What a rotation did.
pub(crate) struct Rotated {
    pub name: TokenName,
    pub old_uuid: String,
    pub new_uuid: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// A replaced token an earlier, interrupted rotation left active, now switched off
    /// (for a resumed rotation, the token it replaced).
    pub finished: Option<Retiring>,
    /// The new token was made by an earlier run, which stopped before it knew it was stored.
    pub resumed: bool,
}

impl Hub<'_> {
    /// Replaces a linked token with a new one of the same label, scopes and
    /// expiry length; see the module comment for the order of the steps.
    pub(crate) fn rotate(
        &self,
        text: &str,
        delete_old: bool,
    ) -> Result<Rotated, Box<RotateFailure>> {
        let read = |e: ManageError| RotateFailure::at(Step::Read, e);
        let session = self.session().map_err(|e| read(e.into()))?;
        let (name, mut record) = self.stored(text).map_err(|e| read(e.into()))?;
        // Whose token it is decides which API the rest speaks to, including
        // what settles an earlier run's new token.
        if record.hub.is_some() {
            self.check_owner(&session, &name, &record).map_err(read)?;
        }
        // What an earlier run of this command left under way is settled first.
        let resumed = match self.resume(&session, &name).map_err(read)? {
            Some(Resumed::Stored(pending)) => Some(pending),
            _ => None,
        };
        if resumed.is_some() {
            record = self.stored(text).map_err(|e| read(e.into()))?.1;
        }
        let old_uuid = hub_uuid(&name, &record).map_err(read)?;
        self.check_owner(&session, &name, &record).map_err(read)?;
        let link = record.hub.clone().expect("linked");

        let finished = match &link.retiring {
            Some(retiring) => {
                let step = if resumed.is_some() {
                    Step::Retire
                } else {
                    Step::Finish
                };
                self.retire(&session, retiring)
                    .map_err(|e| RotateFailure::at(step, e).leaving_active(retiring))?;
                Some(retiring.clone())
            }
            None => None,
        };
        if let Some(pending) = resumed {
            return Ok(Rotated {
                name,
                old_uuid: pending.replaces.map_or_else(String::new, |r| r.uuid),
                new_uuid: pending.uuid,
                expires_at: pending.expires_at,
                finished,
                resumed: true,
            });
        }

        let listed = self
            .with_session(&session, |c, s| c.list(s))
            .map_err(|e| read(e.into()))?;
        let old = listed
            .iter()
            .find(|t| t.uuid == old_uuid)
            .cloned()
            .ok_or_else(|| {
                read(
                    HubError::Refused {
                        status: 404,
                        what: "read the token",
                        detail: format!("Docker Hub has no token {old_uuid}"),
                    }
                    .into(),
                )
            })?;
        let expires_at = same_length(&record, &old, Utc::now());
        let mut new = NewToken {
            token_label: if old.token_label.is_empty() {
                spec::label(name.integration.as_str(), &spec::host_name(), None)
            } else {
                old.token_label.clone()
            },
            expires_at: expires_at.map(rfc3339),
            ..NewToken::default()
        };
        if self.org.is_some() {
            // Hub's listing of organisation tokens leaves out what they reach.
            let full = self
                .with_session(&session, |c, s| c.get(s, &old_uuid))
                .map_err(|e| read(e.into()))?;
            new.resources = if full.resources.is_empty() {
                link.resources.clone()
            } else {
                full.resources
            };
            // Hub answers no description; the one kept here goes with the new token.
            new.description = record.description.clone();
        } else {
            new.scopes = scopes_or(&old.scopes, &scopes_or(&link.scopes, &["repo:read".into()]));
        }
        let created = self
            .create_once(&session, &new, &listed)
            .map_err(|e| RotateFailure::at(Step::Create, e))?;
        let retiring = Retiring {
            uuid: old_uuid.clone(),
            delete: delete_old,
        };
        let mut pending = Pending::new(&created.uuid, &created.token);
        pending.scopes = scopes_or(&created.scopes, &new.scopes);
        pending.org = self.org.clone();
        pending.resources = new.resources.clone();
        pending.expires_at = expires_at;
        pending.replaces = Some(retiring.clone());
        let give_up = |step: Step, error: ManageError| {
            let abandoned = self.abandon(&session, &created.uuid);
            if abandoned.deleted {
                let _ = Pending::clear(&self.service.paths, &name);
            }
            RotateFailure::at(step, error)
                .leaving(&created.uuid, StoreOutcome::NotStored(abandoned))
        };
        pending
            .save(&self.service.paths, &name)
            .map_err(|e| give_up(Step::Store, ServiceError::from(e).into()))?;

        match self
            .client
            .check_token(self.identifier(&session), &created.token)
        {
            Ok(true) => {
                // Hub counts the check as a use; so does the audit, here and
                // (through the team server, when there is one) on every machine.
                let at = Utc::now();
                let _ =
                    crate::usage::record_use(&self.service.paths, &record.id, CHECK_CLIENT, "", at);
                if let Ok(ledger) = self.service.ledger() {
                    let _ = ledger.report_use(&record.id, at, CHECK_CLIENT, "");
                }
            }
            Ok(false) => {
                return Err(give_up(
                    Step::Check,
                    ManageError::Invalid("Docker Hub refused the new token".into()),
                ));
            }
            Err(e) => return Err(give_up(Step::Check, e.into())),
        }

        self.keep_new(
            &session,
            &NewSecret {
                name: &name,
                username: &record.username,
                server_url: &record.server_url,
                secret: &created.token,
                pending: &pending,
            },
        )
        .map_err(|(error, outcome)| {
            RotateFailure::at(Step::Store, error).leaving(&created.uuid, outcome)
        })?;

        // From here on Docker gets the new token; what is left is switching the old one off.
        self.retire(&session, &retiring)
            .map_err(|e| RotateFailure::at(Step::Retire, e).leaving_active(&retiring))?;
        Ok(Rotated {
            name,
            old_uuid,
            new_uuid: created.uuid.clone(),
            expires_at,
            finished,
            resumed: false,
        })
    }

    /// Switches a replaced token off on Hub (deactivates or deletes it), then forgets it.
    fn retire(&self, session: &Session, retiring: &Retiring) -> Result<()> {
        let result = if retiring.delete {
            self.remove(session, &retiring.uuid)
        } else {
            self.switch(session, &retiring.uuid, false)
        };
        match result {
            // Already gone from Hub: nothing is left to switch off.
            Ok(()) | Err(HubError::Refused { status: 404, .. }) => {}
            // Hub refuses to deactivate an expired organisation token, which
            // no one can use any more: it is as off as it gets.
            Err(HubError::Refused { status: 400, .. }) if self.expired(session, &retiring.uuid) => {
            }
            Err(e) => return Err(e.into()),
        }
        self.clear_retiring(&retiring.uuid)
    }

    /// True when Hub lists `uuid` as expired.
    fn expired(&self, session: &Session, uuid: &str) -> bool {
        self.lookup(session, uuid)
            .ok()
            .flatten()
            .and_then(|t| t.expires_at)
            .is_some_and(|at| at <= Utc::now())
    }
}

/// The expiry a replacement gets: as far from now as the old token's was
/// from its creation; none when the old one's is not known.
fn same_length(record: &TokenRecord, old: &HubToken, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let expires_at = old.expires_at.or(record.expires_at)?;
    let born = old.created_at.unwrap_or(record.rotated_at);
    let length = (expires_at - born).max(chrono::Duration::days(1));
    DateTime::from_timestamp((now + length).timestamp(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_expires_as_long_after_now_as_the_old_one_did_after_its_creation() {
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let record: TokenRecord = serde_json::from_str(
            r#"{"id":"i","secret":{"backend":"keychain","item":"s"},"username":"alice","server_url":"docker.io","created_at":"2026-01-01T00:00:00Z","rotated_at":"2026-01-01T00:00:00Z","active":true,"kind":"token","expires_at":"2026-03-02T00:00:00Z"}"#,
        )
        .unwrap();
        let old: HubToken = serde_json::from_str(
            r#"{"uuid":"0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab","created_at":"2026-01-31T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            same_length(&record, &old, now).unwrap(),
            "2026-07-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let mut open = record.clone();
        open.expires_at = None;
        assert!(same_length(&open, &old, now).is_none());
    }
}
