//! Pure rules: what counts as a token, when a password is refused, when a token is stale.
//!
//! Nothing here prints, logs or keeps a secret; it only looks at its shape.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::registry::Registry;

/// What a stored secret is, decided when it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    Token,
    Password,
}

/// The username Docker uses when the secret is an identity (OAuth refresh) token.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

const HUB_PAT_PREFIX: &str = "dckr_pat_";
const HUB_OAT_PREFIX: &str = "dckr_oat_";
const GITHUB_HOSTS: [&str; 2] = ["ghcr.io", "docker.pkg.github.com"];
const GITHUB_PREFIXES: [&str; 2] = ["ghp_", "github_pat_"];
const GITLAB_HOSTS: [&str; 1] = ["registry.gitlab.com"];
const GITLAB_PREFIXES: [&str; 1] = ["glpat-"];
/// Shortest body after a configured or built-in prefix that still looks like a token.
const MIN_PREFIXED_BODY: usize = 8;

fn token_alphabet(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Decides whether `secret` is a token or a password for this account.
pub fn classify(registry: &Registry, username: &str, secret: &str, config: &Config) -> SecretKind {
    let is_token = username == IDENTITY_TOKEN_USERNAME
        || matches!(
            registry,
            Registry::HubAccessToken | Registry::HubRefreshToken
        )
        || is_hub_token(secret)
        || (config.allow_uuid_tokens && registry.is_docker_hub() && is_uuid(secret))
        || built_in_prefixes(registry).any(|p| has_prefix_token(secret, p))
        || config
            .prefixes_for(registry)
            .any(|p| has_prefix_token(secret, p));
    if is_token {
        SecretKind::Token
    } else {
        SecretKind::Password
    }
}

/// `dckr_pat_` + 27–32 characters, or `dckr_oat_` + 27–64, all from `[A-Za-z0-9_-]`.
fn is_hub_token(secret: &str) -> bool {
    let body_ok = |body: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&body.len()) && token_alphabet(body)
    };
    secret
        .strip_prefix(HUB_PAT_PREFIX)
        .is_some_and(|body| body_ok(body, 27..=32))
        || secret
            .strip_prefix(HUB_OAT_PREFIX)
            .is_some_and(|body| body_ok(body, 27..=64))
}

fn has_prefix_token(secret: &str, prefix: &str) -> bool {
    !prefix.is_empty()
        && secret
            .strip_prefix(prefix)
            .is_some_and(|body| body.len() >= MIN_PREFIXED_BODY && token_alphabet(body))
}

fn built_in_prefixes(registry: &Registry) -> impl Iterator<Item = &'static str> {
    let key = registry.key();
    let github = GITHUB_HOSTS
        .contains(&key)
        .then_some(GITHUB_PREFIXES.as_slice());
    let gitlab = GITLAB_HOSTS
        .contains(&key)
        .then_some(GITLAB_PREFIXES.as_slice());
    github.into_iter().chain(gitlab).flatten().copied()
}

/// The UUID shape, 8-4-4-4-12 hex digits: very old Docker Hub tokens, and
/// the ids Docker Hub gives its tokens.
pub(crate) fn is_uuid(secret: &str) -> bool {
    let groups: Vec<&str> = secret.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a store was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to store a password for {username} at {registry}: two-factor authentication is on for this account; log in with a personal access token instead (Docker Hub: Account Settings > Security > New Access Token)"
)]
pub struct PasswordRefused {
    pub username: String,
    pub registry: String,
}

/// True when only tokens may be stored for this account.
pub fn tokens_required(registry: &Registry, username: &str, config: &Config) -> bool {
    config.require_tokens || config.two_factor_on(registry, username)
}

/// The two-factor rule: a password is refused where tokens are required.
pub fn check_store(
    registry: &Registry,
    username: &str,
    kind: SecretKind,
    config: &Config,
) -> Result<(), PasswordRefused> {
    if kind == SecretKind::Password && tokens_required(registry, username, config) {
        return Err(PasswordRefused {
            username: crate::text::printable(username, 256),
            registry: registry.key().to_owned(),
        });
    }
    Ok(())
}

/// True when a token has not been used for more than `days` (or never, and is that old).
pub fn is_stale(
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    days: u32,
    now: DateTime<Utc>,
) -> bool {
    let since = last_used_at.unwrap_or(created_at);
    now - since > Duration::days(i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(secret: &str) -> SecretKind {
        classify(&Registry::DockerHub, "alice", secret, &Config::default())
    }

    #[test]
    fn token_recognition_table() {
        let pat27 = format!("dckr_pat_{}", "a".repeat(27));
        let pat32 = format!("dckr_pat_{}", "A1_-".repeat(8));
        let cases: Vec<(String, SecretKind)> = vec![
            (pat27.clone(), SecretKind::Token),
            (pat32, SecretKind::Token),
            ("dckr_pat_".into(), SecretKind::Password), // prefix only
            (format!("dckr_pat_{}", "a".repeat(26)), SecretKind::Password), // too short
            (format!("dckr_pat_{}", "a".repeat(33)), SecretKind::Password), // too long
            (
                format!("dckr_pat_{}!", "a".repeat(27)),
                SecretKind::Password,
            ), // wrong character
            (
                format!("dckr_pat_{} ", "a".repeat(27)),
                SecretKind::Password,
            ), // trailing space
            (format!("DCKR_PAT_{}", "a".repeat(27)), SecretKind::Password), // prefix is case-sensitive
            (format!("dckr_oat_{}", "b".repeat(40)), SecretKind::Token),
            ("dckr_oat_".into(), SecretKind::Password),
            ("hunter2".into(), SecretKind::Password),
            ("".into(), SecretKind::Password),
            (
                "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
                SecretKind::Password,
            ), // UUID not allowed by default
            (format!("ghp_{}", "x".repeat(36)), SecretKind::Password), // GitHub prefix is not a Hub token
        ];
        for (secret, expected) in cases {
            assert_eq!(hub(&secret), expected, "{secret:?}");
        }
    }

    #[test]
    fn uuid_counts_only_when_allowed_and_only_on_hub() {
        let config = Config {
            allow_uuid_tokens: true,
            ..Config::default()
        };
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            classify(&Registry::DockerHub, "a", uuid, &config),
            SecretKind::Token
        );
        assert_eq!(
            classify(
                &Registry::DockerHub,
                "a",
                "0f8fad5b-d9cb-469f-a165-70867728950",
                &config
            ),
            SecretKind::Password
        );
        assert_eq!(
            classify(
                &Registry::DockerHub,
                "a",
                "0f8fad5bd9cb469fa16570867728950e",
                &config
            ),
            SecretKind::Password
        );
        let ghcr = Registry::parse("ghcr.io").unwrap();
        assert_eq!(classify(&ghcr, "a", uuid, &config), SecretKind::Password);
    }

    #[test]
    fn identity_tokens_and_web_login_entries_are_tokens() {
        let config = Config::default();
        assert_eq!(
            classify(
                &Registry::DockerHub,
                IDENTITY_TOKEN_USERNAME,
                "anything",
                &config
            ),
            SecretKind::Token
        );
        assert_eq!(
            classify(&Registry::HubAccessToken, "alice", "eyJhbGciOi", &config),
            SecretKind::Token
        );
        assert_eq!(
            classify(&Registry::HubRefreshToken, "alice", "x", &config),
            SecretKind::Token
        );
    }

    #[test]
    fn built_in_and_configured_prefixes_apply_per_registry() {
        let config = Config::default();
        let ghcr = Registry::parse("ghcr.io").unwrap();
        let gitlab = Registry::parse("registry.gitlab.com").unwrap();
        let other = Registry::parse("registry.example.com").unwrap();
        assert_eq!(
            classify(&ghcr, "a", &format!("ghp_{}", "x".repeat(36)), &config),
            SecretKind::Token
        );
        assert_eq!(
            classify(
                &ghcr,
                "a",
                &format!("github_pat_{}", "x".repeat(60)),
                &config
            ),
            SecretKind::Token
        );
        assert_eq!(classify(&ghcr, "a", "ghp_", &config), SecretKind::Password);
        assert_eq!(
            classify(&gitlab, "a", &format!("glpat-{}", "x".repeat(20)), &config),
            SecretKind::Token
        );
        assert_eq!(
            classify(&other, "a", &format!("glpat-{}", "x".repeat(20)), &config),
            SecretKind::Password
        );
        let config =
            Config::parse("[token_prefixes]\n\"registry.example.com\" = [\"rex_\"]\n").unwrap();
        assert_eq!(
            classify(&other, "a", &format!("rex_{}", "x".repeat(20)), &config),
            SecretKind::Token
        );
        assert_eq!(
            classify(&other, "a", "rex_short", &config),
            SecretKind::Password
        );
    }

    #[test]
    fn password_is_refused_only_where_tokens_are_required() {
        let config = Config::parse("[two_factor]\n\"docker.io\" = [\"alice\"]\n").unwrap();
        let refused =
            check_store(&Registry::DockerHub, "alice", SecretKind::Password, &config).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "refusing to store a password for alice at docker.io: two-factor authentication is on for this account; log in with a personal access token instead (Docker Hub: Account Settings > Security > New Access Token)"
        );
        assert!(check_store(&Registry::DockerHub, "alice", SecretKind::Token, &config).is_ok());
        assert!(check_store(&Registry::DockerHub, "bob", SecretKind::Password, &config).is_ok());
        let global = Config {
            require_tokens: true,
            ..Config::default()
        };
        assert!(
            check_store(
                &Registry::parse("ghcr.io").unwrap(),
                "bob",
                SecretKind::Password,
                &global
            )
            .is_err()
        );
    }

    #[test]
    fn staleness_counts_from_last_use_or_creation() {
        let now = Utc::now();
        let old = now - Duration::days(100);
        assert!(is_stale(old, None, 90, now));
        assert!(!is_stale(old, Some(now - Duration::days(5)), 90, now));
        assert!(is_stale(old, Some(now - Duration::days(91)), 90, now));
        assert!(!is_stale(now - Duration::days(10), None, 90, now));
    }
}
