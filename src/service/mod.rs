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
//!
//! - this file: [`Service`], opened once per run, and where it keeps tokens;
//! - [`protocol`]: `store`, `get`, `erase` and `list`, as Docker asks them
//!   ([`logout`]: what one `docker logout` erased);
//! - [`write`](mod@write): what a new or replaced token must be, and how it is written;
//! - [`tokens`]: tokens as people see and change them (`tokens`, `rename`,
//!   `default`, `(de)activate`, `delete`, `describe`, `history`).

use std::cell::OnceCell;
use std::time::Duration;

use crate::config::{BackendChoice, Config, ConfigError, Environment, Paths};
use crate::error::Result;
use crate::index::{Index, IndexWriter, SecretRef};
use crate::ledger::Ledger;
use crate::ledger::local::{Backends, LocalLedger};
use crate::ledger::server::ServerLedger;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::select::{Facts, Here};
use crate::store::keychain::KeychainStore;
use crate::store::vault::{PassphraseSources, VaultStore};
use crate::store::{BackendKind, DynStore, StoreError};
use crate::usage;

mod logout;
pub mod protocol;
#[cfg(test)]
mod tests;
pub mod tokens;
pub mod write;

/// One run's settings, and the places its tokens are kept (each opened on first use).
pub struct Service {
    pub paths: Paths,
    pub config: Config,
    pub env: Environment,
    /// What the `[[select]]` rules ask of this run, looked up on first use.
    pub(crate) here: Box<dyn Facts>,
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
            here: Box::new(Here::new(env.home.clone(), usage::parent_client)),
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

    /// A service whose stores are one in-memory store, for tests; the store
    /// comes back too, for a test to look inside or make fail.
    #[cfg(test)]
    pub(crate) fn in_memory(
        paths: Paths,
        config: Config,
    ) -> (Self, std::rc::Rc<crate::store::memory::MemoryStore>) {
        let store = std::rc::Rc::new(crate::store::memory::MemoryStore::default());
        let shared = std::rc::Rc::clone(&store);
        let open = move |_| -> Box<DynStore> { Box::new(std::rc::Rc::clone(&shared)) };
        (Self::with_stores(paths, config, open, false), store)
    }

    /// The vault file on its own, for the `vault` commands.
    pub(crate) fn vault(&self) -> VaultStore {
        vault_store(&self.paths, &self.config, &self.env)
    }

    /// A local secret store (keychain or vault).
    pub fn store(&self, kind: BackendKind) -> &DynStore {
        self.local.store(kind)
    }

    /// The secret a local index entry points at (for moving it elsewhere).
    pub(crate) fn secret_at(&self, place: &SecretRef) -> Result<Option<Secret>, StoreError> {
        self.local.secret_at(place)
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

    /// Removes secrets the local index no longer refers to. Failures leave them listed for later.
    pub fn remove_retired(&self, writer: &mut IndexWriter) {
        self.local.remove_retired(writer);
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
