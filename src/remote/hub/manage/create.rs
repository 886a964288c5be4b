//! New tokens made on Docker Hub and stored at once (`hub create`), and
//! tokens stored earlier linked to their Hub token (`hub link`).
//!
//! A token Hub made that is known not to be stored here is taken back off
//! Hub, so a failed `create` leaves nothing behind that nobody holds; one
//! whose store cannot be read back is left alone, and running the command
//! again settles it (see [`super::keep`]).

use chrono::{DateTime, Utc};

use super::keep::{NewSecret, Resumed, StoreOutcome};
use super::pending::Pending;
use super::{Hub, ManageError, Result, linked_to, not_hub, scopes_or};
use crate::error::ServiceError;
use crate::index::{HubLink, HubResource};
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::remote::hub::HubError;
use crate::remote::hub::client::{HubToken, NewToken, rfc3339};
use crate::remote::hub::spec;
use crate::service::tokens::find_entry;
use crate::store::BackendKind;

/// What `hub create` should make.
pub(crate) struct CreateRequest {
    pub integration: Integration,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    /// What an organisation token reaches (`hub create --org`).
    pub resources: Vec<HubResource>,
    pub expires_at: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub make_default: bool,
}

/// What `hub create` made.
pub(crate) struct Created {
    pub name: TokenName,
    pub uuid: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub resources: Vec<HubResource>,
    pub expires_at: Option<DateTime<Utc>>,
    pub backend: BackendKind,
    pub is_default: bool,
    /// Made by an earlier run that stopped before it knew the token was stored.
    pub resumed: bool,
}

/// Why `hub create` failed, and what became of the new Hub token, if one was made.
pub(crate) struct CreateFailure {
    pub error: ManageError,
    pub new: Option<(String, StoreOutcome)>,
}

impl From<ManageError> for Box<CreateFailure> {
    fn from(error: ManageError) -> Self {
        Box::new(CreateFailure { error, new: None })
    }
}

impl From<HubError> for Box<CreateFailure> {
    fn from(e: HubError) -> Self {
        ManageError::from(e).into()
    }
}

impl From<ServiceError> for Box<CreateFailure> {
    fn from(e: ServiceError) -> Self {
        ManageError::from(e).into()
    }
}

impl Hub<'_> {
    /// Creates a token on Hub and stores it at once as `INTEGRATION@docker.io`,
    /// with the account (or, for an organisation token, the organisation) as username.
    pub(crate) fn create(&self, request: CreateRequest) -> Result<Created, Box<CreateFailure>> {
        let session = self.session()?;
        if let Some(username) = &request.username
            && self.org.is_none()
            && !username.eq_ignore_ascii_case(&session.username)
        {
            return Err(ManageError::Invalid(format!(
                "this Docker Hub session is {}'s: `docker-credential-pat hub login --username {}` first",
                session.username,
                crate::text::printable(username, 64)
            ))
            .into());
        }
        let name = TokenName::new(request.integration.clone(), Registry::DockerHub);
        // What an earlier run of this command left under way is settled first.
        if let Some(Resumed::Stored(pending)) = self.resume(&session, &name)? {
            return Ok(Created {
                uuid: pending.uuid.clone(),
                label: String::new(),
                scopes: pending.scopes.clone(),
                resources: pending.resources.clone(),
                expires_at: pending.expires_at,
                backend: self.backend_of(&name),
                is_default: self.is_default(&name).unwrap_or(false),
                resumed: true,
                name,
            });
        }
        if self.service.ledger()?.begin()?.token(&name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} already exists: `docker-credential-pat hub rotate {name}` replaces its token, or choose another --integration"
            ))
            .into());
        }
        let label = spec::label(
            request.integration.as_str(),
            &spec::host_name(),
            request.description.as_deref(),
        );
        let new = NewToken {
            token_label: label.clone(),
            scopes: request.scopes.clone(),
            resources: request.resources.clone(),
            description: request.description.clone().filter(|_| self.org.is_some()),
            expires_at: request.expires_at.map(rfc3339),
        };
        let before = self.with_session(&session, |c, s| c.list(s))?;
        let created = self.create_once(&session, &new, &before)?;
        let mut pending = Pending::new(&created.uuid, &created.token);
        pending.scopes = scopes_or(&created.scopes, &request.scopes);
        pending.org = self.org.clone();
        pending.resources = if created.resources.is_empty() {
            request.resources.clone()
        } else {
            created.resources.clone()
        };
        pending.expires_at = request.expires_at;
        pending.make_default = request.make_default;
        pending.description = request.description.clone();
        let failed = |error: ManageError, outcome: StoreOutcome| {
            Box::new(CreateFailure {
                error,
                new: Some((created.uuid.clone(), outcome)),
            })
        };
        if let Err(e) = pending.save(&self.service.paths, &name) {
            let abandoned = self.abandon(&session, &created.uuid);
            return Err(failed(
                ServiceError::from(e).into(),
                StoreOutcome::NotStored(abandoned),
            ));
        }
        let kept = self.keep_new(
            &session,
            &NewSecret {
                name: &name,
                username: self.identifier(&session),
                server_url: name.registry.default_address(),
                secret: &created.token,
                pending: &pending,
            },
        );
        match kept {
            Ok((backend, is_default)) => Ok(Created {
                uuid: created.uuid.clone(),
                label: created.token_label.clone(),
                scopes: pending.scopes.clone(),
                resources: pending.resources.clone(),
                expires_at: request.expires_at,
                backend,
                is_default,
                resumed: false,
                name,
            }),
            Err((error, outcome)) => Err(failed(error, outcome)),
        }
    }

    /// Links a stored Docker Hub token to its Hub id, taking its scopes from Hub.
    pub(crate) fn link(
        &self,
        text: &str,
        uuid: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenName, HubToken)> {
        let session = self.session()?;
        // Whose token it is first: that says which of Hub's token lists the id is in.
        let entries = self.service.ledger()?.entries()?;
        let entry = find_entry(&entries, text)?;
        let name = entry.name.clone();
        if name.registry != Registry::DockerHub {
            return Err(not_hub(&name));
        }
        self.check_owner(&session, &name, &entry.record)?;
        let uuid = self.expand_id(&session, uuid, &mut None)?.ok_or_else(|| {
            ManageError::Invalid(format!(
                "{:?} is not a Docker Hub token id; `docker-credential-pat hub tokens` shows them",
                crate::text::printable(uuid, 60)
            ))
        })?;
        if let Some((other, _)) = linked_to(&entries, &uuid).filter(|(other, _)| *other != name) {
            return Err(ManageError::Invalid(format!(
                "Hub token {uuid} is already linked to {other}"
            )));
        }
        let token = self.with_session(&session, |c, s| c.get(s, &uuid))?;
        let link = HubLink {
            uuid: uuid.clone(),
            scopes: token.scopes.clone(),
            retiring: None,
            used_before_link: token.last_used,
            // Relinking an organisation's token (found by its record) keeps it one.
            org: self.org.clone(),
            resources: token.resources.clone(),
        };
        let expires_at = expires_at.or(token.expires_at);
        self.service.update_tokens(&[name.to_string()], |record| {
            record.hub = Some(link.clone());
            if expires_at.is_some() {
                record.expires_at = expires_at;
            }
        })?;
        Ok((name, token))
    }
}
