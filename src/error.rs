//! The error of the operations, shared by the service and the ledgers below it.
//!
//! It lives here, under both, so that a ledger can say "not found" or "the
//! secret is missing" without reaching up into the service that calls it.
//! The protocol matches on [`ServiceError::NotFound`]; every other variant
//! becomes one line saying what went wrong and what to do.

use crate::config::ConfigError;
use crate::fsutil::FsError;
use crate::index::IndexError;
use crate::names::NameError;
use crate::openbao::OpenBaoError;
use crate::policy::PasswordRefused;
use crate::registry::AddressError;
use crate::store::StoreError;

/// The exact text the Docker CLI recognises as "nothing stored".
pub const NOT_FOUND: &str = "credentials not found in native keychain";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{NOT_FOUND}")]
    NotFound,
    /// The index names a token whose secret is not in its store.
    #[error("{NOT_FOUND}")]
    SecretMissing,
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
    Server(#[from] OpenBaoError),
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
