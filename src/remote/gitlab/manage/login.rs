//! The management credential (`gitlab login`, `gitlab logout`), and a
//! token stored earlier linked to its GitLab token (`gitlab link`).
//!
//! An `api`-scope token is worth more than any token it manages, so it is
//! checked at GitLab (it must be active and carry `api`) and then kept only
//! in the kernel keyring, for at most `gitlab_session_seconds` and never
//! past its own expiry. Nothing is asked of GitLab until it is clear there
//! is somewhere to keep the credential.

use chrono::Utc;

use super::{Gitlab, ManageError, Result};
use crate::index::RemoteOwner;
use crate::remote::RemoteError;
use crate::remote::api::{RemoteToken, TokenApi};
use crate::remote::session::KeepError;
use crate::secret::Secret;

/// What `gitlab login` kept.
pub(crate) struct LoggedIn {
    pub token: RemoteToken,
    /// How long it is kept, in seconds.
    pub seconds: u32,
}

impl Gitlab<'_> {
    /// Checks `secret` at GitLab and keeps it as this registry's management credential.
    pub(crate) fn log_in(&self, secret: &Secret) -> Result<LoggedIn> {
        if !crate::kernel_keyring::available() {
            return Err(RemoteError::NoKeyring.into());
        }
        let token = match self.api.verify(secret) {
            Err(RemoteError::Unauthorized { .. }) => {
                return Err(ManageError::Invalid(format!(
                    "{} refused that token: it is unknown, expired or revoked",
                    self.api.name()
                )));
            }
            other => other?,
        };
        if !token.scopes.iter().any(|s| s == "api") {
            return Err(ManageError::Invalid(format!(
                "token {} ({}) has the scopes {}, and managing tokens needs `api`: give a token with the api scope",
                token.id,
                crate::text::printable(&token.name, 60),
                token.scopes.join(",")
            )));
        }
        let mut seconds = self.service.config.gitlab_session_seconds;
        if let Some(expires) = token.expires_at {
            let left = (expires - Utc::now()).num_seconds().max(1);
            seconds = seconds.min(u32::try_from(left).unwrap_or(u32::MAX));
        }
        let who = format!(
            "{} (token {})",
            crate::text::printable(&token.name, 60).replace('\n', " "),
            token.id
        );
        self.place()
            .keep(&who, secret, seconds)
            .map_err(|e| match e {
                KeepError::NoKeyring => RemoteError::NoKeyring,
                KeepError::TooLong => RemoteError::BadBody {
                    what: "keep the login",
                },
                KeepError::Keyring(e) => RemoteError::Keyring(e),
            })?;
        Ok(LoggedIn { token, seconds })
    }

    /// Drops the kept management credential; `false` when none was kept.
    pub(crate) fn log_out(&self) -> Result<bool> {
        Ok(self.place().forget().map_err(RemoteError::from)?)
    }
}

impl Gitlab<'_> {
    /// Links a token stored earlier (by `docker login` or `add`) to its
    /// token at GitLab: the token describes itself (`GET …/self`, which
    /// GitLab counts as a use, recorded here as the helper's own), and is
    /// recorded as `owner`'s (GitLab's answer does not say whose it is).
    pub(crate) fn link(&self, text: &str, owner: RemoteOwner) -> Result<RemoteToken> {
        let (name, record, secret) = self.stored_with_secret(text)?;
        let result = self.api.verify(&secret);
        self.record_own_use(&record);
        let token = match result {
            Err(RemoteError::Unauthorized { .. }) => {
                return Err(ManageError::Invalid(format!(
                    "{} refuses {name}'s token (unknown, expired or revoked): store a working one with `docker login {}`",
                    self.api.name(),
                    name.registry
                )));
            }
            other => RemoteToken { owner, ..other? },
        };
        let mut facts = super::create::facts(&token);
        if let Some(link) = facts.remote.as_mut() {
            link.used_before_link = token.last_used_at;
        }
        self.update(&name, |record| {
            record.remote = facts.remote.clone();
            record.seen = facts.seen.clone();
            record.expires_at = facts.expires_at;
        })?;
        Ok(token)
    }
}
