//! Docker Hub's personal and organisation access tokens behind the shared
//! trait: what the registry-neutral code (views on records, the audit) sees
//! of Hub. `hub …` itself keeps its own flows (`manage`), which speak to
//! [`HubClient`] directly; both make the same calls. A client made
//! [`HubClient::for_org`] answers for [`RemoteOwner::Org`], one without for
//! [`RemoteOwner::Personal`].

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

/// Hub's token API, as the signed-in session sees it: the account's own
/// tokens, or an organisation's (for its owners). `hub …` speaks to
/// [`HubClient`] directly; registry-neutral callers reach Hub through this.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct HubApi<'a> {
    pub client: &'a HubClient,
    pub session: &'a Session,
}

#[cfg_attr(not(test), allow(dead_code))]
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
        owned(owner, self)?;
        let tokens = self.client.list(self.session).map_err(from_hub)?;
        Ok(tokens.iter().map(|t| of(owner, t)).collect())
    }

    fn get(&self, token: &TokenRef) -> Result<RemoteToken, RemoteError> {
        owned(&token.owner, self)?;
        let found = self.client.get(self.session, &token.id).map_err(from_hub)?;
        Ok(of(&token.owner, &found))
    }

    fn create(&self, owner: &RemoteOwner, new: &NewToken) -> Result<Created, RemoteError> {
        owned(owner, self)?;
        let mut request = HubNewToken {
            token_label: new.name.clone(),
            expires_at: new.expires_at.map(|d| rfc3339(midnight(d))),
            ..HubNewToken::default()
        };
        match owner {
            // An organisation token's scopes are `PATTERN:SCOPE,SCOPE…`, one a resource.
            RemoteOwner::Org(org) => {
                request.description = new.description.clone();
                for scope in &new.scopes {
                    let (repo, scopes) = scope.split_once(':').unwrap_or(("", scope));
                    let repos: Vec<String> = (!repo.is_empty())
                        .then(|| repo.into())
                        .into_iter()
                        .collect();
                    request
                        .resources
                        .extend(
                            super::org::resources(org, &repos, scopes).map_err(|detail| {
                                RemoteError::Refused {
                                    status: 400,
                                    what: "create the token",
                                    detail,
                                }
                            })?,
                        );
                }
            }
            _ => request.scopes = new.scopes.clone(),
        }
        let created = self
            .client
            .create(self.session, &request)
            .map_err(from_hub)?;
        Ok(Created {
            token: RemoteToken {
                id: created.uuid.clone(),
                owner: owner.clone(),
                name: created.token_label.clone(),
                description: String::new(),
                scopes: if created.resources.is_empty() {
                    created.scopes.clone()
                } else {
                    created.resources.iter().map(|r| r.short()).collect()
                },
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
        owned(&token.owner, self)?;
        let changed = self
            .client
            .set_active(self.session, &token.id, active)
            .map_err(from_hub)?;
        Ok(of(&token.owner, &changed))
    }

    fn revoke(&self, token: &TokenRef) -> Result<(), RemoteError> {
        owned(&token.owner, self)?;
        self.client
            .delete(self.session, &token.id)
            .map_err(from_hub)
    }
}

/// The client answers for one owner: the account (personal tokens), or the
/// organisation it was made for. Hub has no project or group tokens.
#[cfg_attr(not(test), allow(dead_code))]
fn owned(owner: &RemoteOwner, api: &HubApi<'_>) -> Result<(), RemoteError> {
    match (owner, api.client.org()) {
        (RemoteOwner::Personal, None) => Ok(()),
        (RemoteOwner::Org(org), Some(mine)) if org.eq_ignore_ascii_case(mine) => Ok(()),
        (RemoteOwner::Org(_), _) => {
            Err(api.unsupported("manage another owner's tokens with this client"))
        }
        _ => Err(api.unsupported("manage project or group tokens")),
    }
}

/// A Hub token of `owner` in the shared vocabulary.
#[cfg_attr(not(test), allow(dead_code))]
fn of(owner: &RemoteOwner, token: &HubToken) -> RemoteToken {
    let mut remote = remote_token(token);
    remote.owner = owner.clone();
    if !token.resources.is_empty() {
        remote.scopes = token.resources.iter().map(|r| r.short()).collect();
    }
    remote
}

#[cfg_attr(not(test), allow(dead_code))]
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
#[cfg_attr(not(test), allow(dead_code))]
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
        e @ HubError::NotOwner { .. } => RemoteError::Refused {
            status: 403,
            what: "manage the organisation's tokens",
            detail: e.to_string(),
        },
        HubError::Unexpected { status, what } => RemoteError::Unexpected { status, what },
        HubError::BadBody { what } => RemoteError::BadBody { what },
        HubError::ForeignPage { url, base } => RemoteError::ForeignPage { url, base },
        HubError::Keyring(e) => RemoteError::Keyring(e),
        HubError::NoKeyring => RemoteError::NoKeyring,
        e @ (HubError::Unsure { .. } | HubError::CreateLost { .. }) => {
            RemoteError::Unsure(e.to_string())
        }
    }
}

/// Keeps Hub's view of each linked token (from a listing of all of them)
/// on its record, for `tokens`. Never fails the listing that read it.
/// `org`: the listing is of that organisation's tokens, and only the
/// records linked to them are judged by it; `None`: the personal tokens.
pub(crate) fn remember(service: &Service, listed: &[HubToken], org: Option<&str>) {
    let Ok(entries) = service.ledger().and_then(|l| l.entries()) else {
        return;
    };
    let now = Utc::now();
    let by_uuid: BTreeMap<&str, &HubToken> = listed.iter().map(|t| (t.uuid.as_str(), t)).collect();
    let views: HashMap<String, crate::index::RemoteView> = entries
        .iter()
        .filter_map(|e| {
            let link = e.record.hub.as_ref()?;
            let same_owner = match (org, link.org.as_deref()) {
                (Some(listed), Some(linked)) => listed.eq_ignore_ascii_case(linked),
                (None, None) => true,
                _ => false,
            };
            if !same_owner {
                return None;
            }
            let view = match by_uuid.get(link.uuid.as_str()) {
                Some(token) => {
                    let mut view = remote_token(token).view(now);
                    // An organisation token's scopes are what it reaches,
                    // which Hub's listing leaves out and the link keeps.
                    if link.org.is_some() {
                        view.scopes = link.resources.iter().map(|r| r.short()).collect();
                    }
                    view
                }
                None => crate::remote::view::gone(now),
            };
            Some((e.record.id.clone(), view))
        })
        .collect();
    let _ = crate::remote::view::remember(service, &entries, views);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::serve_once;
    use crate::secret::Secret;
    use std::time::Duration;

    /// A Hub at a one-answer server: (its client, the request it saw).
    fn answering(status: &str, body: &str) -> (HubClient, std::thread::JoinHandle<String>) {
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n\r\n{body}",
            body.len()
        );
        let (url, server) = serve_once(Box::leak(reply.into_bytes().into_boxed_slice()));
        (
            HubClient::new(&url, Duration::from_secs(5)).unwrap(),
            server,
        )
    }

    const UUID: &str = "0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab";

    #[test]
    fn an_organisations_tokens_answer_the_shared_verbs_through_a_client_made_for_it() {
        let session = Session::new("alice", Secret::from_str_copy("jwt"));
        let org = RemoteOwner::Org("acme".into());
        let page = format!(
            r#"{{"total":1,"next":null,"previous":null,"results":[{{"id":"{UUID}","label":"ci@host","created_by":"alice","is_active":true,"created_at":"2026-01-01T00:00:00Z","expires_at":null,"last_used_at":"2026-02-01T00:00:00Z"}}]}}"#
        );
        let (client, server) = answering("200 OK", &page);
        let client = client.for_org(Some("acme"));
        let api = HubApi {
            client: &client,
            session: &session,
        };
        let listed = api.list(&org).unwrap();
        assert_eq!(listed[0].owner, org);
        assert_eq!(listed[0].name, "ci@host");
        assert_eq!(listed[0].state, TokenState::Active);
        assert!(listed[0].last_used_at.is_some());
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /v2/orgs/acme/access-tokens?page=1")
        );
        assert!(matches!(
            api.list(&RemoteOwner::Personal),
            Err(RemoteError::Unsupported { .. })
        ));

        let made = format!(
            r#"{{"id":"{UUID}","label":"ci@host","is_active":true,"created_at":"2026-01-01T00:00:00Z","expires_at":null,"last_used_at":null,"resources":[{{"type":"TYPE_REPO","path":"acme/*","scopes":["scope-image-pull"]}}],"token":"dckr_oat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        );
        let (client, server) = answering("201 Created", &made);
        let client = client.for_org(Some("acme"));
        let api = HubApi {
            client: &client,
            session: &session,
        };
        let new = NewToken {
            name: "ci@host".into(),
            description: Some("CI".into()),
            scopes: vec!["acme/*:image-pull".into()],
            expires_at: None,
            access_level: None,
        };
        let created = api.create(&org, &new).unwrap();
        assert_eq!(created.token.scopes, ["acme/*: image-pull"]);
        assert_eq!(
            created.secret.expose(),
            "dckr_oat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        let sent = server.join().unwrap();
        assert!(
            sent.starts_with("POST /v2/orgs/acme/access-tokens "),
            "{sent}"
        );
        assert!(
            sent.contains(r#""label":"ci@host""#)
                && sent.contains(r#""description":"CI""#)
                && sent.contains(r#""resources":[{"type":"TYPE_REPO","path":"acme/*","scopes":["scope-image-pull"]}]"#)
                && !sent.contains("token_label")
                && !sent.contains(r#""scopes":["acme"#),
            "{sent}"
        );
    }

    #[test]
    fn hubs_personal_tokens_answer_the_shared_verbs() {
        let session = Session::new("alice", Secret::from_str_copy("jwt"));
        let reference = TokenRef {
            owner: RemoteOwner::Personal,
            id: UUID.into(),
        };
        let page = format!(
            r#"{{"count":1,"next":null,"results":[{{"uuid":"{UUID}","token_label":"ci@host","scopes":["repo:read"],"is_active":false,"created_at":"2026-01-01T00:00:00Z","last_used":"2026-02-01T00:00:00Z"}}]}}"#
        );
        let (client, server) = answering("200 OK", &page);
        let api = HubApi {
            client: &client,
            session: &session,
        };
        assert_eq!(api.capabilities().rotate, Rotation::Replace);
        let listed = api.list(&RemoteOwner::Personal).unwrap();
        assert_eq!(listed[0].state, TokenState::Inactive);
        assert_eq!(listed[0].name, "ci@host");
        assert!(listed[0].last_used_at.is_some());
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /v2/access-tokens?page=1")
        );

        let made = format!(
            r#"{{"uuid":"{UUID}","token_label":"ci@host","scopes":["repo:read"],"token":"dckr_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        );
        let (client, server) = answering("201 Created", &made);
        let api = HubApi {
            client: &client,
            session: &session,
        };
        let new = NewToken {
            name: "ci@host".into(),
            description: None,
            scopes: vec!["repo:read".into()],
            expires_at: NaiveDate::from_ymd_opt(2027, 1, 1),
            access_level: None,
        };
        let created = api.create(&RemoteOwner::Personal, &new).unwrap();
        assert_eq!(
            created.secret.expose(),
            "dckr_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        let sent = server.join().unwrap();
        assert!(
            sent.contains(r#""expires_at":"2027-01-01T00:00:00Z""#),
            "{sent}"
        );

        let (client, server) = answering("204 No Content", "");
        let api = HubApi {
            client: &client,
            session: &session,
        };
        api.revoke(&reference).unwrap();
        assert!(
            server
                .join()
                .unwrap()
                .starts_with(&format!("DELETE /v2/access-tokens/{UUID}"))
        );

        let (client, _server) = answering("401 Unauthorized", "{}");
        let api = HubApi {
            client: &client,
            session: &session,
        };
        assert!(matches!(
            api.get(&reference),
            Err(RemoteError::Unauthorized { .. })
        ));
        let org = TokenRef {
            owner: RemoteOwner::Org("team".into()),
            id: UUID.into(),
        };
        assert!(matches!(
            api.set_active(&org, false),
            Err(RemoteError::Unsupported { .. })
        ));
    }
}
