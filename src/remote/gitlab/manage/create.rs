//! `gitlab create`: a project or group access token made at GitLab and
//! stored here at once, linked, its secret never shown.
//!
//! A create is never sent twice. When its answer is lost (a timeout, a
//! broken connection, a server error) GitLab may have made the token all the
//! same: its tokens are read back, and one of this name made since the call
//! began is revoked again, since nobody holds its secret. A token GitLab
//! made that cannot be stored here is revoked too.

use chrono::{DateTime, NaiveDate, Utc};

use super::{API, Gitlab, ManageError, Result};
use crate::index::{RemoteLink, RemoteOwner};
use crate::names::{Integration, TokenName};
use crate::remote::RemoteError;
use crate::remote::api::{NewToken, RemoteToken, TokenApi, TokenRef};
use crate::secret::Secret;
use crate::service::write::{Facts, TokenFacts, TokenSpec};
use crate::store::BackendKind;

/// What `gitlab create` should make.
pub(crate) struct CreateRequest {
    pub integration: Integration,
    pub owner: RemoteOwner,
    pub scopes: Vec<String>,
    pub expires_at: Option<NaiveDate>,
    pub description: Option<String>,
    pub access_level: Option<u8>,
    /// The user name `docker login` is given; the integration's name when unset.
    pub username: Option<String>,
    pub make_default: bool,
}

/// What `gitlab create` made.
pub(crate) struct Created {
    pub name: TokenName,
    pub token: RemoteToken,
    pub backend: BackendKind,
    pub is_default: bool,
}

/// What a failed create left at GitLab.
pub(crate) enum Left {
    Nothing,
    /// Tokens GitLab made that could not be kept, revoked again.
    Revoked(Vec<String>),
    /// Tokens GitLab made that could not be kept, and could not be revoked.
    Live(Vec<String>),
    /// Whether GitLab made one could not be read back.
    Unknown,
}

/// Why `gitlab create` failed, and what it left at GitLab.
pub(crate) struct CreateFailure {
    pub error: ManageError,
    pub left: Left,
}

impl<E: Into<ManageError>> From<E> for CreateFailure {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            left: Left::Nothing,
        }
    }
}

/// What a linked token's record says of it, from GitLab's answer.
pub(crate) fn facts(token: &RemoteToken) -> TokenFacts {
    TokenFacts {
        expires_at: token.expires_at,
        hub: None,
        remote: Some(RemoteLink {
            api: API.into(),
            id: token.id.clone(),
            owner: token.owner.clone(),
            scopes: token.scopes.clone(),
            rotating: None,
            used_before_link: None,
        }),
        seen: Some(token.view(Utc::now())),
    }
}

/// True when a failed call may have acted all the same: its answer was lost.
pub(crate) fn may_have_acted(error: &RemoteError) -> bool {
    error.may_have_acted()
}

impl Gitlab<'_> {
    /// Creates a project or group token and stores it as `INTEGRATION@REGISTRY`.
    pub(crate) fn create(&self, request: CreateRequest) -> Result<Created, CreateFailure> {
        if !self.api.has_manager() {
            return Err(RemoteError::NoLogin.into());
        }
        let name = TokenName::new(request.integration.clone(), self.endpoint.registry.clone());
        if self.service.ledger()?.begin()?.token(&name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} already exists: `docker-credential-pat gitlab rotate {name}` replaces its token, or choose another --integration"
            ))
            .into());
        }
        let label = format!(
            "{}@{}",
            request.integration,
            crate::usage::this_machine(&self.service.config)
        );
        let new = NewToken {
            name: label.clone(),
            description: request.description.clone(),
            scopes: request.scopes.clone(),
            expires_at: request.expires_at,
            access_level: request.access_level,
        };
        let started = Utc::now();
        let made = match self.managed(|api| api.create(&request.owner, &new)) {
            Ok(made) => made,
            Err(error) if may_have_acted(&error) => {
                // A server slower than the timeout may still be making it.
                self.wait_out(started);
                let left = self.revoke_strays(&request.owner, &label, started);
                return Err(CreateFailure {
                    error: error.into(),
                    left,
                });
            }
            Err(error) => return Err(error.into()),
        };
        let username = request
            .username
            .clone()
            .unwrap_or_else(|| request.integration.as_str().to_owned());
        match self.store_new(&name, &username, &made.secret, &made.token, &request) {
            Ok((backend, is_default)) => Ok(Created {
                name,
                token: made.token,
                backend,
                is_default,
            }),
            Err(error) => {
                let id = made.token.id.clone();
                let reference = TokenRef {
                    owner: request.owner.clone(),
                    id: id.clone(),
                };
                let left = match self.managed(|api| api.revoke(&reference)) {
                    Ok(()) => Left::Revoked(vec![id]),
                    Err(_) => Left::Live(vec![id]),
                };
                Err(CreateFailure { error, left })
            }
        }
    }

    fn store_new(
        &self,
        name: &TokenName,
        username: &str,
        secret: &Secret,
        token: &RemoteToken,
        request: &CreateRequest,
    ) -> Result<(BackendKind, bool)> {
        self.service
            .check_policy(&name.registry, username, secret)?;
        let mut edit = self.service.ledger()?.begin()?;
        if edit.token(name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} was stored by another process meanwhile"
            )));
        }
        let has_default = edit.has_default(&name.registry)?;
        let spec = TokenSpec {
            name: name.clone(),
            username,
            server_url: name.registry.default_address().to_owned(),
            secret,
            description: request.description.clone(),
            make_default: request.make_default || !has_default,
        };
        let is_default = spec.make_default;
        let outcome =
            self.service
                .put_token_with(&mut *edit, spec, Facts::Replace(facts(token)))?;
        Ok((outcome.backend, is_default))
    }

    /// After a create whose answer was lost: revokes the live tokens of
    /// `owner` named `label` made since `since` (nobody holds their secret).
    pub(crate) fn revoke_strays(
        &self,
        owner: &RemoteOwner,
        label: &str,
        since: DateTime<Utc>,
    ) -> Left {
        let Ok(listed) = self.managed(|api| api.list(owner)) else {
            return Left::Unknown;
        };
        let strays: Vec<RemoteToken> = listed
            .into_iter()
            .filter(|t| t.is_active() && t.name == label)
            .filter(|t| t.created_at.is_some_and(|at| at >= since - SKEW))
            .collect();
        if strays.is_empty() {
            return Left::Nothing;
        }
        let mut revoked = Vec::new();
        let mut live = Vec::new();
        for stray in strays {
            let reference = TokenRef {
                owner: owner.clone(),
                id: stray.id.clone(),
            };
            match self.managed(|api| api.revoke(&reference)) {
                Ok(()) => revoked.push(stray.id),
                Err(_) => live.push(stray.id),
            }
        }
        if live.is_empty() {
            Left::Revoked(revoked)
        } else {
            Left::Live(live)
        }
    }
}

/// How far GitLab's clock may be behind ours.
pub(crate) const SKEW: chrono::Duration = chrono::Duration::minutes(2);
