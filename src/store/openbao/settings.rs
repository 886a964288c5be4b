//! The `[openbao]` table of config.toml, and the environment variables that
//! override it, resolved into what the client uses.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::OpenBaoError;
use crate::config::Environment;

/// How the helper logs in to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A client token from `BAO_TOKEN`, `VAULT_TOKEN` or `token_file`.
    #[default]
    Token,
    /// A role id and a secret id, for machines (CI runners, deploy hosts).
    AppRole,
    /// An OIDC id token from the CI system (GitHub Actions, GitLab CI).
    Jwt,
}

impl AuthMethod {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::AppRole => "approle",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// One URL or several, as config.toml may give them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Addresses {
    One(String),
    Many(Vec<String>),
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses::Many(Vec::new())
    }
}

impl Addresses {
    fn list(&self) -> Vec<String> {
        match self {
            Addresses::One(one) => split(one),
            Addresses::Many(many) => many.iter().flat_map(|a| split(a)).collect(),
        }
    }
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(|a| a.trim().trim_end_matches('/').to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The `[openbao]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub address: Addresses,
    /// A KV version 2 mount.
    pub mount: String,
    pub prefix: String,
    pub ca_file: Option<PathBuf>,
    pub namespace: Option<String>,
    pub timeout_seconds: u32,
    pub auth: AuthMethod,
    pub token_file: Option<PathBuf>,
    pub role_id: Option<String>,
    pub secret_id_file: Option<PathBuf>,
    pub approle_mount: String,
    pub role: Option<String>,
    pub jwt_file: Option<PathBuf>,
    pub jwt_mount: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            address: Addresses::default(),
            mount: "secret".into(),
            prefix: "docker-credential-pat".into(),
            ca_file: None,
            namespace: None,
            timeout_seconds: 5,
            auth: AuthMethod::Token,
            token_file: None,
            role_id: None,
            secret_id_file: None,
            approle_mount: "approle".into(),
            role: None,
            jwt_file: None,
            jwt_mount: "jwt".into(),
        }
    }
}

/// A path segment (or several, for `prefix`) that goes into URLs as it is.
fn check_path(text: &str, several: bool) -> Result<(), &'static str> {
    let ok = !text.is_empty()
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        && (several || !text.contains('/'));
    if ok {
        Ok(())
    } else if several {
        Err("use segments of A-Z, a-z, 0-9, '.', '_' and '-', separated by '/'")
    } else {
        Err("use A-Z, a-z, 0-9, '.', '_' and '-'")
    }
}

impl Settings {
    /// Checks what can be checked without the environment; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=300).contains(&self.timeout_seconds) {
            return Err(("timeout_seconds", "must be 1 to 300".into()));
        }
        for address in self.address.list() {
            check_address(&address).map_err(|m| ("address", m))?;
        }
        for (key, value, several) in [
            ("mount", &self.mount, false),
            ("prefix", &self.prefix, true),
            ("approle_mount", &self.approle_mount, false),
            ("jwt_mount", &self.jwt_mount, false),
        ] {
            check_path(value, several).map_err(|m| (key, m.to_owned()))?;
        }
        if let Some(namespace) = &self.namespace {
            check_path(namespace, true).map_err(|m| ("namespace", m.to_owned()))?;
        }
        Ok(())
    }
}

fn check_address(address: &str) -> Result<(), String> {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .ok_or_else(|| format!("{address:?} must start with https:// or http://"))?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || rest.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(format!(
            "{address:?} must be a server address such as https://bao.example:8200"
        ));
    }
    crate::http::check_cleartext(address).map_err(|rule| format!("{address:?} is refused: {rule}"))
}

/// The variable `BAO_ADDR` was read from (`VAULT_ADDR` stands in when it is unset).
fn addr_variable() -> &'static str {
    if std::env::var_os("BAO_ADDR").is_none_or(|v| v.is_empty())
        && std::env::var_os("VAULT_ADDR").is_some_and(|v| !v.is_empty())
    {
        "VAULT_ADDR"
    } else {
        "BAO_ADDR"
    }
}

/// Where the login comes from, resolved.
#[derive(Debug, Clone)]
pub(crate) enum Login {
    /// `BAO_TOKEN` / `VAULT_TOKEN` (read when needed), else this file.
    Token { file: PathBuf },
    AppRole {
        mount: String,
        role_id: String,
        secret_id_file: PathBuf,
    },
    Jwt {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

impl Login {
    pub(crate) fn method(&self) -> AuthMethod {
        match self {
            Login::Token { .. } => AuthMethod::Token,
            Login::AppRole { .. } => AuthMethod::AppRole,
            Login::Jwt { .. } => AuthMethod::Jwt,
        }
    }
}

/// The settings after the environment has had its say.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) addresses: Vec<String>,
    pub(crate) mount: String,
    pub(crate) prefix: String,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) namespace: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) login: Login,
}

impl Resolved {
    pub(crate) fn new(settings: &Settings, env: &Environment) -> Result<Self, OpenBaoError> {
        let addresses = match &env.bao_addr {
            Some(text) => {
                let list = split(text);
                for address in &list {
                    check_address(address)
                        .map_err(|m| OpenBaoError::Setup(format!("{}: {m}", addr_variable())))?;
                }
                list
            }
            None => settings.address.list(),
        };
        if addresses.is_empty() {
            return Err(OpenBaoError::Setup(
                "backend \"openbao\" needs a server: set address in the [openbao] table of config.toml, or BAO_ADDR".into(),
            ));
        }
        let missing = |key: &str| {
            OpenBaoError::Setup(format!(
                "auth = \"{}\" needs {key} in the [openbao] table of config.toml",
                settings.auth.name()
            ))
        };
        let login = match settings.auth {
            AuthMethod::Token => Login::Token {
                file: match &settings.token_file {
                    Some(file) => file.clone(),
                    None => env
                        .home
                        .as_ref()
                        .map(|h| h.join(".vault-token"))
                        .ok_or_else(|| missing("token_file"))?,
                },
            },
            AuthMethod::AppRole => Login::AppRole {
                mount: settings.approle_mount.clone(),
                role_id: settings.role_id.clone().ok_or_else(|| missing("role_id"))?,
                secret_id_file: settings
                    .secret_id_file
                    .clone()
                    .ok_or_else(|| missing("secret_id_file"))?,
            },
            AuthMethod::Jwt => Login::Jwt {
                mount: settings.jwt_mount.clone(),
                role: settings.role.clone().ok_or_else(|| missing("role"))?,
                jwt_file: settings
                    .jwt_file
                    .clone()
                    .ok_or_else(|| missing("jwt_file"))?,
            },
        };
        let namespace = env
            .bao_namespace
            .clone()
            .or_else(|| settings.namespace.clone());
        if let Some(namespace) = &namespace {
            check_path(namespace, true)
                .map_err(|m| OpenBaoError::Setup(format!("BAO_NAMESPACE: {m}")))?;
        }
        Ok(Self {
            addresses,
            mount: settings.mount.clone(),
            prefix: settings.prefix.clone(),
            ca_file: env.bao_cacert.clone().or_else(|| settings.ca_file.clone()),
            namespace,
            timeout: Duration::from_secs(u64::from(settings.timeout_seconds)),
            login,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn one_address_or_several_and_the_environment_wins() {
        let config = Config::parse(
            "backend = \"openbao\"\n[openbao]\naddress = [\"https://a:8200\", \"https://b:8200/\"]\nauth = \"approle\"\nrole_id = \"r\"\nsecret_id_file = \"/s\"\n",
        )
        .unwrap();
        let resolved = Resolved::new(&config.openbao, &Environment::default()).unwrap();
        assert_eq!(resolved.addresses, ["https://a:8200", "https://b:8200"]);
        assert_eq!(resolved.login.method(), AuthMethod::AppRole);
        let env = Environment {
            bao_addr: Some("http://127.0.0.1:1, http://127.0.0.1:2".into()),
            ..Environment::default()
        };
        let resolved = Resolved::new(&config.openbao, &env).unwrap();
        assert_eq!(
            resolved.addresses,
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
        let one = Config::parse("[openbao]\naddress = \"https://x:1\"\n").unwrap();
        assert_eq!(one.openbao.address.list(), ["https://x:1"]);
    }

    #[test]
    fn bad_settings_name_their_key_and_line() {
        let (line, message) =
            Config::parse("[openbao]\nmount = \"secret\"\ntimeout_seconds = 0\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("timeout_seconds"), "{message}");
        let (_, message) = Config::parse("[openbao]\naddress = \"bao:8200\"\n").unwrap_err();
        assert!(message.contains("https://"), "{message}");
        assert!(Config::parse("[openbao]\nprefix = \"a/../b\"\n").is_err());
        assert!(Config::parse("[openbao]\nprefix = \"teams/docker\"\n").is_ok());
        let config =
            Config::parse("[openbao]\nauth = \"jwt\"\naddress = \"https://x:1\"\n").unwrap();
        let error = Resolved::new(&config.openbao, &Environment::default()).unwrap_err();
        assert!(error.to_string().contains("role"), "{error}");
        let error = Resolved::new(&Config::default().openbao, &Environment::default()).unwrap_err();
        assert!(error.to_string().contains("BAO_ADDR"), "{error}");
    }

    #[test]
    fn plain_http_is_refused_unless_the_server_is_on_loopback() {
        for address in [
            "http://127.0.0.1:8200",
            "http://127.9.0.1:8200",
            "http://[::1]:8200",
            "http://localhost:8200",
        ] {
            let text = format!("[openbao]\naddress = \"{address}\"\n");
            assert!(Config::parse(&text).is_ok(), "{address}");
        }
        for address in [
            "http://bao.example:8200",
            "http://10.0.0.5:8200",
            "http://[fd00::1]:8200",
            "http://127.0.0.1.nip.io:8200",
        ] {
            let text = format!("[openbao]\naddress = [\"https://a:1\", \"{address}\"]\n");
            let (line, message) = Config::parse(&text).unwrap_err();
            assert_eq!(line, 2);
            assert!(
                message.contains("address")
                    && message.contains(address)
                    && message.contains("loopback"),
                "{message}"
            );
            assert_eq!(message.lines().count(), 1);
        }
        let env = Environment {
            bao_addr: Some("https://a:1,http://bao.example:8200".into()),
            ..Environment::default()
        };
        let config = Config::parse("[openbao]\naddress = \"https://a:1\"\n").unwrap();
        let error = Resolved::new(&config.openbao, &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("BAO_ADDR: ") && error.contains("loopback"),
            "{error}"
        );
    }
}
