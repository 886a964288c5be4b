//! Docker Hub's personal tokens behind the shared trait: what the registry-
//! neutral code (views on records, the audit, later organisation tokens)
//! sees of Hub. `hub …` itself keeps its own flows (`manage`), which speak
//! to [`HubClient`] directly; both make the same calls.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::HubError;
use super::client::{HubClient, HubToken, NewToken as HubNewToken, rfc3339};
use super::session::Session;
use crate::index::RemoteOwner;
use crate::remote::RemoteError;
use crate::remote::api::{
    Capabilities, Created, NewToken, RemoteToken, Rotation, TokenApi, TokenRef, TokenState,
};
use crate::service::Service;

/// Hub's personal-token API, as the signed-in session sees it.
pub(crate) struct HubApi<'a> {
    pub client: &'a HubClient,
    pub session: &'a Session,
}

pub(crate) const CAPABILITIES: Capabilities = Capabilities {
    list: true,
    create: true,
    rotate: Rotation::Replace,
    deactivate: true,
    revoke: true,
    last_use: true,
    always_expires: false,
    verify: false,
};

impl TokenApi for HubApi<'_> {
    fn name(&self) -> String {
        "Docker Hub".into()
    }

    fn command(&self) -> &'static str {
        "hub"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn list(&self, owner: &RemoteOwner) -> Result<Vec<RemoteToken>, RemoteError> {
        personal(owner, self)?;
        let tokens = self.client.list(self.session).map_err(from_hub)?;
        Ok(tokens.iter().map(remote_token).collect())
    }

    fn get(&self, token: &TokenRef) -> Result<RemoteToken, RemoteError> {
        personal(&token.owner, self)?;
        let found = self.client.get(self.session, &token.id).map_err(from_hub)?;
        Ok(remote_token(&found))
    }

    fn create(&self, owner: &RemoteOwner, new: &NewToken) -> Result<Created, RemoteError> {
        personal(owner, self)?;
        let request = HubNewToken {
            token_label: new.name.clone(),
            scopes: new.scopes.clone(),
            expires_at: new.expires_at.map(|d| rfc3339(midnight(d))),
        };
        let created = self
            .client
            .create(self.session, &request)
            .map_err(from_hub)?;
        Ok(Created {
            token: RemoteToken {
                id: created.uuid.clone(),
                owner: RemoteOwner::Personal,
                name: created.token_label.clone(),
                description: String::new(),
                scopes: created.scopes.clone(),
                state: TokenState::Active,
                created_at: Some(Utc::now()),
                expires_at: new.expires_at.map(midnight),
                last_used_at: None,
                access_level: None,
            },
            secret: created.token,
        })
    }

    fn set_active(&self, token: &TokenRef, active: bool) -> Result<RemoteToken, RemoteError> {
        personal(&token.owner, self)?;
        let changed = self
            .client
            .set_active(self.session, &token.id, active)
            .map_err(from_hub)?;
        Ok(remote_token(&changed))
    }

    fn revoke(&self, token: &TokenRef) -> Result<(), RemoteError> {
        personal(&token.owner, self)?;
        self.client
            .delete(self.session, &token.id)
            .map_err(from_hub)
    }
}

/// Hub's personal-token API has only the account's own tokens.
fn personal(owner: &RemoteOwner, api: &HubApi<'_>) -> Result<(), RemoteError> {
    match owner {
        RemoteOwner::Personal => Ok(()),
        _ => Err(api.unsupported("manage organisation tokens yet")),
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// A Hub token in the shared vocabulary.
pub(crate) fn remote_token(token: &HubToken) -> RemoteToken {
    RemoteToken {
        id: token.uuid.clone(),
        owner: RemoteOwner::Personal,
        name: token.token_label.clone(),
        description: String::new(),
        scopes: token.scopes.clone(),
        state: match (token.is_active, token.expires_at) {
            (_, Some(at)) if at <= Utc::now() => TokenState::Expired,
            (true, _) => TokenState::Active,
            (false, _) => TokenState::Inactive,
        },
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used,
        access_level: None,
    }
}

/// A Hub failure in the shared vocabulary.
pub(crate) fn from_hub(error: HubError) -> RemoteError {
    match error {
        HubError::Http(e) => RemoteError::Http(e),
        HubError::SignInRefused { .. } => RemoteError::Unauthorized { what: "sign in" },
        HubError::NoSession => RemoteError::NoLogin,
        HubError::SessionExpired => RemoteError::Unauthorized {
            what: "the session",
        },
        HubError::RateLimited { retry_at } => RemoteError::RateLimited { retry_at },
        HubError::Refused {
            status,
            what,
            detail,
        } => RemoteError::Refused {
            status,
            what,
            detail,
        },
        HubError::Unexpected { status, what } => RemoteError::Unexpected { status, what },
        HubError::BadBody { what } => RemoteError::BadBody { what },
        HubError::ForeignPage { url, base } => RemoteError::ForeignPage { url, base },
        HubError::Keyring(e) => RemoteError::Keyring(e),
        HubError::NoKeyring => RemoteError::NoKeyring,
    }
}

/// Keeps Hub's view of each linked token (from a listing of all of them)
/// on its record, for `tokens`. Never fails the listing that read it.
pub(crate) fn remember(service: &Service, listed: &[HubToken]) {
    let Ok(entries) = service.ledger().and_then(|l| l.entries()) else {
        return;
    };
    let now = Utc::now();
    let by_uuid: BTreeMap<&str, &HubToken> = listed.iter().map(|t| (t.uuid.as_str(), t)).collect();
    let views: HashMap<String, crate::index::RemoteView> = entries
        .iter()
        .filter_map(|e| {
            let uuid = &e.record.hub.as_ref()?.uuid;
            let view = match by_uuid.get(uuid.as_str()) {
                Some(token) => remote_token(token).view(now),
                None => crate::remote::view::gone(now),
            };
            Some((e.record.id.clone(), view))
        })
        .collect();
    let _ = crate::remote::view::remember(service, &entries, views);
}
