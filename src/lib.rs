//! docker-credential-pat: a Docker credential helper built around personal access tokens.
//!
//! The Docker CLI runs it with one of the protocol verbs (`store`, `get`,
//! `erase`, `list`, `version`); people run it with the management commands
//! (`tokens`, `add`, `2fa`, `vault`, `doctor`…).
//!
//! ARCHITECTURE.md has the map of the house; from the top floor down:
//!
//! - [`commands`] and [`cli`]: the human-facing commands, and their clap definitions.
//! - [`doctor`]: checks the setup end to end and repairs what an interruption left.
//! - [`protocol`]: the wire format Docker speaks on stdin/stdout.
//! - `remote`: registries' own token APIs (Docker Hub's: sign-in, create, rotate, the audit).
//! - [`import`]: plaintext logins from Docker's config.json into the store.
//! - [`service`]: the operations, policy first, then the ledger.
//! - [`ledger`]: where tokens are kept, secret and record together: this
//!   machine's index with its keychain or vault, or a team's OpenBao server.
//! - [`error`]: the operations' error; [`finding`]: one line of doctor's report.
//! - [`index`] and [`usage`]: non-secret token records and last-used records.
//! - [`policy`]: what counts as a token; the two-factor rule; staleness.
//! - [`expiry`]: when tokens end, and the once-a-day note when one has.
//! - `openbao`: the client of a team's OpenBao or HashiCorp Vault server.
//! - [`config`]: config.toml and the environment, resolved once per run.
//! - [`select`]: which token a protocol verb uses here (the `[[select]]` rules).
//! - [`store`]: the OS keychain and the encrypted vault behind one trait.
//! - [`docker_config`] and [`containers_auth`]: Docker's config.json, and where podman,
//!   buildah and skopeo keep their auth.json.

#![deny(unsafe_code)]

mod alloc;
mod budget;
pub mod cli;
mod commands;
pub mod config;
pub mod containers_auth;
#[cfg(test)]
mod corpus;
pub mod docker_config;
pub mod doctor;
pub mod error;
pub mod expiry;
pub mod finding;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod hardening;
// Used by the Docker Hub and OpenBao clients.
#[allow(dead_code)]
mod http;
mod ids;
pub mod import;
pub mod index;
mod kernel_keyring;
pub mod ledger;
pub mod names;
mod openbao;
mod output;
pub mod policy;
mod prompt;
pub mod protocol;
pub mod registry;
mod remote;
pub mod secret;
pub mod select;
pub mod service;
mod stdio;
pub mod store;
mod text;
pub mod usage;

use std::ffi::OsString;
use std::process::ExitCode;

use crate::config::Environment;

/// Every freed block is wiped, so library buffers a secret passed through keep no copy.
#[global_allocator]
static ALLOCATOR: alloc::WipingAllocator = alloc::WipingAllocator;
use crate::service::Service;

/// Runs the helper with the process arguments; returns the exit code.
pub fn run(args: Vec<OsString>) -> ExitCode {
    ExitCode::from(dispatch(args))
}

/// True when the command is `exec` (after any `-q`/`--quiet`).
fn runs_exec(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .find(|a| !matches!(a.to_str(), Some("-q" | "--quiet")))
        .is_some_and(|a| a == "exec")
}

fn dispatch(args: Vec<OsString>) -> u8 {
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    // Protocol verbs come first and never reach clap: this is the `get` hot path.
    if let Some(action) = first.as_deref().and_then(protocol::Action::parse) {
        if args.len() != 2 {
            output::outln!("{}", protocol::USAGE);
            return 1;
        }
        hardening::forbid_core_dumps();
        hardening::report_file_size_limits();
        let budget = budget::Budget::start(config::Config::default().protocol_timeout());
        let mut stdout = stdio::stdout();
        return protocol::run(action, stdio::stdin(), &mut stdout, || {
            let service = Service::open(Environment::capture())?;
            budget.set(service.config.protocol_timeout());
            Ok(service)
        });
    }
    match first.as_deref() {
        Some(word) if word.starts_with('-') || cli::is_command(word) => {
            // `exec` holds no secret, and its child would inherit the core
            // limit and the ignored SIGXFSZ.
            if !runs_exec(&args) {
                hardening::forbid_core_dumps();
                hardening::report_file_size_limits();
            }
            commands::run(args)
        }
        Some(word) if args.len() == 2 => {
            output::outln!(
                "docker-credential-pat: unknown action: {}",
                text::printable(word, 100)
            );
            1
        }
        _ => {
            output::outln!("{}", protocol::USAGE);
            1
        }
    }
}
