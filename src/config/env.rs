//! The environment the helper runs in, captured once, and where its files live.
//!
//! The helper's own variables (and Docker's, and the OpenBao client's) are
//! captured here once, at the start of a run, and handed on as an
//! [`Environment`]. Those that hold a secret (the vault passphrase, an
//! OpenBao token) are not copied here: the value is read where it is used,
//! straight into a wiped buffer.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{BackendChoice, Config, ConfigError, check_hub_url};
use crate::fsutil;

pub const ENV_HOME: &str = "DOCKER_PAT_HOME";
pub const ENV_INTEGRATION: &str = crate::select::ENV_INTEGRATION;
pub const ENV_BACKEND: &str = "DOCKER_PAT_BACKEND";
pub const ENV_PASSPHRASE: &str = "DOCKER_PAT_PASSPHRASE";
pub const ENV_PASSPHRASE_FILE: &str = "DOCKER_PAT_PASSPHRASE_FILE";
pub const ENV_NEW_PASSPHRASE: &str = "DOCKER_PAT_NEW_PASSPHRASE";
pub const ENV_NEW_PASSPHRASE_FILE: &str = "DOCKER_PAT_NEW_PASSPHRASE_FILE";
pub const ENV_HUB_URL: &str = "DOCKER_PAT_HUB_URL";
pub const ENV_GITLAB_API: &str = "DOCKER_PAT_GITLAB_API";
pub const ENV_GITHUB_API: &str = "DOCKER_PAT_GITHUB_API";
const APP_DIR: &str = "docker-credential-pat";

/// Where the helper keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// Config and data in one folder, as `DOCKER_PAT_HOME` asks.
    pub fn home(dir: PathBuf) -> Self {
        Self {
            config_dir: dir.clone(),
            data_dir: dir,
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    pub fn index_file(&self) -> PathBuf {
        self.data_dir.join("index.json")
    }
    /// The bucket files of the index (see `index::layout`).
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }
    pub fn usage_file(&self) -> PathBuf {
        self.data_dir.join("usage.json")
    }
    pub fn usage_log(&self) -> PathBuf {
        self.data_dir.join("usage.log")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.data_dir.join("lock")
    }
    pub fn vault_file(&self) -> PathBuf {
        self.data_dir.join("vault")
    }

    /// Checks the folders before anything in them is trusted (see [`fsutil::check_private_dir`]).
    pub fn check_private(&self) -> Result<(), fsutil::FsError> {
        fsutil::check_private_dir(&self.config_dir)?;
        if self.data_dir != self.config_dir {
            fsutil::check_private_dir(&self.data_dir)?;
        }
        Ok(())
    }
}

/// The environment variables the helper reads, captured once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub pat_home: Option<PathBuf>,
    pub integration: Option<String>,
    pub backend: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
    /// Only whether the variable is set; the value is read when the vault needs it.
    pub passphrase_set: bool,
    /// For `vault passwd`: where the new passphrase comes from.
    pub new_passphrase_file: Option<PathBuf>,
    pub new_passphrase_set: bool,
    pub home: Option<PathBuf>,
    /// `BAO_ADDR`, else `VAULT_ADDR`: one URL or a comma-separated list.
    pub bao_addr: Option<String>,
    /// `BAO_CACERT`, else `VAULT_CACERT`.
    pub bao_cacert: Option<PathBuf>,
    /// `BAO_NAMESPACE`, else `VAULT_NAMESPACE`.
    pub bao_namespace: Option<String>,
    /// `DOCKER_PAT_HUB_URL`: where Docker Hub's API is, instead of `hub_url`.
    pub hub_url: Option<String>,
    /// Where podman, buildah and skopeo keep their auth.json.
    pub containers: crate::containers_auth::Places,
    /// `DOCKER_PAT_GITLAB_API`: where every GitLab registry's API is, instead of config.toml.
    pub gitlab_api: Option<String>,
    /// `DOCKER_PAT_GITHUB_API`: where every GitHub registry's API is, instead of config.toml.
    pub github_api: Option<String>,
}

impl Environment {
    pub fn capture() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let text = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(lossy);
        Self {
            pat_home: path(ENV_HOME),
            integration: text(ENV_INTEGRATION),
            backend: text(ENV_BACKEND),
            docker_config: path("DOCKER_CONFIG"),
            passphrase_file: path(ENV_PASSPHRASE_FILE),
            passphrase_set: std::env::var_os(ENV_PASSPHRASE).is_some_and(|v| !v.is_empty()),
            new_passphrase_file: path(ENV_NEW_PASSPHRASE_FILE),
            new_passphrase_set: std::env::var_os(ENV_NEW_PASSPHRASE).is_some_and(|v| !v.is_empty()),
            home: dirs::home_dir(),
            bao_addr: text("BAO_ADDR").or_else(|| text("VAULT_ADDR")),
            bao_cacert: path("BAO_CACERT").or_else(|| path("VAULT_CACERT")),
            bao_namespace: text("BAO_NAMESPACE").or_else(|| text("VAULT_NAMESPACE")),
            hub_url: text(ENV_HUB_URL),
            containers: crate::containers_auth::Places {
                auth_file: path("REGISTRY_AUTH_FILE"),
                runtime_dir: path("XDG_RUNTIME_DIR"),
                config_home: path("XDG_CONFIG_HOME"),
                home: dirs::home_dir(),
            },
            gitlab_api: text(ENV_GITLAB_API),
            github_api: text(ENV_GITHUB_API),
        }
    }

    pub fn paths(&self) -> Result<Paths, ConfigError> {
        if let Some(home) = &self.pat_home {
            return Ok(Paths::home(home.clone()));
        }
        let config = dirs::config_dir().ok_or(ConfigError::NoHome)?;
        let data = dirs::data_dir().ok_or(ConfigError::NoHome)?;
        Ok(Paths {
            config_dir: config.join(APP_DIR),
            data_dir: data.join(APP_DIR),
        })
    }

    /// `$DOCKER_CONFIG`, or `~/.docker`.
    pub fn docker_config_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.docker_config {
            return Ok(dir.clone());
        }
        self.home
            .as_ref()
            .map(|h| h.join(".docker"))
            .ok_or(ConfigError::NoHome)
    }

    /// The integration the protocol verbs act on, if one is chosen.
    pub fn integration(&self) -> Result<Option<crate::names::Integration>, ConfigError> {
        self.integration
            .as_deref()
            .map(crate::names::Integration::parse)
            .transpose()
            .map_err(ConfigError::BadIntegration)
    }

    /// Docker Hub's API URL after the environment has had its say, without a trailing `/`.
    pub fn hub_url(&self, config: &Config) -> Result<String, ConfigError> {
        let url = self.hub_url.as_deref().unwrap_or(&config.hub_url);
        check_hub_url(url)
            .map_err(|message| ConfigError::BadHubUrl(format!("{ENV_HUB_URL} {message}")))?;
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// The backend choice after the environment has had its say.
    pub fn backend_choice(&self, config: &Config) -> Result<BackendChoice, ConfigError> {
        match &self.backend {
            Some(text) => BackendChoice::parse(text)
                .ok_or_else(|| ConfigError::BadBackendVariable(text.clone())),
            None => Ok(config.backend),
        }
    }
}

fn lossy(value: OsString) -> String {
    value.to_string_lossy().into_owned()
}
