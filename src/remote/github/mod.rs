//! GitHub's classic tokens, the only kind ghcr.io accepts: checked, revoked,
//! and replaced by hand with the helper's guidance.
//!
//! - [`client`]: `GET /user` (login, scopes, expiry) and
//!   `POST /credentials/revoke`, behind the shared trait;
//! - this file: [`Github`], a check of a stored token with what GitHub said
//!   kept on its record, and the check of a token just stored;
//! - [`revoke`]: a token revoked at GitHub, then removed here;
//! - [`rotate`]: a new token made by a person, verified, stored in place,
//!   and the old one revoked, finished by a rerun whatever stopped it.
//!
//! What GitHub said of a token is kept on its record as a link (`api =
//! "github"`, the login as its id, the scopes) and the registry's view
//! (state, scopes, expiry, when), so `tokens` and `doctor` show it with no
//! call. Nothing here prints or prompts: the commands (and the protocol's
//! `store`) turn what comes back into lines.

use std::time::Duration;

use chrono::Utc;

use crate::index::{RemoteLink, RemoteOwner, RemoteView, TokenRecord};
use crate::names::TokenName;
use crate::registry::Registry;
use crate::remote::endpoint::{self, Endpoint, Kind};
use crate::remote::{ManageError, RemoteError};
use crate::secret::Secret;
use crate::service::Service;
use client::{Checked, GithubApi};

pub(crate) mod client;
pub(crate) mod revoke;
pub(crate) mod rotate;

/// The word a GitHub link carries in its record's `api`.
pub(crate) const API: &str = "github";
/// The registry GitHub commands act on when none is named.
pub(crate) const DEFAULT_REGISTRY: &str = "ghcr.io";
/// The scope that pulls from ghcr.io; `write:packages` includes it.
pub(crate) const READ: &str = "read:packages";
/// The scope that pushes.
pub(crate) const WRITE: &str = "write:packages";
/// The registry's view of a token GitHub refused (wrong, expired or revoked).
pub(crate) const REFUSED: &str = "refused";
/// The bound on the check a `store` makes of a new token: Docker waits on it.
const STORE_CHECK: Duration = Duration::from_secs(4);
/// The share of the protocol's budget that check may take at the most.
const STORE_CHECK_SHARE: u32 = 4;

type Result<T, E = ManageError> = std::result::Result<T, E>;

/// One GitHub registry as this run sees it.
pub(crate) struct Github<'a> {
    pub service: &'a Service,
    pub endpoint: Endpoint,
    pub api: GithubApi,
}

/// A stored token as GitHub has just described it.
pub(crate) struct Verified {
    pub name: TokenName,
    /// The username it is stored with, which `docker login` sends.
    pub username: String,
    pub checked: Checked,
}

impl<'a> Github<'a> {
    pub(crate) fn open(service: &'a Service, registry: &Registry) -> Result<Self> {
        let endpoint = endpoint::github(registry, &service.config, &service.env)
            .map_err(ManageError::Invalid)?;
        let api = GithubApi::new(
            &endpoint.api,
            service.config.registry_timeout(),
            endpoint.is_github_enterprise_server(),
        )?;
        Ok(Self {
            service,
            endpoint,
            api,
        })
    }

    /// Checks the stored token `text` with GitHub and keeps what GitHub said
    /// on its record (a refusal too).
    pub(crate) fn verify(&self, text: &str) -> Result<Verified> {
        let (name, record, secret) =
            crate::remote::stored_with_secret(self.service, &self.endpoint.registry, text)?;
        self.verify_stored(name, &record.username, &secret)
    }

    fn verify_stored(&self, name: TokenName, username: &str, secret: &Secret) -> Result<Verified> {
        match self.api.check(secret) {
            Ok(checked) => {
                // A failure to keep the view never fails the check.
                let _ = self.remember(&name, secret, Some(&checked));
                Ok(Verified {
                    name,
                    username: username.to_owned(),
                    checked,
                })
            }
            Err(error) => {
                if matches!(error, RemoteError::Unauthorized { .. }) {
                    let _ = self.remember(&name, secret, None);
                }
                Err(error.into())
            }
        }
    }

    /// Keeps GitHub's word on `name`'s record while it still holds `secret`:
    /// the link and view of a token it accepted, or a refusal.
    fn remember(&self, name: &TokenName, secret: &Secret, checked: Option<&Checked>) -> Result<()> {
        let mut edit = self.service.ledger()?.begin()?;
        let Some(mut record) = edit.token(name)? else {
            return Ok(());
        };
        if edit.secret(name)?.is_none_or(|held| held != *secret) {
            // Changed meanwhile: what GitHub said is of another token.
            return Ok(());
        }
        let now = Utc::now();
        match checked {
            Some(checked) => {
                let scopes = checked.scopes.clone().unwrap_or_default();
                let rotating = record.remote.take().and_then(|l| l.rotating);
                record.remote = Some(RemoteLink {
                    api: API.into(),
                    id: checked.login.clone(),
                    owner: RemoteOwner::Personal,
                    scopes: scopes.clone(),
                    rotating,
                    used_before_link: None,
                });
                record.seen = Some(RemoteView {
                    state: if checked.scopes.is_some() {
                        "active"
                    } else {
                        "fine-grained"
                    }
                    .into(),
                    scopes,
                    expires_at: checked.expires_at,
                    last_used_at: None,
                    seen_at: now,
                });
                // GitHub's word on expiry is the one that counts; none is never.
                record.expires_at = checked.expires_at;
            }
            None => {
                // Linked even so (the login unknown), so doctor reports the refusal.
                if record.remote.as_ref().is_none_or(|l| l.api != API) {
                    record.remote = Some(RemoteLink {
                        api: API.into(),
                        id: String::new(),
                        owner: RemoteOwner::Personal,
                        scopes: Vec::new(),
                        rotating: None,
                        used_before_link: None,
                    });
                }
                let mut view = record.seen.take().unwrap_or(RemoteView {
                    state: String::new(),
                    scopes: Vec::new(),
                    expires_at: record.expires_at,
                    last_used_at: None,
                    seen_at: now,
                });
                view.state = REFUSED.into();
                view.seen_at = now;
                record.seen = Some(view);
            }
        }
        edit.update(name, record)?;
        edit.commit()?;
        Ok(())
    }
}

/// True when `registry`'s token API is GitHub's (ghcr.io, or a table of config.toml).
pub(crate) fn is_github(service: &Service, registry: &Registry) -> bool {
    endpoint::of(registry, &service.config, &service.env)
        .ok()
        .flatten()
        .is_some_and(|e| e.kind == Kind::Github)
}

/// The check `store` and `add` make of a token they have just stored for a
/// GitHub registry, given what they stored (so nothing is read back), under a
/// short bound: the lines to say on stderr (none when all is well); `None`
/// when the registry is not GitHub's. Never an error: the token is stored
/// whatever this finds.
pub(crate) fn check_new(
    service: &Service,
    name: &TokenName,
    username: &str,
    secret: &Secret,
) -> Option<Vec<String>> {
    check_with(service, name, |github| {
        github.verify_stored(name.clone(), username, secret)
    })
}

/// [`check_new`] of a token stored earlier in the same command (`import`), read back.
pub(crate) fn check_stored(service: &Service, name: &TokenName) -> Option<Vec<String>> {
    check_with(service, name, |github| github.verify(&name.to_string()))
}

fn check_with(
    service: &Service,
    name: &TokenName,
    check: impl FnOnce(&Github) -> Result<Verified>,
) -> Option<Vec<String>> {
    if !is_github(service, &name.registry) {
        return None;
    }
    let verify = || -> Result<Verified> {
        let mut github = Github::open(service, &name.registry)?;
        let share = service.config.protocol_timeout() / STORE_CHECK_SHARE;
        github.api = github.api.hurried(STORE_CHECK.min(share));
        check(&github)
    };
    Some(match verify() {
        Ok(verified) => verified.concerns(),
        Err(ManageError::Remote(RemoteError::Unauthorized { .. })) => vec![format!(
            "GitHub refused the token just stored as {name} (wrong, expired or revoked): pulls and pushes will fail; it is stored anyway"
        )],
        Err(error) => vec![format!(
            "the token stored as {name} could not be checked with GitHub ({}); it is stored: run `docker-credential-pat github verify {name}` to check it",
            crate::text::printable(&error.to_string(), 300)
        )],
    })
}

impl Verified {
    /// True when GitHub sent no scopes: a fine-grained token, which ghcr.io refuses.
    pub(crate) fn fine_grained(&self) -> bool {
        self.checked.scopes.is_none()
    }

    /// What is wrong with the token for ghcr.io, each in one line; none when nothing is.
    pub(crate) fn concerns(&self) -> Vec<String> {
        let name = &self.name;
        let mut lines = Vec::new();
        match &self.checked.scopes {
            None => lines.push(format!(
                "{name} is a fine-grained token: ghcr.io accepts only classic tokens (ghp_…); make a classic token with {READ} (and {WRITE} to push)"
            )),
            Some(scopes) => {
                if !covers(scopes, READ) {
                    lines.push(format!(
                        "{name} has neither {READ} nor {WRITE}: pulls from {} will fail",
                        name.registry
                    ));
                }
                if !covers(scopes, WRITE) {
                    lines.push(format!(
                        "{name} has no {WRITE}: pushes to {} will fail",
                        name.registry
                    ));
                }
            }
        }
        if !self.checked.login.eq_ignore_ascii_case(&self.username) {
            lines.push(format!(
                "{name} is GitHub user {}'s token but is stored with username {}: `docker login {} -u {}` stores it with the right one",
                crate::text::printable(&self.checked.login, 100),
                crate::text::printable(&self.username, 100),
                name.registry,
                crate::text::printable(&self.checked.login, 100),
            ));
        }
        lines
    }
}

/// True when GitHub's last word on a record is that its token lacks `scope`, for doctor.
pub(crate) fn lacks(record: &TokenRecord, scope: &str) -> bool {
    record
        .remote
        .as_ref()
        .filter(|l| l.api == API)
        .is_some_and(|link| !covers(&link.scopes, scope))
}

/// True when `scopes` grant `scope`: `write:packages` grants `read:packages` too.
pub(crate) fn covers(scopes: &[String], scope: &str) -> bool {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    has(scope) || (scope == READ && has(WRITE))
}
