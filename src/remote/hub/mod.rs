//! Docker Hub's access-token API, where tokens are born and revoked.
//!
//! - [`client`]: the documented calls (sign-in with a second factor, create,
//!   list, switch, delete, and the check that a token is valid).
//! - [`session`]: the signed-in session, kept only in the kernel keyring.
//! - [`audit`]: the rule that finds a use Hub saw and nobody here made, and
//!   what the audit found, in words.
//! - [`manage`]: what acts on Hub and on the stored token together, one room
//!   per family: sign-in, create and link, (de)activate and delete, rotate,
//!   listing and the audit.
//! - [`spec`]: scopes, labels and token ids as people type them.
//! - [`api`]: the personal tokens behind the shared trait
//!   ([`crate::remote::api::TokenApi`]), and Hub's view kept on each record.
//!
//! Nothing here prints or prompts. Failures are [`HubError`]s, which the
//! `hub` commands turn into one line saying what to do.

pub(crate) mod api;
pub(crate) mod audit;
pub(crate) mod client;
pub(crate) mod manage;
pub(crate) mod session;
pub(crate) mod spec;

use chrono::{DateTime, Utc};

use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum HubError {
    #[error("{0}")]
    Http(#[from] HttpError),
    /// A wrong password or second-factor code.
    #[error("Docker Hub refused the sign-in: {detail}")]
    SignInRefused { detail: String },
    #[error("not signed in to Docker Hub")]
    NoSession,
    /// A 401 to a call made with the session's bearer.
    #[error("the Docker Hub session has expired")]
    SessionExpired,
    #[error("Docker Hub's rate limit was reached")]
    RateLimited { retry_at: Option<DateTime<Utc>> },
    /// 400, 403 or 404, with Hub's own explanation.
    #[error("Docker Hub refused to {what}: {detail}")]
    Refused {
        status: u16,
        what: &'static str,
        detail: String,
    },
    #[error("Docker Hub answered the request to {what} with status {status}")]
    Unexpected { status: u16, what: &'static str },
    /// A body that is not what the API documents; the body is never quoted,
    /// as it may hold a token.
    #[error("Docker Hub's answer to the request to {what} is not in the documented form")]
    BadBody { what: &'static str },
    #[error("Docker Hub pointed the token listing at {url}, outside {base}; it was not followed")]
    ForeignPage { url: String, base: String },
    #[error("{0}")]
    Keyring(#[from] crate::kernel_keyring::KeyringError),
    #[error(
        "this system has no kernel keyring to keep a Docker Hub session in (it is never written to disk)"
    )]
    NoKeyring,
}
