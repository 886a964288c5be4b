//! The operations: policy first, then the ledger that keeps the tokens.
//!
//! The service decides what a request means (which token, whether the
//! policy allows it, what to tell people) and leaves keeping to a
//! [`Ledger`]: the local one (index file plus OS keychain or vault) or the
//! team server (OpenBao), chosen by the `backend` setting. Local writers
//! hold the data lock from start to finish; a new secret is written to its
//! store before the index refers to it, and an old one is removed only after
//! the index has stopped referring to it, so a process killed at any point
//! leaves every token either fully as it was or fully changed.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{BackendChoice, Config, ConfigError, Environment, Paths};
use crate::fsutil::FsError;
use crate::index::{HubLink, Index, IndexError, IndexWriter, TokenRecord};
use crate::ledger::local::{Backends, LocalLedger};
use crate::ledger::{Edit, Entry, Found, Ledger, MachineUse};
use crate::names::{Integration, NameError, TokenName};
use crate::policy::{self, PasswordRefused, SecretKind};
use crate::registry::{AddressError, Registry};
use crate::secret::Secret;
use crate::store::keychain::KeychainStore;
use crate::store::openbao::{OpenBaoError, ServerLedger};
use crate::store::vault::{PassphraseSources, VaultStore};
use crate::store::{BackendKind, DynStore, StoreError};
use crate::usage::{self, Usage, UsageTable};

/// The exact text the Docker CLI recognises as "nothing stored".
pub const NOT_FOUND: &str = "credentials not found in native keychain";
const MAX_USERNAME_LEN: usize = 1024;
const MAX_DESCRIPTION_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{NOT_FOUND}")]
    NotFound,
    /// The index names a token whose secret is not in its store.
    #[error("{NOT_FOUND}")]
    SecretMissing,
    #[error("no credentials server URL")]
    MissingServerUrl,
    #[error("no credentials username")]
    MissingUsername,
    #[error("{0}")]
    Address(#[from] AddressError),
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("{0}")]
    Refused(#[from] PasswordRefused),
    #[error("no token named {name}{}", suggest(.suggestions))]
    UnknownToken {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Server(#[from] OpenBaoError),
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Fs(#[from] FsError),
}

fn suggest(suggestions: &[String]) -> String {
    match suggestions {
        [] => "; run `docker-credential-pat tokens` to see them all".into(),
        _ => format!("; did you mean {}?", suggestions.join(" or ")),
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// What a new or replaced token should look like.
pub struct TokenSpec<'a> {
    pub name: TokenName,
    pub username: &'a str,
    pub server_url: String,
    pub secret: &'a Secret,
    /// `Some` replaces the description; `None` keeps the current one.
    pub description: Option<String>,
    pub make_default: bool,
}

/// What is known of a secret beyond itself: when it expires, which Hub token it is.
#[derive(Debug, Clone, Default)]
pub struct TokenFacts {
    pub expires_at: Option<DateTime<Utc>>,
    pub hub: Option<HubLink>,
}

/// What `put_token_with` does with a token's facts.
pub enum Facts {
    /// Keeps them while the secret is the one already stored, and drops them
    /// for a different one (a different secret is a different token);
    /// `expires_at`, when given, replaces the expiry either way.
    Carry { expires_at: Option<DateTime<Utc>> },
    /// The new secret's own facts, as Hub has just described it.
    Replace(TokenFacts),
}

/// What `put_token` did, for the caller to report.
pub struct PutOutcome {
    pub replaced: bool,
    pub reactivated: bool,
    pub backend: BackendKind,
    /// The secret changed, so the expiry and Hub link known for the old one were dropped.
    pub dropped_facts: bool,
}

/// A token as people see it: its record joined with its usage.
pub struct TokenView {
    pub name: TokenName,
    pub record: TokenRecord,
    pub is_default: bool,
    /// This machine's own uses.
    pub usage: Usage,
    /// The latest use on any machine, this one included.
    pub last_use: Option<MachineUse>,
    /// A password stored for an account where tokens are now required.
    pub password_on_protected_account: bool,
}

pub struct Service {
    pub paths: Paths,
    pub config: Config,
    pub env: Environment,
    local: LocalLedger,
    server: OnceCell<ServerLedger>,
}

impl Service {
    /// Reads config.toml and the environment; opens nothing yet.
    pub fn open(env: Environment) -> Result<Self> {
        let paths = env.paths()?;
        paths.check_private()?;
        let config = Config::load(&paths.config_file())?;
        Ok(Self::with_config(env, paths, config))
    }

    /// Like [`Service::open`], but a config.toml that cannot be read gives
    /// defaults plus the error. Only `doctor` uses this: it must run to report
    /// and repair that very file, while every other command refuses to guess.
    /// It also leaves the folders as they are, for doctor to report and repair.
    pub fn open_lenient(env: Environment) -> Result<(Self, Option<ConfigError>)> {
        let paths = env.paths()?;
        let (config, error) = match Config::load(&paths.config_file()) {
            Ok(config) => (config, None),
            Err(e) => (Config::default(), Some(e)),
        };
        Ok((Self::with_config(env, paths, config), error))
    }

    fn with_config(env: Environment, paths: Paths, config: Config) -> Self {
        let home = paths.data_dir.to_string_lossy().into_owned();
        let (session, timeout) = (
            config.secret_service_session,
            u64::from(config.keychain_timeout_seconds),
        );
        let (vault_paths, vault_config, vault_env) = (paths.clone(), config.clone(), env.clone());
        let (usable_paths, usable_config, usable_env) =
            (paths.clone(), config.clone(), env.clone());
        let backends =
            Backends::new(
                Box::new(move |kind| -> Box<DynStore> {
                    match kind {
                        BackendKind::Keychain | BackendKind::OpenBao => Box::new(
                            KeychainStore::new(session, home.clone(), Duration::from_secs(timeout)),
                        ),
                        BackendKind::File => {
                            Box::new(vault_store(&vault_paths, &vault_config, &vault_env))
                        }
                    }
                }),
                Box::new(move || vault_store(&usable_paths, &usable_config, &usable_env).usable()),
            );
        Self::with_backends(env, paths, config, backends)
    }

    fn with_backends(env: Environment, paths: Paths, config: Config, backends: Backends) -> Self {
        // A bad DOCKER_PAT_BACKEND is reported by `ledger`, before anything is kept.
        let choice = env.backend_choice(&config).unwrap_or(config.backend);
        Self {
            local: LocalLedger::new(paths.clone(), choice, backends),
            server: OnceCell::new(),
            paths,
            config,
            env,
        }
    }

    /// A service over given stores, for tests.
    #[cfg(test)]
    pub fn with_stores(
        paths: Paths,
        config: Config,
        open: impl Fn(BackendKind) -> Box<DynStore> + 'static,
        vault_usable: bool,
    ) -> Self {
        let backends = Backends::new(Box::new(open), Box::new(move || vault_usable));
        Self::with_backends(Environment::default(), paths, config, backends)
    }

    /// The vault file on its own, for the `vault` commands.
    pub(crate) fn vault(&self) -> VaultStore {
        vault_store(&self.paths, &self.config, &self.env)
    }

    /// A local secret store (keychain or vault).
    pub fn store(&self, kind: BackendKind) -> &DynStore {
        self.local.store(kind)
    }

    /// True when `auto` may fall back to the vault (it exists or a passphrase source is set).
    pub fn vault_usable(&self) -> bool {
        self.local.vault_usable()
    }

    /// True when the tokens are kept on an OpenBao server.
    pub fn uses_server(&self) -> Result<bool> {
        Ok(self.env.backend_choice(&self.config)? == BackendChoice::OpenBao)
    }

    /// Where the tokens are kept, as the backend setting says.
    pub(crate) fn ledger(&self) -> Result<&dyn Ledger> {
        if self.uses_server()? {
            Ok(self.server()?)
        } else {
            Ok(&self.local)
        }
    }

    /// The team server, opened on first use.
    pub(crate) fn server(&self) -> Result<&ServerLedger> {
        if let Some(server) = self.server.get() {
            return Ok(server);
        }
        let server = ServerLedger::open(
            &self.config,
            &self.env,
            &self.paths,
            usage::this_machine(&self.config),
        )?;
        Ok(self.server.get_or_init(|| server))
    }

    pub fn load_index(&self) -> Result<Index> {
        Ok(Index::load(&self.paths)?)
    }

    /// The local index under the data lock, for doctor, import and migrate.
    pub fn begin(&self) -> Result<IndexWriter> {
        Ok(IndexWriter::begin(&self.paths)?)
    }

    /// A writer that loads only what concerns `registry`: the protocol's writes
    /// cost the same whatever the number of other tokens.
    pub fn begin_for(&self, registry: &Registry) -> Result<IndexWriter> {
        Ok(IndexWriter::begin_for(&self.paths, registry)?)
    }

    // ---- The credential-helper protocol ----

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
        self.env.integration()?;
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
        let (integration, make_default) = match self.env.integration()? {
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
        let integration = self.env.integration()?;
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
        let integration = self.env.integration()?;
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
        let integration = self.env.integration()?;
        let listed = self.ledger()?.list(integration.as_ref())?;
        // Sorted, and any address listed once, where the reply is encoded.
        Ok(listed)
    }

    // ---- Shared steps ----

    /// Refuses a password where the account requires tokens; returns what the secret is.
    pub fn check_policy(
        &self,
        registry: &Registry,
        username: &str,
        secret: &Secret,
    ) -> Result<SecretKind> {
        let kind = policy::classify(registry, username, secret.expose(), &self.config);
        policy::check_store(registry, username, kind, &self.config)?;
        Ok(kind)
    }

    /// Writes a token and its secret, and commits. The caller has checked the policy.
    pub(crate) fn put_token(&self, edit: &mut dyn Edit, spec: TokenSpec<'_>) -> Result<PutOutcome> {
        self.put_token_with(edit, spec, Facts::Carry { expires_at: None })
    }

    /// [`Service::put_token`], saying what becomes of the token's expiry and Hub link.
    pub(crate) fn put_token_with(
        &self,
        edit: &mut dyn Edit,
        spec: TokenSpec<'_>,
        facts: Facts,
    ) -> Result<PutOutcome> {
        let kind = policy::classify(
            &spec.name.registry,
            spec.username,
            spec.secret.expose(),
            &self.config,
        );
        let existing = edit.token(&spec.name)?;
        let (facts, dropped_facts) = match facts {
            Facts::Replace(facts) => (facts, false),
            Facts::Carry { expires_at } => {
                let (mut kept, dropped) =
                    carried_facts(edit, &spec.name, existing.as_ref(), spec.secret)?;
                kept.expires_at = expires_at.or(kept.expires_at);
                (kept, dropped)
            }
        };
        let now = Utc::now();
        let record = match existing.clone() {
            Some(old) => TokenRecord {
                username: spec.username.to_owned(),
                server_url: spec.server_url,
                description: spec.description.or(old.description.clone()),
                rotated_at: now,
                active: true,
                kind,
                expires_at: facts.expires_at,
                hub: facts.hub,
                ..old
            },
            None => TokenRecord {
                id: crate::ids::new_id(),
                secret: crate::index::SecretRef::new(BackendKind::Keychain),
                username: spec.username.to_owned(),
                server_url: spec.server_url,
                description: spec.description,
                created_at: now,
                rotated_at: now,
                active: true,
                kind,
                expires_at: facts.expires_at,
                hub: facts.hub,
            },
        };
        let backend = edit.put(&spec.name, record, spec.secret)?;
        if spec.make_default {
            edit.set_default(&spec.name)?;
        }
        edit.commit()?;
        Ok(PutOutcome {
            replaced: existing.is_some(),
            reactivated: existing.as_ref().is_some_and(|t| !t.active),
            backend,
            dropped_facts,
        })
    }

    /// Removes secrets the local index no longer refers to. Failures leave them listed for later.
    pub fn remove_retired(&self, writer: &mut IndexWriter) {
        self.local.remove_retired(writer);
    }

    // ---- Token management ----

    /// Finds a token by name, or explains which names come close.
    pub(crate) fn resolve(&self, edit: &mut dyn Edit, text: &str) -> Result<TokenName> {
        let name = TokenName::parse(text)?;
        if edit.token(&name)?.is_some() {
            return Ok(name);
        }
        let names: Vec<String> = edit
            .names()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        Err(ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: closest(&name.to_string(), &names),
        })
    }

    /// Every token with its usage, in name order.
    pub fn tokens(&self) -> Result<Vec<TokenView>> {
        let entries = self.ledger()?.entries()?;
        let usage = UsageTable::load(&self.paths);
        let latest = self.latest_uses(&entries, &usage);
        Ok(entries
            .into_iter()
            .map(|entry| self.view(entry, &usage, &latest))
            .collect())
    }

    /// The latest known use of each token (by id), on this machine or on any
    /// other that reported one to the server; tokens never used are left out.
    /// Every use this helper can see is here: `get` on any machine, and its
    /// own checks of a token at Docker Hub (recorded as uses, as Hub counts them).
    pub fn latest_uses(
        &self,
        entries: &[Entry],
        usage: &UsageTable,
    ) -> HashMap<String, MachineUse> {
        let here = usage::this_machine(&self.config);
        let ids: Vec<&str> = entries.iter().map(|e| e.record.id.as_str()).collect();
        let mut latest = self
            .ledger()
            .map(|ledger| ledger.reported_uses(&ids))
            .unwrap_or_default();
        for id in ids {
            let local = usage.get(id);
            let (Some(at), Some(client)) = (local.last_used_at, local.last_client) else {
                continue;
            };
            if latest.get(id).is_none_or(|other| other.at < at) {
                latest.insert(
                    id.to_owned(),
                    MachineUse {
                        at,
                        machine: here.clone(),
                        client,
                    },
                );
            }
        }
        latest
    }

    fn view(
        &self,
        entry: Entry,
        usage: &UsageTable,
        latest: &HashMap<String, MachineUse>,
    ) -> TokenView {
        let password_on_protected_account = entry.record.kind == SecretKind::Password
            && policy::tokens_required(&entry.name.registry, &entry.record.username, &self.config);
        TokenView {
            usage: usage.get(&entry.record.id),
            last_use: latest.get(&entry.record.id).cloned(),
            record: entry.record,
            is_default: entry.is_default,
            name: entry.name,
            password_on_protected_account,
        }
    }

    /// One token's view, for `history`.
    pub fn token(&self, text: &str) -> Result<TokenView> {
        let entries = self.ledger()?.entries()?;
        let entry = find_entry(&entries, text)?.clone();
        let usage = UsageTable::load(&self.paths);
        let latest = self.latest_uses(std::slice::from_ref(&entry), &usage);
        Ok(self.view(entry, &usage, &latest))
    }

    /// Applies `change` to each named token's record in one commit; all names must exist first.
    pub fn update_tokens(
        &self,
        names: &[String],
        mut change: impl FnMut(&mut TokenRecord),
    ) -> Result<Vec<TokenName>> {
        let mut edit = self.ledger()?.begin()?;
        let resolved = names
            .iter()
            .map(|n| self.resolve(&mut *edit, n))
            .collect::<Result<Vec<_>>>()?;
        for name in &resolved {
            if let Some(mut record) = edit.token(name)? {
                change(&mut record);
                edit.update(name, record)?;
            }
        }
        edit.commit()?;
        Ok(resolved)
    }

    pub fn set_active(&self, names: &[String], active: bool) -> Result<Vec<TokenName>> {
        self.update_tokens(names, |token| token.active = active)
    }

    pub fn delete(&self, names: &[String]) -> Result<Vec<TokenName>> {
        let mut edit = self.ledger()?.begin()?;
        let resolved = names
            .iter()
            .map(|n| match self.resolve(&mut *edit, n) {
                // A delete cut off after the token went but before its registry's
                // default stopped naming it: running it again finishes it.
                Err(e @ ServiceError::UnknownToken { .. }) => {
                    let name = TokenName::parse(n)?;
                    let dangling = name.integration.as_str() != crate::names::DEFAULT_INTEGRATION
                        && edit.default_of(&name.registry)?.as_ref() == Some(&name.integration);
                    if dangling { Ok(name) } else { Err(e) }
                }
                other => other,
            })
            .collect::<Result<Vec<_>>>()?;
        for name in &resolved {
            edit.remove(name)?;
        }
        edit.commit()?;
        Ok(resolved)
    }

    /// Removes every token of a registry; returns their names.
    pub fn delete_all(&self, registry_text: &str) -> Result<Vec<TokenName>> {
        let registry = Registry::parse(registry_text)?;
        let mut edit = self.ledger()?.begin_for(&registry)?;
        let names: Vec<TokenName> = edit
            .names()?
            .into_iter()
            .filter(|n| n.registry == registry)
            .collect();
        if names.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "there are no tokens for {registry}"
            )));
        }
        for name in &names {
            edit.remove(name)?;
        }
        edit.commit()?;
        Ok(names)
    }

    pub fn rename(&self, from: &str, new_integration: &str) -> Result<(TokenName, TokenName)> {
        let integration = Integration::parse(new_integration)?;
        let mut edit = self.ledger()?.begin()?;
        let old = self.resolve(&mut *edit, from)?;
        let new = TokenName::new(integration, old.registry.clone());
        if edit.token(&new)?.is_some() && !edit.is_copy_of(&old, &new)? {
            return Err(ServiceError::Invalid(format!(
                "{new} already exists; delete it first or choose another name"
            )));
        }
        edit.rename(&old, &new)?;
        edit.commit()?;
        Ok((old, new))
    }

    pub fn make_default(&self, text: &str) -> Result<(TokenName, bool)> {
        let mut edit = self.ledger()?.begin()?;
        let name = self.resolve(&mut *edit, text)?;
        // Read before the change: after it, nothing may fail and hide that it was made.
        let active = edit.token(&name)?.is_some_and(|t| t.active);
        edit.set_default(&name)?;
        edit.commit()?;
        Ok((name, active))
    }

    pub fn describe(&self, text: &str, description: &str) -> Result<TokenName> {
        let description = clean_description(description)?;
        let names = self.update_tokens(&[text.to_owned()], |token| {
            token.description = description.clone();
        })?;
        Ok(names.into_iter().next().expect("one name in, one out"))
    }

    /// Tokens not used (or never used) on any machine for more than `stale_after_days`.
    pub fn is_stale(&self, view: &TokenView, now: DateTime<Utc>) -> bool {
        policy::is_stale(
            view.record.created_at,
            view.last_use.as_ref().map(|u| u.at),
            self.config.stale_after_days,
            now,
        )
    }
}

/// The one line `get` adds for an expired token: what happened and what to do.
fn expired_note(found: &Found, expired: DateTime<Utc>) -> String {
    let name = &found.name;
    let fix = if found.hub_linked {
        format!("rotate it: `docker-credential-pat hub rotate {name}`")
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

/// What is known of `existing` beyond its secret, kept when `secret` is the
/// one it holds; else none, and whether there were any to drop. The old
/// secret is read only when there is something to keep.
fn carried_facts(
    edit: &mut dyn Edit,
    name: &TokenName,
    existing: Option<&TokenRecord>,
    secret: &Secret,
) -> Result<(TokenFacts, bool)> {
    let Some(existing) = existing.filter(|t| t.expires_at.is_some() || t.hub.is_some()) else {
        return Ok((TokenFacts::default(), false));
    };
    // An old secret that cannot be read counts as a different one: nothing wrong is kept.
    let same = edit
        .secret(name)
        .ok()
        .flatten()
        .is_some_and(|old| old == *secret);
    Ok(if same {
        let facts = TokenFacts {
            expires_at: existing.expires_at,
            hub: existing.hub.clone(),
        };
        (facts, false)
    } else {
        (TokenFacts::default(), true)
    })
}

/// The vault as this run's config and environment describe it.
fn vault_store(paths: &Paths, config: &Config, env: &Environment) -> VaultStore {
    let sources = PassphraseSources {
        file: env.passphrase_file.clone(),
        env: env.passphrase_set.then_some(crate::config::ENV_PASSPHRASE),
        ask: Some(crate::prompt::ask_hidden),
    };
    VaultStore::new(
        paths.vault_file(),
        sources,
        config.vault_cache_seconds,
        config.vault_kdf(),
    )
    .allow_higher_kdf(config.vault_kdf_allow_higher)
}

/// Usernames go into JSON and onto terminals; keep them to one printable line.
pub fn check_username(username: &str) -> Result<()> {
    if username.len() > MAX_USERNAME_LEN {
        return Err(ServiceError::Invalid(format!(
            "username is longer than {MAX_USERNAME_LEN} bytes"
        )));
    }
    if crate::text::has_control(username) {
        return Err(ServiceError::Invalid(
            "username contains a control character".into(),
        ));
    }
    Ok(())
}

pub fn clean_description(text: &str) -> Result<Option<String>> {
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(ServiceError::Invalid(format!(
            "description is longer than {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    if crate::text::has_control(text) {
        return Err(ServiceError::Invalid(
            "description contains a control character".into(),
        ));
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The entry named `text`, or which names come close.
pub(crate) fn find_entry<'a>(entries: &'a [Entry], text: &str) -> Result<&'a Entry> {
    let name = TokenName::parse(text)?;
    entries.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<String> = entries.iter().map(|e| e.name.to_string()).collect();
        ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: closest(&name.to_string(), &names),
        }
    })
}

/// Up to three names closest to `wanted`.
fn closest(wanted: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(wanted, n), n))
        .filter(|(score, _)| *score > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ItemMeta;
    use crate::store::memory::MemoryStore;
    use std::rc::Rc;

    struct Shared(Rc<MemoryStore>);

    impl crate::store::SecretStore for Shared {
        fn kind(&self) -> BackendKind {
            BackendKind::Keychain
        }
        fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
            self.0.get(item)
        }
        fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
            self.0.put(item, meta, secret)
        }
        fn delete(&self, item: &str) -> Result<bool, StoreError> {
            self.0.delete(item)
        }
        fn items(&self) -> Result<Vec<crate::store::StoredItem>, StoreError> {
            self.0.items()
        }
    }

    fn service(config: &str) -> (tempfile::TempDir, Service, Rc<MemoryStore>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: dir.path().into(),
            data_dir: dir.path().into(),
        };
        let store = Rc::new(MemoryStore::default());
        let shared = Rc::clone(&store);
        let service = Service::with_stores(
            paths,
            Config::parse(config).unwrap(),
            move |_| Box::new(Shared(Rc::clone(&shared))),
            false,
        );
        (dir, service, store)
    }

    fn secret(text: &str) -> Secret {
        Secret::from_str_copy(text)
    }

    const PAT: &str = "dckr_pat_abcdefghijklmnopqrstuvwxyz0";

    #[test]
    fn store_then_get_returns_the_secret() {
        let (_dir, service, _) = service("");
        service
            .protocol_store("https://index.docker.io/v1/", "alice", &secret(PAT))
            .unwrap();
        let (user, got) = service.protocol_get("docker.io").unwrap();
        assert_eq!((user.as_str(), got.expose()), ("alice", PAT));
        assert_eq!(
            service.protocol_list().unwrap(),
            vec![("https://index.docker.io/v1/".into(), "alice".into())]
        );
    }

    #[test]
    fn get_after_erase_is_not_found_and_the_secret_is_gone() {
        let (_dir, service, store) = service("");
        service
            .protocol_store("127.0.0.1:5000", "bob", &secret("pw"))
            .unwrap();
        service.protocol_erase("http://127.0.0.1:5000/").unwrap();
        assert!(matches!(
            service.protocol_get("127.0.0.1:5000"),
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(
            service.protocol_erase("127.0.0.1:5000"),
            Err(ServiceError::NotFound)
        ));
        assert_eq!(store.len(), 0);
        assert!(service.load_index().unwrap().retired.is_empty());
    }

    #[test]
    fn replacing_a_secret_removes_the_old_item() {
        let (_dir, service, store) = service("");
        service
            .protocol_store("ghcr.io", "bob", &secret("one"))
            .unwrap();
        service
            .protocol_store("ghcr.io", "bob2", &secret("two"))
            .unwrap();
        assert_eq!(store.len(), 1);
        let (user, got) = service.protocol_get("ghcr.io").unwrap();
        assert_eq!((user.as_str(), got.expose()), ("bob2", "two"));
    }

    #[test]
    fn refused_password_keeps_existing_token() {
        let (_dir, service, store) = service("[two_factor]\n\"docker.io\" = [\"alice\"]\n");
        service
            .protocol_store("docker.io", "alice", &secret(PAT))
            .unwrap();
        let err = service
            .protocol_store("docker.io", "alice", &secret("hunter2"))
            .unwrap_err();
        assert!(matches!(err, ServiceError::Refused(_)));
        assert_eq!(service.protocol_get("docker.io").unwrap().1.expose(), PAT);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn unreachable_store_changes_nothing() {
        let (_dir, service, store) = service("");
        service
            .protocol_store("ghcr.io", "bob", &secret("one"))
            .unwrap();
        let file =
            crate::index::registry_file(&service.paths, &Registry::parse("ghcr.io").unwrap());
        let before = std::fs::read(&file).unwrap();
        store.fail.set(true);
        assert!(matches!(
            service.protocol_store("ghcr.io", "bob", &secret("two")),
            Err(ServiceError::Store(_))
        ));
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }

    #[test]
    fn unknown_token_names_the_closest() {
        let (_dir, service, _) = service("");
        service
            .protocol_store("docker.io", "alice", &secret(PAT))
            .unwrap();
        let err = service
            .set_active(&["defualt@docker.io".into()], false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no token named defualt@docker.io; did you mean default@docker.io?"
        );
    }

    #[test]
    fn rename_keeps_secret_and_default() {
        let (_dir, service, _) = service("");
        service
            .protocol_store("docker.io", "alice", &secret(PAT))
            .unwrap();
        service.rename("default@docker.io", "laptop").unwrap();
        assert_eq!(service.protocol_get("docker.io").unwrap().1.expose(), PAT);
        let index = service.load_index().unwrap();
        assert_eq!(
            index
                .registry(&Registry::DockerHub)
                .unwrap()
                .default
                .as_deref(),
            Some("laptop")
        );
    }
}
