//! The credential-helper protocol's operations: `store`, `get`, `erase` and
//! `list`, as the Docker CLI asks them.
//!
//! Each verb chooses its token the same way (the integration the run names,
//! else the registry's default), through `Service::chosen_integration`, so a
//! rule that chooses otherwise has one place to plug in. `get` is the hot
//! path: one registry's record, one secret, one line of bookkeeping.

use chrono::{DateTime, Utc};

use super::Service;
use super::write::{TokenSpec, check_username};
use crate::error::{Result, ServiceError};
use crate::ledger::{Edit, Found};
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::usage;

impl Service {
    /// `store`: the registry's default token, or the integration from the environment.
    pub fn protocol_store(&self, server_url: &str, username: &str, secret: &Secret) -> Result<()> {
        if server_url.is_empty() {
            return Err(ServiceError::MissingServerUrl);
        }
        if username.is_empty() {
            return Err(ServiceError::MissingUsername);
        }
        let registry = Registry::parse(server_url)?;
        check_username(username)?;
        // A bad DOCKER_PAT_INTEGRATION is reported before the policy is consulted.
        self.chosen_integration()?;
        self.check_policy(&registry, username, secret)?;
        let mut edit = self.ledger()?.begin_for(&registry)?;
        let (name, make_default) = self.protocol_target(&mut *edit, registry)?;
        let spec = TokenSpec {
            name,
            username,
            server_url: server_url.to_owned(),
            secret,
            description: None,
            make_default,
        };
        let outcome = self.put_token(&mut *edit, spec)?;
        if outcome.reactivated {
            crate::output::note(
                "the token was inactive; storing a new secret made it active again",
            );
        }
        if outcome.dropped_facts {
            crate::output::note(
                "this is a different secret from the one stored before, so its expiry and Docker Hub link were dropped; `docker-credential-pat hub link` links it again",
            );
        }
        Ok(())
    }

    /// The token `store` writes for `registry`: the integration from the
    /// environment, else the registry's default, else a new default token.
    /// The flag says whether it becomes the registry's default.
    pub(crate) fn protocol_target(
        &self,
        edit: &mut dyn Edit,
        registry: Registry,
    ) -> Result<(TokenName, bool)> {
        let (integration, make_default) = match self.chosen_integration()? {
            Some(integration) => (integration, false),
            None => match edit.default_of(&registry)? {
                Some(default) => (default, false),
                None => (Integration::default_name(), true),
            },
        };
        Ok((TokenName::new(integration, registry), make_default))
    }

    /// `get`: the username and secret for `address`, recording the use.
    pub fn protocol_get(&self, address: &str) -> Result<(String, Secret)> {
        if address.is_empty() {
            return Err(ServiceError::MissingServerUrl);
        }
        let registry = Registry::parse(address)?;
        let integration = self.chosen_integration()?;
        let ledger = self.ledger()?;
        let found = match ledger.get(&registry, integration.as_ref()) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(ServiceError::NotFound),
            Err(ServiceError::SecretMissing) => {
                crate::output::note(
                    "the index names a token whose secret is missing; run `docker-credential-pat doctor`",
                );
                return Err(ServiceError::NotFound);
            }
            Err(e) => return Err(e),
        };
        let (at, client) = (Utc::now(), usage::parent_client());
        if let Err(e) = usage::record_use(&self.paths, &found.id, &client, at) {
            crate::output::note(&format!("could not record this use: {e}"));
        }
        // Other machines learn of it when they can; a failed report never fails a `get`.
        let _ = ledger.report_use(&found.id, at, &client);
        // Costs one comparison unless the token has expired.
        if let Some(expired) = found.expires_at.filter(|end| *end <= at)
            && crate::expiry::first_note_today(&self.paths, &found.id)
        {
            crate::output::note(&expired_note(&found, expired));
        }
        Ok((found.username, found.secret))
    }

    /// `erase`: removes the token `get` would return in the same environment.
    pub fn protocol_erase(&self, address: &str) -> Result<()> {
        if address.is_empty() {
            return Err(ServiceError::MissingServerUrl);
        }
        let registry = Registry::parse(address)?;
        let integration = self.chosen_integration()?;
        let ledger = self.ledger()?;
        let mut edit = ledger.begin_for(&registry)?;
        let chosen = match integration {
            Some(integration) => Some(integration),
            None => edit.default_of(&registry)?,
        };
        let Some(chosen) = chosen else {
            return Err(ServiceError::NotFound);
        };
        let name = TokenName::new(chosen, registry);
        if !edit.token(&name)?.is_some_and(|t| t.active) {
            return Err(ServiceError::NotFound);
        }
        edit.remove(&name)?;
        edit.commit()
    }

    /// `list`: address → username for every registry where `get` would succeed.
    pub fn protocol_list(&self) -> Result<Vec<(String, String)>> {
        let integration = self.chosen_integration()?;
        let listed = self.ledger()?.list(integration.as_ref())?;
        // Sorted, and any address listed once, where the reply is encoded.
        Ok(listed)
    }

    /// The integration the protocol verbs act on, when the run names one
    /// (`DOCKER_PAT_INTEGRATION`); `None` means the registry's default.
    fn chosen_integration(&self) -> Result<Option<Integration>> {
        Ok(self.env.integration()?)
    }
}

/// The one line `get` adds for an expired token: what happened and what to do.
fn expired_note(found: &Found, expired: DateTime<Utc>) -> String {
    let name = &found.name;
    let fix = if let Some(command) = found.rotated_by {
        format!("rotate it: `docker-credential-pat {command} rotate {name}`")
    } else {
        format!(
            "create a new token and store it: `docker login {}` (or `docker-credential-pat add`)",
            name.registry.default_address()
        )
    };
    format!(
        "{name} expired on {}; the registry will refuse it, so {fix}",
        crate::expiry::date(expired)
    )
}
