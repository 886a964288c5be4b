//! The operations: policy first, then the secret store, then the index.
//!
//! Writers hold the data lock from start to finish. A new secret is written
//! to its store before the index refers to it, and an old one is removed only
//! after the index has stopped referring to it (it waits on the index's
//! retired list meanwhile). So a process killed at any point leaves every
//! token either fully as it was or fully changed; at worst an unreferenced
//! item remains, which `doctor` finds.

use std::cell::OnceCell;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{BackendChoice, Config, ConfigError, Environment, Paths};
use crate::fsutil::FsError;
use crate::index::{
    Index, IndexError, IndexWriter, RegistryRecord, SecretRef, Snapshot, TokenEntry, TokenRecord,
};
use crate::names::{Integration, NameError, TokenName};
use crate::policy::{self, PasswordRefused, SecretKind};
use crate::registry::{AddressError, Registry};
use crate::secret::Secret;
use crate::store::keychain::KeychainStore;
use crate::store::vault::{PassphraseSources, VaultStore};
use crate::store::{BackendKind, DynStore, ItemMeta, StoreError};
use crate::usage::{self, Usage, UsageTable};

/// The exact text the Docker CLI recognises as "nothing stored".
pub const NOT_FOUND: &str = "credentials not found in native keychain";
const MAX_USERNAME_LEN: usize = 1024;
const MAX_DESCRIPTION_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{NOT_FOUND}")]
    NotFound,
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

/// What `put_token` did, for the caller to report.
pub struct PutOutcome {
    pub replaced: bool,
    pub reactivated: bool,
    pub backend: BackendKind,
}

/// A token as people see it: the index record joined with its usage.
pub struct TokenView {
    pub name: TokenName,
    pub record: TokenRecord,
    pub is_default: bool,
    pub usage: Usage,
    /// A password stored for an account where tokens are now required.
    pub password_on_protected_account: bool,
}

pub struct Service {
    pub paths: Paths,
    pub config: Config,
    pub env: Environment,
    backends: Backends,
}

/// Opens each backend on first use, so `get` connects only to the one it needs.
struct Backends {
    keychain: OnceCell<Box<DynStore>>,
    vault: OnceCell<Box<DynStore>>,
    open: Box<dyn Fn(BackendKind) -> Box<DynStore>>,
    vault_usable: Box<dyn Fn() -> bool>,
}

impl Backends {
    fn get(&self, kind: BackendKind) -> &DynStore {
        let cell = match kind {
            BackendKind::Keychain => &self.keychain,
            BackendKind::File => &self.vault,
        };
        cell.get_or_init(|| (self.open)(kind)).as_ref()
    }
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
        let backends = Backends {
            keychain: OnceCell::new(),
            vault: OnceCell::new(),
            open: Box::new(move |kind| -> Box<DynStore> {
                match kind {
                    BackendKind::Keychain => Box::new(KeychainStore::new(
                        session,
                        home.clone(),
                        Duration::from_secs(timeout),
                    )),
                    BackendKind::File => {
                        Box::new(vault_store(&vault_paths, &vault_config, &vault_env))
                    }
                }
            }),
            vault_usable: Box::new(move || {
                vault_store(&usable_paths, &usable_config, &usable_env).usable()
            }),
        };
        Self {
            paths,
            config,
            env,
            backends,
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
        let backends = Backends {
            keychain: OnceCell::new(),
            vault: OnceCell::new(),
            open: Box::new(open),
            vault_usable: Box::new(move || vault_usable),
        };
        Self {
            paths,
            config,
            env: Environment::default(),
            backends,
        }
    }

    /// The vault file on its own, for the `vault` commands.
    pub(crate) fn vault(&self) -> VaultStore {
        vault_store(&self.paths, &self.config, &self.env)
    }

    pub fn store(&self, kind: BackendKind) -> &DynStore {
        self.backends.get(kind)
    }

    /// True when `auto` may fall back to the vault (it exists or a passphrase source is set).
    pub fn vault_usable(&self) -> bool {
        (self.backends.vault_usable)()
    }

    pub fn load_index(&self) -> Result<Index> {
        Ok(Index::load(&self.paths.index_file())?)
    }

    pub fn begin(&self) -> Result<IndexWriter> {
        Ok(IndexWriter::begin(&self.paths)?)
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
        let mut writer = self.begin()?;
        let (name, make_default) = self.protocol_target(&writer.index, registry)?;
        let spec = TokenSpec {
            name,
            username,
            server_url: server_url.to_owned(),
            secret,
            description: None,
            make_default,
        };
        let outcome = self.put_token(&mut writer, spec)?;
        if outcome.reactivated {
            crate::output::note(
                "the token was inactive; storing a new secret made it active again",
            );
        }
        Ok(())
    }

    /// The token `store` writes for `registry`: the integration from the
    /// environment, else the registry's default, else a new default token.
    /// The flag says whether it becomes the registry's default.
    pub fn protocol_target(&self, index: &Index, registry: Registry) -> Result<(TokenName, bool)> {
        let chosen = self.env.integration()?;
        let default = index.registry(&registry).and_then(|r| r.default.clone());
        let (integration, make_default) = match (chosen, default) {
            (Some(integration), _) => (integration, false),
            (None, Some(default)) => (Integration::parse(&default)?, false),
            (None, None) => (Integration::default_name(), true),
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
        let record = self
            .registry_snapshot(&registry)?
            .ok_or(ServiceError::NotFound)?;
        let (_, token) = record
            .select(integration.as_ref())
            .ok_or(ServiceError::NotFound)?;
        let secret = self
            .store(token.secret.backend)
            .get_located(&token.secret.item, token.secret.hint.as_deref())?
            .ok_or_else(|| {
            crate::output::note("the index names a token whose secret is missing; run `docker-credential-pat doctor`");
            ServiceError::NotFound
        })?;
        if let Err(e) =
            usage::record_use(&self.paths, &token.id, &usage::parent_client(), Utc::now())
        {
            crate::output::note(&format!("could not record this use: {e}"));
        }
        Ok((token.username.clone(), secret))
    }

    /// One registry's record, read without parsing the rest of the index.
    fn registry_snapshot(&self, registry: &Registry) -> Result<Option<RegistryRecord>> {
        match Snapshot::read(&self.paths.index_file())? {
            Some(snapshot) => Ok(snapshot.registry(registry)?),
            None => Ok(None),
        }
    }

    /// `erase`: removes the token `get` would return in the same environment.
    pub fn protocol_erase(&self, address: &str) -> Result<()> {
        if address.is_empty() {
            return Err(ServiceError::MissingServerUrl);
        }
        let registry = Registry::parse(address)?;
        let integration = self.env.integration()?;
        // Docker erases several spellings in a row; most find nothing, so look before locking.
        let present = self
            .registry_snapshot(&registry)?
            .is_some_and(|r| r.select(integration.as_ref()).is_some());
        if !present {
            return Err(ServiceError::NotFound);
        }
        let mut writer = self.begin()?;
        let (name, _) = writer
            .index
            .select(&registry, integration.as_ref())
            .ok_or(ServiceError::NotFound)?;
        let name = TokenName::new(name, registry);
        writer.index.remove(&name);
        writer.save()?;
        self.remove_retired(&mut writer);
        Ok(())
    }

    /// `list`: address → username for every registry where `get` would succeed.
    pub fn protocol_list(&self) -> Result<Vec<(String, String)>> {
        let integration = self.env.integration()?;
        let Some(snapshot) = Snapshot::read(&self.paths.index_file())? else {
            return Ok(Vec::new());
        };
        let mut listed: Vec<(String, String)> = snapshot
            .listing()?
            .into_iter()
            .filter_map(|(registry, record)| {
                let (_, token) = record.select(integration.as_ref())?;
                Some((
                    registry.list_address(&token.server_url).to_owned(),
                    token.username.clone(),
                ))
            })
            .collect();
        listed.sort();
        listed.dedup_by(|a, b| a.0 == b.0);
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

    /// Writes a token's secret and commits it to the index. The caller has checked the policy.
    pub fn put_token(&self, writer: &mut IndexWriter, spec: TokenSpec<'_>) -> Result<PutOutcome> {
        let kind = policy::classify(
            &spec.name.registry,
            spec.username,
            spec.secret.expose(),
            &self.config,
        );
        let existing = writer.index.token(&spec.name).cloned();
        let token_id = existing
            .as_ref()
            .map_or_else(crate::ids::new_id, |t| t.id.clone());
        let meta = ItemMeta {
            registry: spec.name.registry.key().to_owned(),
            account: spec.username.to_owned(),
            token_id: token_id.clone(),
        };
        let secret_ref = self.write_new_secret(&meta, spec.secret)?;
        let now = Utc::now();
        let record = TokenRecord {
            id: token_id,
            secret: secret_ref.clone(),
            username: spec.username.to_owned(),
            server_url: spec.server_url,
            description: spec
                .description
                .or_else(|| existing.as_ref().and_then(|t| t.description.clone())),
            created_at: existing.as_ref().map_or(now, |t| t.created_at),
            rotated_at: now,
            active: true,
            kind,
        };
        writer.index.insert(&spec.name, record);
        if spec.make_default {
            writer.index.set_default(&spec.name);
        }
        if let Err(e) = writer.save() {
            // The index never referred to the new secret; take it back out.
            let _ = self.store(secret_ref.backend).delete(&secret_ref.item);
            return Err(e.into());
        }
        self.remove_retired(writer);
        Ok(PutOutcome {
            replaced: existing.is_some(),
            reactivated: existing.as_ref().is_some_and(|t| !t.active),
            backend: secret_ref.backend,
        })
    }

    /// Puts a secret under a fresh item name in the backend chosen for new secrets.
    fn write_new_secret(&self, meta: &ItemMeta, secret: &Secret) -> Result<SecretRef> {
        let choice = self.env.backend_choice(&self.config)?;
        let first = match choice {
            BackendChoice::File => BackendKind::File,
            BackendChoice::Keychain | BackendChoice::Auto => BackendKind::Keychain,
        };
        let mut secret_ref = SecretRef::new(first);
        match self
            .store(first)
            .put_located(&secret_ref.item, meta, secret)
        {
            Ok(hint) => {
                secret_ref.hint = hint;
                Ok(secret_ref)
            }
            Err(StoreError::Unavailable(keychain_cause)) if choice == BackendChoice::Auto => {
                if !(self.backends.vault_usable)() {
                    return Err(ServiceError::Store(StoreError::Unavailable(format!(
                        "{keychain_cause}; no vault exists either: create one with `docker-credential-pat vault init`, or set DOCKER_PAT_PASSPHRASE_FILE"
                    ))));
                }
                let secret_ref = SecretRef::new(BackendKind::File);
                self.store(BackendKind::File)
                    .put(&secret_ref.item, meta, secret)?;
                Ok(secret_ref)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes secrets the index no longer refers to. Failures leave them listed for later.
    pub fn remove_retired(&self, writer: &mut IndexWriter) {
        if writer.index.retired.is_empty() {
            return;
        }
        let before = writer.index.retired.len();
        let retired = std::mem::take(&mut writer.index.retired);
        writer.index.retired = retired
            .into_iter()
            .filter(|r| self.store(r.backend).delete(&r.item).is_err())
            .collect();
        if writer.index.retired.len() != before {
            let _ = writer.save();
        }
    }

    // ---- Token management ----

    /// Finds a token by name, or explains which names come close.
    pub fn resolve(&self, index: &Index, text: &str) -> Result<TokenName> {
        let name = TokenName::parse(text)?;
        if index.token(&name).is_some() {
            return Ok(name);
        }
        Err(ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: closest(&name.to_string(), &index.names()),
        })
    }

    /// Every token with its usage, in name order.
    pub fn tokens(&self) -> Result<Vec<TokenView>> {
        let index = self.load_index()?;
        let usage = UsageTable::load(&self.paths);
        Ok(index
            .entries()
            .map(|entry| self.view(entry, &usage))
            .collect())
    }

    fn view(&self, entry: TokenEntry<'_>, usage: &UsageTable) -> TokenView {
        let password_on_protected_account = entry.record.kind == SecretKind::Password
            && policy::tokens_required(&entry.name.registry, &entry.record.username, &self.config);
        TokenView {
            usage: usage.get(&entry.record.id),
            record: entry.record.clone(),
            is_default: entry.is_default,
            name: entry.name,
            password_on_protected_account,
        }
    }

    /// One token's view, for `history`.
    pub fn token(&self, text: &str) -> Result<TokenView> {
        let index = self.load_index()?;
        let name = self.resolve(&index, text)?;
        let usage = UsageTable::load(&self.paths);
        let entry = index
            .entries()
            .find(|e| e.name == name)
            .ok_or(ServiceError::NotFound)?;
        Ok(self.view(entry, &usage))
    }

    /// Applies `change` to each named token in one commit; all names must exist first.
    pub fn update_tokens(
        &self,
        names: &[String],
        mut change: impl FnMut(&mut Index, &TokenName) -> Result<()>,
    ) -> Result<Vec<TokenName>> {
        let mut writer = self.begin()?;
        let resolved = names
            .iter()
            .map(|n| self.resolve(&writer.index, n))
            .collect::<Result<Vec<_>>>()?;
        for name in &resolved {
            change(&mut writer.index, name)?;
        }
        writer.save()?;
        self.remove_retired(&mut writer);
        Ok(resolved)
    }

    pub fn set_active(&self, names: &[String], active: bool) -> Result<Vec<TokenName>> {
        self.update_tokens(names, |index, name| {
            if let Some(token) = index.token_mut(name) {
                token.active = active;
            }
            Ok(())
        })
    }

    pub fn delete(&self, names: &[String]) -> Result<Vec<TokenName>> {
        self.update_tokens(names, |index, name| {
            index.remove(name);
            Ok(())
        })
    }

    /// Removes every token of a registry; returns their names.
    pub fn delete_all(&self, registry_text: &str) -> Result<Vec<TokenName>> {
        let registry = Registry::parse(registry_text)?;
        let mut writer = self.begin()?;
        let names: Vec<TokenName> = writer
            .index
            .registry(&registry)
            .map(|r| {
                r.tokens
                    .keys()
                    .filter_map(|i| Integration::parse(i).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|i| TokenName::new(i, registry.clone()))
            .collect();
        if names.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "there are no tokens for {registry}"
            )));
        }
        for name in &names {
            writer.index.remove(name);
        }
        writer.save()?;
        self.remove_retired(&mut writer);
        Ok(names)
    }

    pub fn rename(&self, from: &str, new_integration: &str) -> Result<(TokenName, TokenName)> {
        let integration = Integration::parse(new_integration)?;
        let mut writer = self.begin()?;
        let old = self.resolve(&writer.index, from)?;
        let new = TokenName::new(integration, old.registry.clone());
        if writer.index.token(&new).is_some() {
            return Err(ServiceError::Invalid(format!(
                "{new} already exists; delete it first or choose another name"
            )));
        }
        let record = writer
            .index
            .registries
            .get_mut(old.registry.key())
            .expect("resolved above");
        let token = record
            .tokens
            .remove(old.integration.as_str())
            .expect("resolved above");
        record
            .tokens
            .insert(new.integration.as_str().to_owned(), token);
        if record.default.as_deref() == Some(old.integration.as_str()) {
            record.default = Some(new.integration.as_str().to_owned());
        }
        writer.save()?;
        Ok((old, new))
    }

    pub fn make_default(&self, text: &str) -> Result<(TokenName, bool)> {
        let mut writer = self.begin()?;
        let name = self.resolve(&writer.index, text)?;
        writer.index.set_default(&name);
        let active = writer.index.token(&name).is_some_and(|t| t.active);
        writer.save()?;
        Ok((name, active))
    }

    pub fn describe(&self, text: &str, description: &str) -> Result<TokenName> {
        let description = clean_description(description)?;
        let names = self.update_tokens(&[text.to_owned()], |index, name| {
            if let Some(token) = index.token_mut(name) {
                token.description = description.clone();
            }
            Ok(())
        })?;
        Ok(names.into_iter().next().expect("one name in, one out"))
    }

    /// Tokens not used (or never used) for more than `stale_after_days`.
    pub fn is_stale(&self, view: &TokenView, now: DateTime<Utc>) -> bool {
        policy::is_stale(
            view.record.created_at,
            view.usage.last_used_at,
            self.config.stale_after_days,
            now,
        )
    }
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
        let before = std::fs::read(service.paths.index_file()).unwrap();
        store.fail.set(true);
        assert!(matches!(
            service.protocol_store("ghcr.io", "bob", &secret("two")),
            Err(ServiceError::Store(_))
        ));
        assert_eq!(std::fs::read(service.paths.index_file()).unwrap(), before);
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
