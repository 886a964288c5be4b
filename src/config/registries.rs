//! The `[registries."HOST"]` tables of config.toml: which token API a
//! registry has, and where it is.
//!
//! ```toml
//! [registries."gitlab.example.com"]
//! kind = "gitlab"
//! api = "https://gitlab.example.com/api/v4"
//! ```
//!
//! Docker Hub, `registry.gitlab.com` and `ghcr.io` are known without a
//! table (`crate::remote::endpoint`). What can be checked here is, so a bad
//! value names its key and line.

use serde::Deserialize;

use crate::registry::Registry;

/// The kinds of token API the helper speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    Gitlab,
    /// GitHub (Enterprise): `api = "https://HOST/api/v3"`.
    Github,
}

impl ApiKind {
    pub fn word(self) -> &'static str {
        match self {
            ApiKind::Gitlab => "gitlab",
            ApiKind::Github => "github",
        }
    }
}

/// One `[registries."HOST"]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryApi {
    pub kind: ApiKind,
    /// The API's base URL (GitLab: `https://HOST/api/v4`).
    pub api: String,
}

/// The longest an API address may be.
const MAX_URL: usize = 2048;

/// An API base URL: `https://host[:port]/path`, plain http only to loopback.
pub fn check_api_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let valid = url.len() <= MAX_URL
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        && !url.contains(['?', '#', ' '])
        && !crate::text::has_control(url);
    if !valid {
        return Err(format!(
            "{:?} must be https://HOST[:PORT]/PATH, with no query",
            crate::text::printable(url, 200)
        ));
    }
    crate::http::check_cleartext(url).map_err(|rule| format!("{url:?} is refused: {rule}"))
}

/// Checks every table: its key a registry address, its API address a URL.
/// `Err` is the key to find the line by, and the message.
pub(super) fn check(
    tables: &std::collections::BTreeMap<String, RegistryApi>,
) -> Result<(), (String, String)> {
    for (key, table) in tables {
        if let Err(e) = Registry::parse(key) {
            return Err((key.clone(), format!("[registries] key {key:?}: {e}")));
        }
        if let Err(message) = check_api_url(&table.api) {
            return Err((
                table.api.clone(),
                format!("[registries.{key:?}] api {message}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_addresses_are_https_or_loopback_with_a_path() {
        assert!(check_api_url("https://gitlab.example.com/api/v4").is_ok());
        assert!(check_api_url("http://127.0.0.1:8080/api/v4").is_ok());
        assert!(
            check_api_url("http://gitlab.example.com/api/v4")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(check_api_url("gitlab.example.com").is_err());
        assert!(check_api_url("https://x/api?private_token=1").is_err());
        assert!(check_api_url("https://user@x/api").is_err());
    }
}
