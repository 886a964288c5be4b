//! Settings: `config.toml` plus the environment, resolved once per run.
//!
//! A broken config file is an error that names the file and line; the helper
//! never falls back to defaults silently, because that could switch off a
//! two-factor rule a person relies on.
//!
//! Config names the types of the rooms it configures (the vault's KDF
//! parameters, the Secret Service session), so it stands above the stores,
//! which are handed plain values and never read config.toml.
//!
//! - this file: config.toml's top-level settings, read, checked and edited;
//! - `env`: the environment variables, and where the helper's files live;
//! - [`openbao`]: the `[openbao]` table;
//! - `select`: the `[[select]]` rules, which choose a token by where the client runs.
//! - [`registries`]: the `[registries."HOST"]` tables, which token API a registry has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::fsutil;
use crate::registry::Registry;
use crate::store::SessionKind;
use crate::store::vault::{KdfParams, kdf};

mod env;
pub mod openbao;
pub mod registries;
mod select;

pub use env::{
    ENV_BACKEND, ENV_GITHUB_API, ENV_GITLAB_API, ENV_HOME, ENV_HUB_URL, ENV_INTEGRATION,
    ENV_NEW_PASSPHRASE, ENV_NEW_PASSPHRASE_FILE, ENV_PASSPHRASE, ENV_PASSPHRASE_FILE, Environment,
    Paths,
};

/// Docker Hub's API, where its access tokens are managed.
pub const DEFAULT_HUB_URL: &str = "https://hub.docker.com";
/// The longest a derived vault key may stay cached: 30 days.
const MAX_CACHE_SECONDS: u32 = 30 * 24 * 3600;
/// The longest time budget a protocol verb may be given: one hour.
const MAX_PROTOCOL_SECONDS: u32 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {path} is invalid at line {line}: {message}; fix it, or run `docker-credential-pat doctor --repair` to set it aside"
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot find your home directory; set {ENV_HOME} to a private directory")]
    NoHome,
    #[error("{ENV_BACKEND} must be auto, keychain, file or openbao, not {0:?}")]
    BadBackendVariable(String),
    #[error("{0}")]
    BadHubUrl(String),
    #[error("{ENV_INTEGRATION}: {0}")]
    BadIntegration(crate::names::NameError),
    #[error(transparent)]
    Write(#[from] fsutil::FsError),
}

/// Where the secrets of new tokens go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The OS keychain when it answers, otherwise the vault file.
    #[default]
    Auto,
    Keychain,
    File,
    /// An OpenBao or HashiCorp Vault server, shared by a team or a fleet.
    #[serde(rename = "openbao")]
    OpenBao,
}

impl BackendChoice {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Self::Auto),
            "keychain" => Some(Self::Keychain),
            "file" => Some(Self::File),
            "openbao" => Some(Self::OpenBao),
            _ => None,
        }
    }
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub backend: BackendChoice,
    pub stale_after_days: u32,
    pub vault_cache_seconds: u32,
    /// Argon2id memory (KiB) for vaults created or re-keyed from now on.
    pub vault_kdf_memory_kib: u32,
    /// Argon2id passes for vaults created or re-keyed from now on.
    pub vault_kdf_iterations: u32,
    pub require_tokens: bool,
    pub allow_uuid_tokens: bool,
    pub keychain_timeout_seconds: u32,
    /// The most a protocol verb (`get`, `store`, `erase`, `list`) may take in all.
    pub protocol_timeout_seconds: u32,
    /// Open vaults whose Argon2 parameters are above `vault_kdf_*` (within the hard bounds).
    pub vault_kdf_allow_higher: bool,
    pub secret_service_session: SessionKind,
    /// Registry → usernames whose accounts have two-factor authentication on.
    pub two_factor: BTreeMap<String, Vec<String>>,
    /// Registry → extra prefixes that mark a secret as a token there.
    pub token_prefixes: BTreeMap<String, Vec<String>>,
    /// How this machine is named in the last uses other machines see; the host name when unset.
    pub machine_name: Option<String>,
    /// The `[openbao]` table: the team server, for `backend = "openbao"`.
    pub openbao: openbao::Settings,
    /// Docker Hub's API (`DOCKER_PAT_HUB_URL` overrides it).
    pub hub_url: String,
    /// Every call to Docker Hub is bounded by this.
    pub hub_timeout_seconds: u32,
    /// How long a `hub login` session is kept in the kernel keyring.
    pub hub_session_seconds: u32,
    /// How much later than every known use Hub may see a use before the audit calls it suspicious.
    pub audit_tolerance_minutes: u32,
    /// `doctor` and `tokens --expiring` warn this many days before a token expires.
    pub warn_expiry_days: u32,
    /// The `[[select]]` tables as written.
    pub(crate) select: Vec<toml::Spanned<select::RuleSpec>>,
    /// The rules they make, checked, in order.
    #[serde(skip)]
    pub rules: Vec<crate::select::Rule>,
    /// Every call to a registry's token API other than Docker Hub's (GitLab) is bounded by this.
    pub registry_timeout_seconds: u32,
    /// How long the credential given to `gitlab login` is kept in the kernel keyring.
    pub gitlab_session_seconds: u32,
    /// Registry → its token API, for registries not known without one.
    pub registries: BTreeMap<String, registries::RegistryApi>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backend: BackendChoice::Auto,
            stale_after_days: 90,
            vault_cache_seconds: 900,
            vault_kdf_memory_kib: kdf::DEFAULT_MEMORY_KIB,
            vault_kdf_iterations: kdf::DEFAULT_ITERATIONS,
            require_tokens: false,
            allow_uuid_tokens: false,
            keychain_timeout_seconds: 10,
            protocol_timeout_seconds: 120,
            vault_kdf_allow_higher: false,
            secret_service_session: SessionKind::Plain,
            two_factor: BTreeMap::new(),
            token_prefixes: BTreeMap::new(),
            machine_name: None,
            openbao: openbao::Settings::default(),
            hub_url: DEFAULT_HUB_URL.to_owned(),
            hub_timeout_seconds: 15,
            hub_session_seconds: 300,
            audit_tolerance_minutes: 10,
            warn_expiry_days: 14,
            select: Vec::new(),
            rules: Vec::new(),
            registry_timeout_seconds: 15,
            gitlab_session_seconds: 8 * 3600,
            registries: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file means defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|(line, message)| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            message,
        })
    }

    /// Parses config text; an error carries the 1-based line and a one-line message.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start)).unwrap_or(1);
            (line, one_line(e.message()))
        })?;
        config.validate(text)
    }

    fn validate(mut self, text: &str) -> Result<Self, (usize, String)> {
        // Rules are compiled only when there are some: `get` reads this file every time.
        if !self.select.is_empty() {
            self.rules = select::rules(&self.select, text)?;
        }
        let line_of_key = |key: &str| {
            text.lines()
                .position(|l| l.contains(key))
                .map(|i| i + 1)
                .unwrap_or(1)
        };
        if !(1..=300).contains(&self.keychain_timeout_seconds) {
            return Err((
                line_of_key("keychain_timeout_seconds"),
                "keychain_timeout_seconds must be 1 to 300".into(),
            ));
        }
        if !(1..=MAX_PROTOCOL_SECONDS).contains(&self.protocol_timeout_seconds) {
            return Err((
                line_of_key("protocol_timeout_seconds"),
                format!("protocol_timeout_seconds must be 1 to {MAX_PROTOCOL_SECONDS}"),
            ));
        }
        if self.vault_cache_seconds > MAX_CACHE_SECONDS {
            return Err((
                line_of_key("vault_cache_seconds"),
                format!("vault_cache_seconds must be 0 to {MAX_CACHE_SECONDS}"),
            ));
        }
        for (key, value, range) in [
            ("hub_timeout_seconds", self.hub_timeout_seconds, 1..=300),
            (
                "hub_session_seconds",
                self.hub_session_seconds,
                1..=MAX_HUB_SESSION_SECONDS,
            ),
            (
                "audit_tolerance_minutes",
                self.audit_tolerance_minutes,
                0..=10_080,
            ),
            ("warn_expiry_days", self.warn_expiry_days, 0..=3650),
            (
                "registry_timeout_seconds",
                self.registry_timeout_seconds,
                1..=300,
            ),
            (
                "gitlab_session_seconds",
                self.gitlab_session_seconds,
                1..=MAX_HUB_SESSION_SECONDS,
            ),
        ] {
            if !range.contains(&value) {
                return Err((
                    line_of_key(key),
                    format!("{key} must be {} to {}", range.start(), range.end()),
                ));
            }
        }
        if let Err(message) = check_hub_url(&self.hub_url) {
            return Err((line_of_key("hub_url"), format!("hub_url {message}")));
        }
        if let Err(message) = self.vault_kdf().check() {
            let key = if message.contains("memory") {
                "vault_kdf_memory_kib"
            } else {
                "vault_kdf_iterations"
            };
            return Err((line_of_key(key), format!("{key}: {message}")));
        }
        if let Err((key, message)) = registries::check(&self.registries) {
            return Err((line_of_key(&key), message));
        }
        if let Err((key, message)) = self.openbao.check() {
            return Err((line_of_key(key), format!("[openbao] {key}: {message}")));
        }
        if let Some(name) = &self.machine_name
            && (name.is_empty() || name.len() > 64 || crate::text::has_control(name))
        {
            return Err((
                line_of_key("machine_name"),
                "machine_name must be 1 to 64 printable characters".into(),
            ));
        }
        for (section, table) in [
            ("two_factor", &self.two_factor),
            ("token_prefixes", &self.token_prefixes),
        ] {
            for key in table.keys() {
                if let Err(e) = Registry::parse(key) {
                    return Err((line_of_key(key), format!("[{section}] key {key:?}: {e}")));
                }
            }
        }
        Ok(self)
    }

    /// The time budget of one protocol verb.
    pub fn protocol_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.protocol_timeout_seconds))
    }

    /// The bound on every call to a registry's token API (GitLab).
    pub fn registry_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.registry_timeout_seconds))
    }

    /// The `[registries]` table for `registry`, if config.toml has one.
    pub fn registry_api(&self, registry: &Registry) -> Option<&registries::RegistryApi> {
        self.registries
            .iter()
            .find(|(key, _)| Registry::parse(key).is_ok_and(|r| &r == registry))
            .map(|(_, table)| table)
    }

    /// The Argon2id parameters for new or re-keyed vaults.
    pub fn vault_kdf(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.vault_kdf_memory_kib,
            iterations: self.vault_kdf_iterations,
            lanes: kdf::DEFAULT_LANES,
        }
    }

    /// True when `username` at `registry` is marked as two-factor protected.
    pub fn two_factor_on(&self, registry: &Registry, username: &str) -> bool {
        self.two_factor.iter().any(|(key, users)| {
            Registry::parse(key).is_ok_and(|r| &r == registry)
                && users.iter().any(|u| u.eq_ignore_ascii_case(username))
        })
    }

    /// Extra token prefixes configured for `registry`.
    pub fn prefixes_for(&self, registry: &Registry) -> impl Iterator<Item = &str> {
        self.token_prefixes
            .iter()
            .filter(move |(key, _)| Registry::parse(key).is_ok_and(|r| &r == registry))
            .flat_map(|(_, prefixes)| prefixes.iter().map(String::as_str))
    }
}

/// The longest a Docker Hub session (or a GitLab login) may be kept: one day.
const MAX_HUB_SESSION_SECONDS: u32 = 24 * 3600;

/// A Hub URL is `http(s)://host[:port]` with nothing after it but an optional `/`.
pub fn check_hub_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with https:// (or http://)"))?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid {
        return Err(format!(
            "{url:?} must be a scheme and host[:port], with no path"
        ));
    }
    crate::http::check_cleartext(url).map_err(|rule| format!("{url:?} is refused: {rule}"))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Applies `change` to config.toml, keeping a person's comments and layout.
///
/// The caller holds the data lock, so two edits cannot interleave.
pub fn edit(
    paths: &Paths,
    change: impl FnOnce(&mut toml_edit::DocumentMut),
) -> Result<(), ConfigError> {
    let path = paths.config_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    // Refuse to rewrite a file we could not read correctly.
    Config::parse(&text).map_err(|(line, message)| ConfigError::Invalid {
        path: path.clone(),
        line,
        message,
    })?;
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.clone(),
                line: e.span().map(|s| line_of(&text, s.start)).unwrap_or(1),
                message: one_line(e.message()),
            })?;
    change(&mut doc);
    let new_text = doc.to_string();
    Config::parse(&new_text).map_err(|(line, message)| ConfigError::Invalid {
        path: path.clone(),
        line,
        message,
    })?;
    fsutil::ensure_private_dir(&paths.config_dir)?;
    fsutil::write_atomic(&path, new_text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_means_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.stale_after_days, 90);
        assert_eq!(config.vault_cache_seconds, 900);
        assert_eq!(config.backend, BackendChoice::Auto);
        assert!(!config.require_tokens);
    }

    #[test]
    fn malformed_config_names_the_line() {
        let (line, message) =
            Config::parse("stale_after_days = 3\nrequire_tokens = maybe\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(!message.contains('\n'));
        let (line, _) = Config::parse("\n\nrequire_token = true\n").unwrap_err();
        assert_eq!(line, 3, "an unknown key is an error, not silently ignored");
    }

    #[test]
    fn two_factor_accounts_match_any_address_form_and_username_case() {
        let config =
            Config::parse("[two_factor]\n\"https://index.docker.io/v1/\" = [\"Alice\"]\n").unwrap();
        assert!(config.two_factor_on(&Registry::DockerHub, "alice"));
        assert!(!config.two_factor_on(&Registry::DockerHub, "bob"));
        assert!(!config.two_factor_on(&Registry::parse("ghcr.io").unwrap(), "alice"));
    }

    /// Any text either parses or names a line that exists, in a one-line message.
    fn check_config(text: &str) {
        if let Err((line, message)) = Config::parse(text) {
            assert!(
                (1..=text.lines().count().max(1) + 1).contains(&line),
                "line {line} of {text:?}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn seed_corpus_keeps_its_verdicts() {
        for (name, bytes) in crate::corpus::inputs("config") {
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue; // Config::load reports non-UTF-8 before parsing
            };
            check_config(text);
            assert_eq!(Config::parse(text).is_ok(), name == "full.toml", "{name}");
        }
        let config = Config::parse(
            &String::from_utf8(
                crate::corpus::inputs("config")
                    .into_iter()
                    .find(|(n, _)| n == "full.toml")
                    .unwrap()
                    .1,
            )
            .unwrap(),
        )
        .unwrap();
        assert!(config.two_factor_on(&Registry::DockerHub, "bob"));
        assert_eq!(config.secret_service_session, SessionKind::Encrypted);
    }

    proptest::proptest! {
        #![proptest_config(crate::corpus::proptest_config())]
        #[test]
        fn any_text_parses_or_names_a_line(text in proptest::prelude::any::<String>()) {
            check_config(&text);
        }

        #[test]
        fn toml_like_text_parses_or_names_a_line(
            text in r#"([a-z_]{1,24} = ("[a-z:/.@]{0,12}"|[0-9-]{1,12}|true|false|\[[^\n]{0,12}\]|\{[^\n]{0,12}\})\n|\[[a-z_"./]{0,16}\]\n|#[^\n]{0,10}\n){0,8}"#
        ) {
            check_config(&text);
        }

        #[test]
        fn valid_settings_are_read_back(
            stale in proptest::prelude::any::<u32>(),
            cache in 0u32..=MAX_CACHE_SECONDS,
            timeout in 1u32..=300,
            require in proptest::prelude::any::<bool>(),
            user in "[A-Za-z0-9._-]{1,20}",
        ) {
            let text = format!(
                "stale_after_days = {stale}\nvault_cache_seconds = {cache}\nkeychain_timeout_seconds = {timeout}\nrequire_tokens = {require}\n[two_factor]\n\"ghcr.io\" = [\"{user}\"]\n"
            );
            let config = Config::parse(&text).unwrap();
            proptest::prop_assert_eq!(config.stale_after_days, stale);
            proptest::prop_assert_eq!(config.vault_cache_seconds, cache);
            proptest::prop_assert_eq!(config.keychain_timeout_seconds, timeout);
            proptest::prop_assert_eq!(config.require_tokens, require);
            proptest::prop_assert!(config.two_factor_on(&Registry::parse("GHCR.io").unwrap(), &user.to_uppercase()));
        }
    }

    #[test]
    fn vault_settings_are_validated_with_their_line() {
        let config =
            Config::parse("vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\n").unwrap();
        assert_eq!(config.vault_kdf().memory_kib, 64);
        let defaults = Config::parse("").unwrap().vault_kdf();
        assert!(defaults.memory_kib >= 19456 && defaults.iterations >= 2);
        let (line, message) =
            Config::parse("stale_after_days = 3\nvault_kdf_memory_kib = 4\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("vault_kdf_memory_kib"), "{message}");
        let (line, message) = Config::parse("vault_kdf_iterations = 0\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(message.contains("vault_kdf_iterations"), "{message}");
        assert!(Config::parse("vault_cache_seconds = 99999999\n").is_err());
        assert!(Config::parse("vault_cache_seconds = 0\n").is_ok());
    }

    #[test]
    fn hub_settings_are_validated_with_their_line() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.hub_url, "https://hub.docker.com");
        assert_eq!(
            (
                config.hub_timeout_seconds,
                config.hub_session_seconds,
                config.audit_tolerance_minutes,
                config.warn_expiry_days
            ),
            (15, 300, 10, 14)
        );
        let config =
            Config::parse("hub_url = \"http://127.0.0.1:8080/\"\nwarn_expiry_days = 0\n").unwrap();
        assert_eq!(config.hub_url, "http://127.0.0.1:8080/");
        for (text, key) in [
            (
                "stale_after_days = 1\nhub_timeout_seconds = 0\n",
                "hub_timeout_seconds",
            ),
            (
                "stale_after_days = 1\nhub_session_seconds = 0\n",
                "hub_session_seconds",
            ),
            (
                "stale_after_days = 1\naudit_tolerance_minutes = 99999\n",
                "audit_tolerance_minutes",
            ),
            (
                "stale_after_days = 1\nwarn_expiry_days = 4000\n",
                "warn_expiry_days",
            ),
            ("stale_after_days = 1\nhub_url = \"ftp://hub\"\n", "hub_url"),
            (
                "stale_after_days = 1\nhub_url = \"https://hub/v2\"\n",
                "hub_url",
            ),
        ] {
            let (line, message) = Config::parse(text).unwrap_err();
            assert_eq!(line, 2, "{text}");
            assert!(message.starts_with(key), "{message}");
        }
        let env = Environment {
            hub_url: Some("http://127.0.0.1:9/".into()),
            ..Environment::default()
        };
        assert_eq!(env.hub_url(&config).unwrap(), "http://127.0.0.1:9");
        let env = Environment {
            hub_url: Some("hub.example".into()),
            ..Environment::default()
        };
        assert!(
            env.hub_url(&config)
                .unwrap_err()
                .to_string()
                .contains(ENV_HUB_URL)
        );
    }

    #[test]
    fn bad_registry_key_is_reported() {
        let (line, message) = Config::parse("[two_factor]\n\"a b\" = [\"x\"]\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("two_factor"));
    }
}
