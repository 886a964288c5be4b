//! Where tokens are kept, secrets and records together: the seam between the
//! operations ([`crate::service`]) and the backends.
//!
//! Two kinds of place sit behind it. On one machine, the index file holds what
//! is known about each token and points at its secret in the OS keychain or
//! the vault ([`local`]). On a team server, OpenBao holds both, for every
//! machine of the fleet at once (`server`). The service
//! applies policy, chooses names and reports to people; a ledger only keeps.
//!
//! Reads that the Docker protocol makes on every pull (`get`, `list`) are
//! their own methods, so each place can serve them its fastest way; every
//! change goes through an [`Edit`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::index::TokenRecord;
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::select::{Reason, Selection};
use crate::store::BackendKind;

pub(crate) mod local;
pub(crate) mod server;

/// The token `get` serves.
pub struct Found {
    /// The token chosen: the one asked for, or the registry's default.
    pub name: TokenName,
    pub id: String,
    pub username: String,
    pub secret: Secret,
    /// When it stops working, if known: `get` notes a token that has.
    pub expires_at: Option<DateTime<Utc>>,
    /// The command family whose `rotate` replaces it (`hub`, `gitlab`), when linked.
    pub rotated_by: Option<&'static str>,
    /// Why this token: the environment, a rule, or the registry's default.
    pub reason: Reason,
}

/// A token and its record, without its secret.
#[derive(Clone)]
pub struct Entry {
    pub name: TokenName,
    pub record: TokenRecord,
    pub is_default: bool,
}

/// One machine's latest use of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineUse {
    pub at: DateTime<Utc>,
    pub machine: String,
    pub client: String,
    /// What chose the token: `rule 2`, `DOCKER_PAT_INTEGRATION`, `default`.
    pub chosen_by: Option<String>,
}

pub(crate) trait Ledger {
    /// `get`: the token `selection` picks for `registry` (see
    /// [`Selection::pick`]), and only while it is active; `None` when there is
    /// no such token.
    fn get(&self, registry: &Registry, selection: &Selection) -> Result<Option<Found>>;

    /// `list`: for each registry where `get` would succeed, the address `list`
    /// reports and the username.
    fn list(&self, selection: &Selection) -> Result<Vec<(String, String)>>;

    /// Every token, ordered by registry and integration.
    fn entries(&self) -> Result<Vec<Entry>>;

    /// Starts a change. What it holds (the local data lock) is held until it is dropped.
    fn begin(&self) -> Result<Box<dyn Edit + '_>>;

    /// Starts a change that touches only `registry`'s tokens, so a ledger may
    /// load no more than those (the protocol's `store` and `erase`).
    fn begin_for(&self, registry: &Registry) -> Result<Box<dyn Edit + '_>> {
        let _ = registry;
        self.begin()
    }

    /// Tells the other machines that this one used a token. Bookkeeping: the
    /// caller drops the error rather than fail a `get`.
    fn report_use(&self, id: &str, at: DateTime<Utc>, client: &str, reason: &str) -> Result<()> {
        let _ = (id, at, client, reason);
        Ok(())
    }

    /// The latest use each of `ids` had on the machines that reported one;
    /// tokens with none are left out.
    fn reported_uses(&self, ids: &[&str]) -> HashMap<String, MachineUse> {
        let _ = ids;
        HashMap::new()
    }
}

/// A change in progress.
pub(crate) trait Edit {
    /// The integration `get` uses for `registry` when none is chosen.
    fn default_of(&mut self, registry: &Registry) -> Result<Option<Integration>>;

    /// Whether `get` without an integration finds a token for `registry`:
    /// its default is named and that token exists.
    fn has_default(&mut self, registry: &Registry) -> Result<bool> {
        match self.default_of(registry)? {
            Some(integration) => Ok(self
                .token(&TokenName::new(integration, registry.clone()))?
                .is_some()),
            None => Ok(false),
        }
    }

    fn token(&mut self, name: &TokenName) -> Result<Option<TokenRecord>>;

    /// Every token name.
    fn names(&mut self) -> Result<Vec<TokenName>>;

    /// A token's secret; `None` when the token or its secret is missing.
    /// On a server, that of the version this edit read, if it read one.
    fn secret(&mut self, name: &TokenName) -> Result<Option<Secret>>;

    /// A token's secret as its store holds it now, never as this edit read it:
    /// for checking that nobody replaced it meanwhile.
    fn secret_now(&mut self, name: &TokenName) -> Result<Option<Secret>> {
        self.secret(name)
    }

    /// Creates or replaces a token with its secret. The record's `secret`
    /// field is set here, to where the secret went; that backend is returned.
    fn put(
        &mut self,
        name: &TokenName,
        record: TokenRecord,
        secret: &Secret,
    ) -> Result<BackendKind>;

    /// Replaces a token's record, keeping its secret.
    fn update(&mut self, name: &TokenName, record: TokenRecord) -> Result<()>;

    /// Removes a token and its secret; `false` when there was none.
    fn remove(&mut self, name: &TokenName) -> Result<bool>;

    /// Moves a token to a new name in the same registry, default and all.
    fn rename(&mut self, from: &TokenName, to: &TokenName) -> Result<()>;

    /// True when `to` is `from`'s copy left by a rename that stopped half-way,
    /// which running the rename again finishes.
    fn is_copy_of(&mut self, from: &TokenName, to: &TokenName) -> Result<bool> {
        let _ = (from, to);
        Ok(false)
    }

    fn set_default(&mut self, name: &TokenName) -> Result<()>;

    /// Makes what was changed so far durable.
    fn commit(&mut self) -> Result<()>;
}
