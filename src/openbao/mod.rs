//! The client of an OpenBao or HashiCorp Vault server: the team backend's wire.
//!
//! A fleet of machines shares tokens through one replicated server, with
//! per-path policies and audit. This room speaks to the server and knows
//! nothing of tokens: how tokens are laid out on it is the server ledger's
//! ([`crate::ledger::server`]).
//!
//! - [`settings`]: the `[openbao]` table resolved with the `BAO_*` / `VAULT_*` variables.
//! - [`client`]: requests with one deadline, failover across addresses, the
//!   client token (logged in, cached in the kernel keyring, renewed on 403).
//! - [`kv`]: KV version 2 reads, check-and-set writes, metadata and listings.
//!
//! Nothing here prints: every failure is an [`OpenBaoError`] that the command
//! or protocol layer turns into one line saying what to do.

pub(crate) mod client;
pub(crate) mod kv;
pub(crate) mod settings;
mod token;

use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum OpenBaoError {
    /// The settings cannot work; the text says which and how to fix it.
    #[error("{0}")]
    Setup(String),
    #[error(
        "cannot reach OpenBao at {addresses} within {timeout} ({detail}); check that the server runs, and [openbao] address in config.toml or BAO_ADDR"
    )]
    Unreachable {
        addresses: String,
        timeout: String,
        detail: String,
    },
    /// The server answered this operation before, but the time ran out
    /// before this request had its answer: slow, not out of reach.
    #[error(
        "OpenBao at {addresses} answered too slowly: the {timeout} of [openbao] timeout_seconds ran out before {path} was answered; run the command again, or raise timeout_seconds"
    )]
    OutOfTime {
        addresses: String,
        timeout: String,
        path: String,
    },
    /// A write that may or may not have been carried out; the layer above
    /// reads the state back before it says anything.
    #[error(
        "OpenBao at {address} may or may not have changed {path} ({detail}); run the command again to make sure"
    )]
    Unknown {
        address: String,
        path: String,
        detail: String,
    },
    /// A write sent twice whose answers were lost, and which did not land.
    #[error(
        "the change to {path} did not reach OpenBao at {address} ({detail}); nothing was changed there, run the command again"
    )]
    NotDone {
        address: String,
        path: String,
        detail: String,
    },
    /// Part of a change was made and part was not; the text says which, and how to finish.
    #[error("{done}, but {missing}; {fix}")]
    Unfinished {
        done: String,
        missing: String,
        fix: String,
    },
    #[error(
        "OpenBao at {addresses} is sealed; unseal it (`bao operator unseal`) or list an unsealed node in [openbao] address"
    )]
    Sealed { addresses: String },
    #[error("OpenBao {method} authentication failed: {detail}; {fix}")]
    Auth {
        method: &'static str,
        detail: String,
        fix: String,
    },
    #[error(
        "the OpenBao policy refuses to {action} {path}; ask the server's admin for `{capability}` on it"
    )]
    Refused {
        action: &'static str,
        capability: &'static str,
        path: String,
    },
    #[error(
        "{path} was changed on the server by someone else at the same moment; nothing was overwritten, run the command again"
    )]
    Conflict { path: String },
    #[error("OpenBao at {address} answered {status} for {path}: {message}")]
    Server {
        address: String,
        status: u16,
        path: String,
        message: String,
    },
    #[error(
        "OpenBao at {address} sent an answer this helper does not understand for {path} ({detail})"
    )]
    Malformed {
        address: String,
        path: String,
        detail: String,
    },
    #[error("{0}")]
    Http(#[from] HttpError),
}

impl OpenBaoError {
    /// True when the policy refused a read: `get` answers "not found" then.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, OpenBaoError::Refused { .. })
    }
}
