//! `hub rotate`: a token replaced by a new one of the same label, scopes and
//! expiry length, in the order the module above describes.

use chrono::{DateTime, Utc};

use super::{Abandoned, CHECK_CLIENT, Hub, ManageError, Result, hub_uuid, scopes_or};
use crate::index::{HubLink, Retiring, TokenRecord};
use crate::names::TokenName;
use crate::remote::hub::HubError;
use crate::remote::hub::client::{HubToken, NewToken, rfc3339};
use crate::remote::hub::session::Session;
use crate::remote::hub::spec;
use crate::secret::Secret;
use crate::service::write::{Facts, TokenFacts, TokenSpec};

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
    /// A new token created on Hub and not kept.
    pub abandoned: Option<Abandoned>,
    /// The token still active on Hub that should be switched off.
    pub still_active: Option<Retiring>,
}

impl RotateFailure {
    fn at(step: Step, error: impl Into<ManageError>) -> Box<Self> {
        Box::new(Self {
            step,
            error: error.into(),
            abandoned: None,
            still_active: None,
        })
    }

    fn leaving_active(mut self: Box<Self>, retiring: &Retiring) -> Box<Self> {
        self.still_active = Some(retiring.clone());
        self
    }

    fn abandoning(mut self: Box<Self>, abandoned: Abandoned) -> Box<Self> {
        self.abandoned = Some(abandoned);
        self
    }
}

/// What a rotation did.
pub(crate) struct Rotated {
    pub name: TokenName,
    pub old_uuid: String,
    pub new_uuid: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// A replaced token an earlier, interrupted rotation left active, now switched off.
    pub finished: Option<Retiring>,
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
        let (name, record) = self.stored(text).map_err(|e| read(e.into()))?;
        let old_uuid = hub_uuid(&name, &record).map_err(read)?;
        self.check_owner(&session, &name, &record).map_err(read)?;
        let link = record.hub.clone().expect("linked");

        let finished = match &link.retiring {
            Some(retiring) => {
                self.retire(&session, retiring)
                    .map_err(|e| RotateFailure::at(Step::Finish, e).leaving_active(retiring))?;
                Some(retiring.clone())
            }
            None => None,
        };

        let old = self
            .with_session(&session, |c, s| c.get(s, &old_uuid))
            .map_err(|e| read(e.into()))?;
        let expires_at = same_length(&record, &old, Utc::now());
        let new = NewToken {
            token_label: if old.token_label.is_empty() {
                spec::label(name.integration.as_str(), &spec::host_name(), None)
            } else {
                old.token_label.clone()
            },
            scopes: scopes_or(&old.scopes, &scopes_or(&link.scopes, &["repo:read".into()])),
            expires_at: expires_at.map(rfc3339),
        };
        let created = self
            .with_session(&session, |c, s| c.create(s, &new))
            .map_err(|e| RotateFailure::at(Step::Create, e))?;
        let give_up = |step: Step, error: ManageError| {
            RotateFailure::at(step, error).abandoning(self.abandon(&session, &created.uuid))
        };

        match self.client.check_token(&session.username, &created.token) {
            Ok(true) => {
                // Hub counts the check as a use; so does the audit, here and
                // (through the team server, when there is one) on every machine.
                let at = Utc::now();
                let _ = crate::usage::record_use(&self.service.paths, &record.id, CHECK_CLIENT, at);
                if let Ok(ledger) = self.service.ledger() {
                    let _ = ledger.report_use(&record.id, at, CHECK_CLIENT);
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

        let retiring = Retiring {
            uuid: old_uuid.clone(),
            delete: delete_old,
        };
        let facts = TokenFacts {
            expires_at,
            hub: Some(HubLink {
                uuid: created.uuid.clone(),
                scopes: scopes_or(&created.scopes, &new.scopes),
                retiring: Some(retiring.clone()),
                used_before_link: None,
            }),
            ..TokenFacts::default()
        };
        self.store_rotated(&name, &record, &created.token, facts)
            .map_err(|e| give_up(Step::Store, e))?;

        // From here on Docker gets the new token; what is left is switching the old one off.
        self.retire(&session, &retiring)
            .map_err(|e| RotateFailure::at(Step::Retire, e).leaving_active(&retiring))?;
        Ok(Rotated {
            name,
            old_uuid,
            new_uuid: created.uuid.clone(),
            expires_at,
            finished,
        })
    }

    /// Stores the new secret in place of the old, in one ledger commit.
    fn store_rotated(
        &self,
        name: &TokenName,
        before: &TokenRecord,
        secret: &Secret,
        facts: TokenFacts,
    ) -> Result<()> {
        self.service
            .check_policy(&name.registry, &before.username, secret)?;
        let mut edit = self.service.ledger()?.begin()?;
        let now = edit.token(name)?;
        if now.as_ref().and_then(|t| t.hub.as_ref()).map(|h| &h.uuid)
            != before.hub.as_ref().map(|h| &h.uuid)
        {
            return Err(ManageError::Invalid(format!(
                "{name} was changed by another process meanwhile"
            )));
        }
        let spec = TokenSpec {
            name: name.clone(),
            username: &before.username,
            server_url: before.server_url.clone(),
            secret,
            description: None,
            make_default: false,
        };
        self.service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok(())
    }

    /// Switches a replaced token off on Hub (deactivates or deletes it), then forgets it.
    fn retire(&self, session: &Session, retiring: &Retiring) -> Result<()> {
        let result = if retiring.delete {
            self.with_session(session, |c, s| c.delete(s, &retiring.uuid))
        } else {
            self.with_session(session, |c, s| {
                c.set_active(s, &retiring.uuid, false).map(drop)
            })
        };
        match result {
            // Already gone from Hub: nothing is left to switch off.
            Ok(()) | Err(HubError::Refused { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.clear_retiring(&retiring.uuid)
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
