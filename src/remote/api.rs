//! The one trait every registry's token API answers to, and the small
//! vocabulary of remote token facts below it.
//!
//! The verbs are the same everywhere — list, read, create, rotate,
//! (de)activate, revoke, verify — and [`Capabilities`] says which a registry
//! has, and how: Docker Hub's personal tokens have no rotate call (rotation
//! is create, check, store, then switch the old one off) but can be
//! deactivated; GitLab rotates natively and cannot deactivate; GitHub's
//! classic tokens can only be verified and revoked. A verb a registry does
//! not have answers [`RemoteError::Unsupported`].
//!
//! A call presents either the management credential (the Hub session, a
//! GitLab `api` token given to `gitlab login`) or the stored token itself
//! ([`Presenting`]), since some registries let a token act on itself only.

use chrono::{DateTime, NaiveDate, Utc};

use super::RemoteError;
use crate::index::{RemoteOwner, RemoteView};
use crate::secret::Secret;

/// How a registry replaces a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// A rotate call: the old token is revoked as the new one is issued (GitLab).
    Native,
    /// Create a new token, switch to it, then switch the old one off (Hub).
    Replace,
    /// A person makes the new token; the helper verifies and stores it,
    /// then revokes the old one (GitHub's classic tokens).
    Guided,
}

/// What a registry's token API can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    pub list: bool,
    pub create: bool,
    pub rotate: Rotation,
    /// Deactivate and activate again.
    pub deactivate: bool,
    /// Revoke or delete for good.
    pub revoke: bool,
    /// The registry records when each token was last used (so the audit applies).
    pub last_use: bool,
    /// Every token expires.
    pub always_expires: bool,
    /// A token can describe itself (expiry, scopes) when presented.
    pub verify: bool,
}

/// A token's state at the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    Active,
    /// Switched off, and can be switched on again (Hub).
    Inactive,
    Revoked,
    Expired,
}

impl TokenState {
    pub(crate) fn word(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Inactive => "inactive",
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
        }
    }
}

/// A token as a registry describes it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteToken {
    pub id: String,
    pub owner: RemoteOwner,
    /// Its name or label there.
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub state: TokenState,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None`: never used, as far as the registry knows.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The access level of a project or group token (GitLab).
    pub access_level: Option<u8>,
}

impl RemoteToken {
    /// What the registry says of the token now, to keep on its record.
    pub(crate) fn view(&self, seen_at: DateTime<Utc>) -> RemoteView {
        RemoteView {
            state: self.state.word().to_owned(),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            seen_at,
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.state == TokenState::Active
    }
}

/// A token named at a registry: whose, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRef {
    pub owner: RemoteOwner,
    pub id: String,
}

/// What a new token should be.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    /// The last day it works; `None`: the registry's default.
    pub expires_at: Option<NaiveDate>,
    /// The role of a project or group token (GitLab); `None`: the registry's default.
    pub access_level: Option<u8>,
}

/// A token the registry has just made: the only time its secret is seen.
pub(crate) struct Created {
    pub token: RemoteToken,
    pub secret: Secret,
}

/// Which credential a call presents.
#[derive(Clone, Copy)]
pub(crate) enum Presenting<'a> {
    /// The management credential (the Hub session, the `gitlab login` token).
    Manager,
    /// The stored token itself.
    Itself(&'a Secret),
}

/// A registry's token API. Every call is bounded, and a failure is a
/// [`RemoteError`] the commands turn into one line.
pub(crate) trait TokenApi {
    /// The registry's API in words, for messages: `GitLab (gitlab.example.com)`.
    fn name(&self) -> String;
    /// The command family that manages its tokens: `hub`, `gitlab`.
    fn command(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;

    /// Every token of `owner` the credential may see, following every page.
    fn list(&self, owner: &RemoteOwner) -> Result<Vec<RemoteToken>, RemoteError> {
        let _ = owner;
        Err(self.unsupported("list tokens"))
    }

    fn get(&self, token: &TokenRef) -> Result<RemoteToken, RemoteError> {
        let _ = token;
        Err(self.unsupported("read a token"))
    }

    /// The token presented, as it describes itself (GitLab's `self`, GitHub's headers).
    fn verify(&self, secret: &Secret) -> Result<RemoteToken, RemoteError> {
        let _ = secret;
        Err(self.unsupported("verify a token"))
    }

    /// Never retried: a create that may have happened is read back, not sent again.
    fn create(&self, owner: &RemoteOwner, new: &NewToken) -> Result<Created, RemoteError> {
        let _ = (owner, new);
        Err(self.unsupported("create tokens"))
    }

    /// Never retried (GitLab revokes a whole family when a rotated token is
    /// presented again): a rotation that may have happened is read back.
    fn rotate(
        &self,
        token: &TokenRef,
        with: Presenting<'_>,
        expires_at: Option<NaiveDate>,
    ) -> Result<Created, RemoteError> {
        let _ = (token, with, expires_at);
        Err(self.unsupported("rotate tokens"))
    }

    /// Deactivating and activating again (Hub): asked only where
    /// [`Capabilities::deactivate`] says so.
    #[cfg_attr(not(test), allow(dead_code))]
    fn set_active(&self, token: &TokenRef, active: bool) -> Result<RemoteToken, RemoteError> {
        let _ = (token, active);
        Err(self.unsupported("deactivate tokens"))
    }

    fn revoke(&self, token: &TokenRef) -> Result<(), RemoteError> {
        let _ = token;
        Err(self.unsupported("revoke tokens"))
    }

    fn unsupported(&self, verb: &'static str) -> RemoteError {
        RemoteError::Unsupported {
            api: self.name(),
            verb,
        }
    }
}
