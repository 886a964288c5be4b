//! New tokens made on Docker Hub and stored at once (`hub create`), and
//! tokens stored earlier linked to their Hub token (`hub link`).
//!
//! A token Hub made that cannot be stored here is taken back off Hub, so a
//! failed `create` leaves nothing behind that nobody holds.

use chrono::{DateTime, Utc};

use super::{Abandoned, Hub, ManageError, Result, linked_to, not_hub, scopes_or};
use crate::error::ServiceError;
use crate::index::HubLink;
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::remote::hub::HubError;
use crate::remote::hub::client::{CreatedToken, HubToken, NewToken, rfc3339};
use crate::remote::hub::session::Session;
use crate::remote::hub::spec;
use crate::service::tokens::find_entry;
use crate::service::write::{Facts, TokenFacts, TokenSpec};
use crate::store::BackendKind;

/// What `hub create` should make.
pub(crate) struct CreateRequest {
    pub integration: Integration,
    pub username: Option<String>,
    pub scopes: Vec<String>,
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
    pub expires_at: Option<DateTime<Utc>>,
    pub backend: BackendKind,
    pub is_default: bool,
}

/// Why `hub create` failed, and whether a token was left on Hub.
pub(crate) struct CreateFailure {
    pub error: ManageError,
    pub abandoned: Option<Abandoned>,
}

impl From<ManageError> for CreateFailure {
    fn from(error: ManageError) -> Self {
        Self {
            error,
            abandoned: None,
        }
    }
}

impl From<HubError> for CreateFailure {
    fn from(e: HubError) -> Self {
        ManageError::from(e).into()
    }
}

impl From<ServiceError> for CreateFailure {
    fn from(e: ServiceError) -> Self {
        ManageError::from(e).into()
    }
}

impl Hub<'_> {
    /// Creates a token on Hub and stores it at once as `INTEGRATION@docker.io`.
    pub(crate) fn create(&self, request: CreateRequest) -> Result<Created, CreateFailure> {
        let session = self.session()?;
        if let Some(username) = &request.username
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
            expires_at: request.expires_at.map(rfc3339),
        };
        let created = self.with_session(&session, |c, s| c.create(s, &new))?;
        let stored = self.store_created(&session, &name, &created, &request);
        match stored {
            Ok((backend, is_default)) => Ok(Created {
                name,
                uuid: created.uuid.clone(),
                label: created.token_label.clone(),
                scopes: scopes_or(&created.scopes, &request.scopes),
                expires_at: request.expires_at,
                backend,
                is_default,
            }),
            Err(error) => Err(CreateFailure {
                error,
                abandoned: Some(self.abandon(&session, &created.uuid)),
            }),
        }
    }

    fn store_created(
        &self,
        session: &Session,
        name: &TokenName,
        created: &CreatedToken,
        request: &CreateRequest,
    ) -> Result<(BackendKind, bool)> {
        self.service
            .check_policy(&name.registry, &session.username, &created.token)?;
        let mut edit = self.service.ledger()?.begin()?;
        if edit.token(name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} was stored by another process meanwhile"
            )));
        }
        // The registry's default counts only while that token exists (a team
        // server names `default` as the default even before it does).
        let has_default = edit.has_default(&name.registry)?;
        let spec = TokenSpec {
            name: name.clone(),
            username: &session.username,
            server_url: name.registry.default_address().to_owned(),
            secret: &created.token,
            description: request.description.clone(),
            make_default: request.make_default || !has_default,
        };
        let facts = TokenFacts {
            expires_at: request.expires_at,
            hub: Some(HubLink {
                uuid: created.uuid.clone(),
                scopes: scopes_or(&created.scopes, &request.scopes),
                retiring: None,
                used_before_link: None,
            }),
            ..TokenFacts::default()
        };
        let is_default = spec.make_default;
        let outcome = self
            .service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok((outcome.backend, is_default))
    }

    /// Links a stored Docker Hub token to its Hub id, taking its scopes from Hub.
    pub(crate) fn link(
        &self,
        text: &str,
        uuid: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenName, HubToken)> {
        let session = self.session()?;
        let uuid = self.expand_id(&session, uuid, &mut None)?.ok_or_else(|| {
            ManageError::Invalid(format!(
                "{:?} is not a Docker Hub token id; `docker-credential-pat hub tokens` shows them",
                crate::text::printable(uuid, 60)
            ))
        })?;
        let entries = self.service.ledger()?.entries()?;
        let entry = find_entry(&entries, text)?;
        let name = entry.name.clone();
        if name.registry != Registry::DockerHub {
            return Err(not_hub(&name));
        }
        self.check_owner(&session, &name, &entry.record)?;
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
