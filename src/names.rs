//! Token names: `INTEGRATION@REGISTRY`, as people type them on the command line.

use std::fmt;

use crate::registry::{AddressError, Registry};

/// The integration a token belongs to (`ci`, `laptop`, `deploy-bot`…).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Integration(String);

/// The integration `store` creates when a registry has no token yet.
pub const DEFAULT_INTEGRATION: &str = "default";
const MAX_INTEGRATION_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "invalid integration name {0:?}: use 1 to {MAX_INTEGRATION_LEN} characters from A-Z, a-z, 0-9, '.', '_' and '-'"
    )]
    Integration(String),
    #[error("invalid token name {0:?}: write it as INTEGRATION@REGISTRY, for example ci@docker.io")]
    Token(String),
    #[error("invalid registry in {name:?}: {source}")]
    Registry { name: String, source: AddressError },
}

impl Integration {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let valid = (1..=MAX_INTEGRATION_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(NameError::Integration(crate::text::printable(name, 80)))
        }
    }

    pub fn default_name() -> Self {
        Self(DEFAULT_INTEGRATION.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token's full name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenName {
    pub integration: Integration,
    pub registry: Registry,
}

impl TokenName {
    pub fn new(integration: Integration, registry: Registry) -> Self {
        Self {
            integration,
            registry,
        }
    }

    /// Parses `INTEGRATION@REGISTRY`; the registry may be written in any address form.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let shown = || crate::text::printable(text, 80);
        let (integration, registry) = text
            .split_once('@')
            .ok_or_else(|| NameError::Token(shown()))?;
        let integration = Integration::parse(integration)?;
        let registry = Registry::parse(registry).map_err(|source| NameError::Registry {
            name: shown(),
            source,
        })?;
        Ok(Self {
            integration,
            registry,
        })
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.integration, self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_names_follow_the_documented_alphabet() {
        for ok in ["ci", "laptop", "deploy-bot", "a.b_c-1", &"x".repeat(64)] {
            assert!(Integration::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "ci@x", "tab\t", "ü", &"x".repeat(65)] {
            assert!(Integration::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_names_accept_any_address_form() {
        let name = TokenName::parse("ci@https://index.docker.io/v1/").unwrap();
        assert_eq!(name.to_string(), "ci@docker.io");
        let name = TokenName::parse("default@127.0.0.1:5000").unwrap();
        assert_eq!(name.to_string(), "default@127.0.0.1:5000");
        assert!(matches!(TokenName::parse("ci"), Err(NameError::Token(_))));
        assert!(matches!(
            TokenName::parse("c i@docker.io"),
            Err(NameError::Integration(_))
        ));
        assert!(matches!(
            TokenName::parse("ci@"),
            Err(NameError::Registry { .. })
        ));
    }
}
