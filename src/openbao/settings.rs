//! The `[openbao]` table of config.toml, and the environment variables that
//! override it, resolved into what the client uses.
//!
//! The table itself, and the checks that need no environment, are
//! config.toml's ([`crate::config::openbao`]).

use std::path::PathBuf;
use std::time::Duration;

use super::OpenBaoError;
use crate::config::Environment;
use crate::config::openbao::{AuthMethod, Settings, check_address, check_path, split};

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
