//! The `[openbao]` table of config.toml: the team server, as written.
//!
//! What can be checked without the environment is checked here, where
//! config.toml is read, so a bad value names its key and line; the client
//! resolves the table with the `BAO_*` / `VAULT_*` variables
//! (`crate::openbao::settings`).

use std::path::PathBuf;

use serde::Deserialize;

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
    pub(crate) fn list(&self) -> Vec<String> {
        match self {
            Addresses::One(one) => split(one),
            Addresses::Many(many) => many.iter().flat_map(|a| split(a)).collect(),
        }
    }
}

/// A comma-separated list of addresses, each without a trailing `/`.
pub(crate) fn split(text: &str) -> Vec<String> {
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
pub(crate) fn check_path(text: &str, several: bool) -> Result<(), &'static str> {
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

pub(crate) fn check_address(address: &str) -> Result<(), String> {
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
