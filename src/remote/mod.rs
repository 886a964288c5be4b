//! Registries' own token APIs: where tokens are born, listed and revoked.
//!
//! One trait for them all ([`api::TokenApi`]: list, read, create, rotate,
//! (de)activate, revoke, verify, with the [`api::Capabilities`] each has),
//! and below it the shared pieces every registry's room uses:
//!
//! - [`api`]: the trait and the vocabulary of remote token facts;
//! - [`endpoint`]: which API a registry has and where (config.toml's
//!   `[registries]`, the environment, and the registries known without it);
//! - [`session`]: a management credential kept in the kernel keyring only;
//! - [`audit`]: the rule that spots a use nobody here made, said in words;
//! - [`view`]: what a registry said of each stored token, kept on its record
//!   so `tokens` shows it without a call;
//! - [`wire`]: JSON in wiped buffers, secrets read into `Secret`s, a
//!   registry's words on one line, pages followed on one server only.
//!
//! Each registry with such an API is a room of its own, a client plus the
//! rules of a token's lifecycle there: [`hub`] (Docker Hub's personal
//! tokens; `hub::api` puts them behind the trait), [`gitlab`] and [`github`].
//!
//! Nothing here prints or prompts: each room returns typed errors, and the
//! commands (`crate::commands`) turn them into one line saying what is true
//! now and what to do.

pub(crate) mod api;
pub(crate) mod audit;
pub(crate) mod endpoint;
pub(crate) mod github;
pub(crate) mod gitlab;
pub(crate) mod hub;
pub(crate) mod session;
pub(crate) mod view;
pub(crate) mod wire;

use chrono::{DateTime, Utc};

use crate::error::ServiceError;
use crate::http::HttpError;
use crate::index::TokenRecord;
use crate::ledger::Edit;
use crate::names::TokenName;
use crate::registry::Registry;
use crate::service::Service;

/// What went wrong talking to a registry's token API. Messages never quote
/// a body (it may hold a token); the commands add the registry's name and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    #[error("{0}")]
    Http(#[from] HttpError),
    /// No management credential is kept for this registry.
    #[error("not logged in")]
    NoLogin,
    /// The registry refused the credential presented (expired, revoked, or not allowed).
    #[error("the credential was refused ({what})")]
    Unauthorized { what: &'static str },
    #[error("the rate limit was reached")]
    RateLimited { retry_at: Option<DateTime<Utc>> },
    /// 400, 403 or 404, with the registry's own explanation.
    #[error("refused to {what}: {detail}")]
    Refused {
        status: u16,
        what: &'static str,
        detail: String,
    },
    #[error("answered the request to {what} with status {status}")]
    Unexpected { status: u16, what: &'static str },
    #[error("the answer to the request to {what} is not in the documented form")]
    BadBody { what: &'static str },
    #[error("a page of the listing points at {url}, outside {base}; it was not followed")]
    ForeignPage { url: String, base: String },
    #[error("{api} cannot {verb}")]
    Unsupported { api: String, verb: &'static str },
    /// A change whose outcome is not known; the text says what is and is not.
    #[error("{0}")]
    Unsure(String),
    #[error("{0}")]
    Keyring(#[from] crate::kernel_keyring::KeyringError),
    #[error("this system has no kernel keyring to keep a login in (it is never written to disk)")]
    NoKeyring,
}

impl RemoteError {
    /// True when the registry said the thing asked for is not there.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::Refused { status: 404, .. })
    }

    /// True when the request may have reached the registry and acted
    /// although no answer says so (a timeout after sending, a reset, a 5xx,
    /// an answer in no documented form).
    pub(crate) fn may_have_acted(&self) -> bool {
        match self {
            RemoteError::Http(e) => !e.nothing_sent(),
            RemoteError::Unexpected { status, .. } => *status >= 500,
            RemoteError::BadBody { .. } => true,
            _ => false,
        }
    }
}

/// What an operation acting on a registry and on the stored token together
/// (GitLab's, GitHub's) can come to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManageError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Local(#[from] ServiceError),
    #[error("{0}")]
    Invalid(String),
}

/// A stored token of `registry` and its record, read at once.
pub(crate) fn stored(
    service: &Service,
    registry: &Registry,
    text: &str,
) -> Result<(TokenName, TokenRecord), ManageError> {
    let mut edit = service.ledger()?.begin()?;
    stored_in(service, &mut *edit, registry, text)
}

fn stored_in(
    service: &Service,
    edit: &mut dyn Edit,
    registry: &Registry,
    text: &str,
) -> Result<(TokenName, TokenRecord), ManageError> {
    let name = service.resolve(edit, text)?;
    check_registry(&name, registry)?;
    let record = edit
        .token(&name)?
        .ok_or_else(|| ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: Vec::new(),
        })?;
    Ok((name, record))
}

/// A stored token of `registry`, its record and its secret, read at once
/// (on a team server, in one request).
pub(crate) fn stored_with_secret(
    service: &Service,
    registry: &Registry,
    text: &str,
) -> Result<(TokenName, TokenRecord, crate::secret::Secret), ManageError> {
    let mut edit = service.ledger()?.begin()?;
    let (name, record) = stored_in(service, &mut *edit, registry, text)?;
    let secret = secret_of(&mut *edit, &name)?;
    Ok((name, record, secret))
}

fn secret_of(edit: &mut dyn Edit, name: &TokenName) -> Result<crate::secret::Secret, ManageError> {
    edit.secret(name)?.ok_or_else(|| {
        ManageError::Invalid(format!(
            "{name}'s secret is missing: `docker-credential-pat doctor` says why"
        ))
    })
}

/// Refuses a token of another registry than the one a command acts on.
pub(crate) fn check_registry(name: &TokenName, registry: &Registry) -> Result<(), ManageError> {
    if name.registry == *registry {
        return Ok(());
    }
    Err(ManageError::Invalid(format!(
        "{name} is not a token of {registry}; name the registry with --registry, or a token of {registry}"
    )))
}
