//! The credential-helper protocol's operations: `store`, `get`, `erase` and
//! `list`, as the Docker CLI asks them.
//!
//! Each verb chooses its token the same way, through
//! `Service::chosen_integration`: the integration the run names, else the
//! first `[[select]]` rule that matches here and has a token there (or names
//! the registry), else the registry's default. `get` is the hot path: one
//! registry's record, one secret, one line of bookkeeping.

use chrono::{DateTime, Utc};

use super::Service;
use super::write::{TokenSpec, check_username};
use crate::error::{Result, ServiceError};
use crate::ledger::{Edit, Found};
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::select::{Pick, Reason, Selection};
use crate::usage;

/// What `store` wrote.
#[derive(Debug)]
pub struct Stored {
    pub name: TokenName,
    /// The secret is not the one the token held before (or the token is
    /// new); `None` when that was not compared.
    pub new_secret: Option<bool>,
    /// What was known of the old secret (expiry, registry link) was dropped.
    pub dropped_facts: bool,
}

impl Service {
    /// `store`: the registry's default token, or the integration from the
    /// environment. Says which token was written, and how.
    pub fn protocol_store(
        &self,
        server_url: &str,
        username: &str,
        secret: &Secret,
    ) -> Result<Stored> {
        self.protocol_store_with(server_url, username, secret, false)
    }

    /// [`Service::protocol_store`]; with `compare`, the old secret is read
    /// to say whether this one is new even when nothing is known of it.
    pub fn protocol_store_with(
        &self,
        server_url: &str,
        username: &str,
        secret: &Secret,
        compare: bool,
    ) -> Result<Stored> {
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
            name: name.clone(),
            username,
            server_url: server_url.to_owned(),
            secret,
            description: None,
            make_default,
        };
        let facts = super::write::Facts::Carry {
            expires_at: None,
            compare,
        };
        let outcome = self.put_token_with(&mut *edit, spec, facts)?;
        if outcome.reactivated {
            crate::output::note(
                "the token was inactive; storing a new secret made it active again",
            );
        }
        Ok(Stored {
            name,
            new_secret: outcome.new_secret,
            dropped_facts: outcome.dropped_facts,
        })
    }

    /// The token `store` writes for `registry`: the one `get` would read
    /// here, else a new default token. The flag says whether it becomes the
    /// registry's default.
    pub(crate) fn protocol_target(
        &self,
        edit: &mut dyn Edit,
        registry: Registry,
    ) -> Result<(TokenName, bool)> {
        let selection = self.chosen_integration()?;
        Ok(match pick_in(edit, &registry, &selection)? {
            Some(pick) => (TokenName::new(pick.integration, registry), false),
            None => (TokenName::new(Integration::default_name(), registry), true),
        })
    }

    /// `get`: the username and secret for `address`, recording the use.
    pub fn protocol_get(&self, address: &str) -> Result<(String, Secret)> {
        if address.is_empty() {
            return Err(ServiceError::MissingServerUrl);
        }
        let registry = Registry::parse(address)?;
        let selection = self.chosen_integration()?;
        let ledger = self.ledger()?;
        let found = match ledger.get(&registry, &selection) {
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
        let (at, client) = (Utc::now(), self.here.client());
        let chosen_by = found.reason.record();
        if let Err(e) = usage::record_use(&self.paths, &found.id, client, &chosen_by, at) {
            crate::output::note(&format!("could not record this use: {e}"));
        }
        // Other machines learn of it when they can; a failed report never fails a `get`.
        let _ = ledger.report_use(&found.id, at, client, &chosen_by);
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
        let selection = self.chosen_integration()?;
        let ledger = self.ledger()?;
        let mut edit = ledger.begin_for(&registry)?;
        let Some(pick) = pick_in(&mut *edit, &registry, &selection)? else {
            return Err(ServiceError::NotFound);
        };
        let why = crate::select::explain(&pick, &self.config.rules, &registry);
        let name = TokenName::new(pick.integration, registry);
        if !edit.token(&name)?.is_some_and(|t| t.active) {
            return Err(ServiceError::NotFound);
        }
        // `docker logout` erases up to four times in a row; see [`super::logout`].
        if pick.reason == Reason::Default
            && let Some(rule) = selection.first_rule_for(&name.registry)
            && rule.integration != name.integration
            && super::logout::just_erased(&self.paths, &name.registry)
                .is_some_and(|gone| gone == rule.integration.as_str())
        {
            crate::output::note(&format!(
                "not removing {name}, the default token of {}: rule {} in config.toml line {} applies here; `docker-credential-pat delete {name}` removes it",
                name.registry, rule.number, rule.line,
            ));
            return Err(ServiceError::NotFound);
        }
        edit.remove(&name)?;
        edit.commit()?;
        if matches!(pick.reason, Reason::Rule(_)) {
            super::logout::remember(&self.paths, &name.registry, name.integration.as_str());
        }
        // stdout stays the protocol's; people see which account was logged out.
        crate::output::note(&format!("removed {name} ({why})"));
        Ok(())
    }

    /// `list`: address → username for every registry where `get` would succeed.
    pub fn protocol_list(&self) -> Result<Vec<(String, String)>> {
        let selection = self.chosen_integration()?;
        let listed = self.ledger()?.list(&selection)?;
        // Sorted, and any address listed once, where the reply is encoded.
        Ok(listed)
    }

    /// What the protocol verbs ask for here: the integration the run names
    /// (`DOCKER_PAT_INTEGRATION`), else the `[[select]]` rules that match;
    /// each registry's tokens then settle it (see [`Selection::pick`]).
    pub(crate) fn chosen_integration(&self) -> Result<Selection<'_>> {
        let forced = self.env.integration()?;
        Ok(Selection::new(&self.config.rules, forced, &*self.here))
    }
}

/// What `get` would answer for one registry here, and why: for `which`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub registry: Registry,
    /// The token chosen, whether or not it exists; `None` when nothing is.
    pub pick: Option<Pick>,
    /// The chosen token's record, when it exists.
    pub record: Option<crate::index::TokenRecord>,
    /// "rule 1 in config.toml line 3: dir ~/work/**", and the like.
    pub why: String,
}

impl Answer {
    /// The token's name, when one is chosen.
    pub fn token(&self) -> Option<TokenName> {
        let pick = self.pick.as_ref()?;
        Some(TokenName::new(
            pick.integration.clone(),
            self.registry.clone(),
        ))
    }

    /// True when `get` returns a credential: the token exists and is active.
    pub fn found(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.active)
    }
}

impl Service {
    /// `which`: what `get` would answer here for `registry`, or for every
    /// registry that has tokens, chosen by the very code `get` runs.
    pub fn which(&self, registry: Option<&Registry>) -> Result<Vec<Answer>> {
        let selection = self.chosen_integration()?;
        let entries = self.ledger()?.entries()?;
        let mut registries: Vec<Registry> =
            entries.iter().map(|e| e.name.registry.clone()).collect();
        registries.dedup();
        if let Some(asked) = registry {
            registries = vec![asked.clone()];
        }
        let answers = registries.into_iter().map(|registry| {
            let here: Vec<_> = entries
                .iter()
                .filter(|e| e.name.registry == registry)
                .collect();
            let default = here
                .iter()
                .find(|e| e.is_default)
                .map(|e| e.name.integration.as_str());
            let names = here.iter().map(|e| e.name.integration.as_str());
            let pick = selection.pick_among(&registry, names, default);
            let record = pick.as_ref().and_then(|pick| {
                here.iter()
                    .find(|e| e.name.integration == pick.integration)
                    .map(|e| e.record.clone())
            });
            let why = match &pick {
                Some(pick) => crate::select::explain(pick, &self.config.rules, &registry),
                None => format!("{registry} has no default token and no rule chooses one here"),
            };
            Answer {
                registry,
                pick,
                record,
                why,
            }
        });
        Ok(answers.collect())
    }
}

/// The token `selection` picks for `registry` among those `edit` holds.
fn pick_in(
    edit: &mut dyn Edit,
    registry: &Registry,
    selection: &Selection,
) -> Result<Option<Pick>> {
    let default = edit.default_of(registry)?;
    selection.pick(
        registry,
        |integration| {
            let name = TokenName::new(integration.clone(), registry.clone());
            Ok(edit.token(&name)?.is_some())
        },
        default,
    )
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
