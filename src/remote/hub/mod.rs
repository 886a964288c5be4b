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
//! - [`org`]: organisation names, repository patterns and the scopes of
//!   organisation access tokens, as people type them.
//! - [`api`]: personal and organisation tokens behind the shared trait
//!   ([`crate::remote::api::TokenApi`]), and Hub's view kept on each record.
//!
//! Nothing here prints or prompts. Failures are [`HubError`]s, which the
//! `hub` commands turn into one line saying what to do.

pub(crate) mod api;
pub(crate) mod audit;
pub(crate) mod client;
pub(crate) mod manage;
pub(crate) mod org;
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
    /// A 403 to an organisation's token call: the session is not an owner's.
    #[error(
        "Docker Hub refused to {what}: only an owner of the organisation {org} manages its access tokens ({detail})"
    )]
    NotOwner {
        org: String,
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
    /// A change whose outcome could not be read back: it may or may not have happened.
    #[error("Docker Hub may or may not have {done} token {uuid} ({detail})")]
    Unsure {
        done: &'static str,
        uuid: String,
        detail: String,
    },
    /// A create whose answer never came: Hub may have made a token whose secret nobody holds.
    #[error("{}", lost_words(.label, .lost, .detail, .org.as_deref()))]
    CreateLost {
        label: Box<str>,
        lost: manage::settle::Lost,
        detail: Box<str>,
        /// The organisation whose token it was to be; `None`: a personal token.
        org: Option<Box<str>>,
    },
}

/// The `hub` arguments that name an organisation's tokens, before the token ids.
pub(crate) fn org_flag(org: Option<&str>) -> String {
    org.map_or_else(String::new, |org| format!("--org {org} "))
}

fn lost_words(label: &str, lost: &manage::settle::Lost, detail: &str, org: Option<&str>) -> String {
    use manage::settle::Lost;
    let flag = org_flag(org);
    let later = |how: &str| {
        format!(
            "Docker Hub did not say whether it created the token ({detail}) and {how}; if it did, nobody holds its secret: `docker-credential-pat hub tokens{}` shows it as \"{}\" with no local name, and `hub delete {flag}ID` removes it",
            flag.trim_end().replace("--org", " --org"),
            crate::text::printable(label, 100)
        )
    };
    match lost {
        Lost::Removed(uuid) => format!(
            "Docker Hub's answer to creating the token was lost ({detail}); the token it made ({uuid}) was deleted again, as its secret never arrived"
        ),
        Lost::Left(uuid) => format!(
            "Docker Hub's answer to creating the token was lost ({detail}); the token it made ({uuid}) never gave its secret and could not be deleted: `docker-credential-pat hub delete {flag}{uuid}` removes it"
        ),
        Lost::NoneListed => later("lists none new"),
        Lost::Unchecked => later("could not be asked"),
    }
}

impl HubError {
    /// True when Hub may have carried the request out although no success
    /// came back: the answer was lost or late, Hub failed after acting, or
    /// the answer to a success could not be read.
    pub(crate) fn may_have_acted(&self) -> bool {
        match self {
            HubError::Http(e) => !e.nothing_sent(),
            HubError::Unexpected { status, .. } => *status >= 500,
            HubError::BadBody { .. } => true,
            _ => false,
        }
    }
}
