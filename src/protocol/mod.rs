//! Docker's credential-helper protocol: `store`, `get`, `erase`, `list`, `version`.
//!
//! The Docker CLI reads our stdout byte for byte and recognises errors only
//! there, as one line with exit status 1; hints for people go to stderr,
//! which the CLI passes through to the terminal.

use std::io::{Read, Write};

use crate::error::ServiceError;
use crate::service::Service;

mod request;
mod response;

pub use request::{MAX_INPUT, parse_store};
pub(crate) use request::{parse_address, read_input};
pub use response::push_json_string;

/// The usage line of the reference helpers, printed for a wrong argument count.
pub const USAGE: &str = "Usage: docker-credential-pat <store|get|erase|list|version>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Store,
    Get,
    Erase,
    List,
    Version,
}

impl Action {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "store" => Some(Self::Store),
            "get" => Some(Self::Get),
            "erase" => Some(Self::Erase),
            "list" => Some(Self::List),
            "version" | "--version" | "-v" => Some(Self::Version),
            _ => None,
        }
    }
}

/// The `version` line: name, repository and version, as the reference helpers print it.
pub fn version_line() -> String {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://");
    format!(
        "docker-credential-pat ({repository}) v{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Runs one action; returns the process exit status.
pub fn run(
    action: Action,
    stdin: impl Read,
    stdout: &mut impl Write,
    open: impl FnOnce() -> Result<Service, ServiceError>,
) -> u8 {
    match handle(action, stdin, stdout, open) {
        Ok(()) => 0,
        Err(message) => {
            // One line, whatever the error text held.
            let line = message.replace(['\n', '\r'], " ");
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
            1
        }
    }
}

fn handle(
    action: Action,
    stdin: impl Read,
    stdout: &mut impl Write,
    open: impl FnOnce() -> Result<Service, ServiceError>,
) -> Result<(), String> {
    let text = |e: ServiceError| e.to_string();
    let write = |out: &mut dyn Write, bytes: &[u8]| -> Result<(), String> {
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write the reply: {e}"))
    };
    match action {
        Action::Version => write(stdout, format!("{}\n", version_line()).as_bytes()),
        Action::List => {
            let service = open().map_err(text)?;
            write(
                stdout,
                &response::listing(&service.protocol_list().map_err(text)?),
            )
        }
        Action::Store => {
            let input = request::read_input(stdin).map_err(|e| e.to_string())?;
            let request = request::parse_store(&input).map_err(|e| e.to_string())?;
            let service = open().map_err(text)?;
            // Only for a GitHub registry is the old secret read to compare.
            let github = crate::registry::Registry::parse(&request.server_url)
                .is_ok_and(|r| crate::remote::github::is_github(&service, &r));
            let stored = service
                .protocol_store_with(
                    &request.server_url,
                    &request.username,
                    &request.secret,
                    github,
                )
                .map_err(text)?;
            // A new secret for a GitHub registry is checked there, said on
            // stderr only; whatever comes of it, the token is stored.
            let checked = if github && stored.new_secret == Some(true) {
                crate::remote::github::check_new(
                    &service,
                    &stored.name,
                    &request.username,
                    &request.secret,
                )
            } else {
                None
            };
            match checked {
                Some(lines) => lines.iter().for_each(|l| crate::output::warn(l)),
                None if stored.dropped_facts => crate::output::note(
                    "this is a different secret from the one stored before, so its expiry and Docker Hub link were dropped; `docker-credential-pat hub link` links it again",
                ),
                None => {}
            }
            Ok(())
        }
        Action::Get => {
            let input = request::read_input(stdin).map_err(|e| e.to_string())?;
            let address = address(&input)?;
            let service = open().map_err(text)?;
            let (username, secret) = service.protocol_get(address).map_err(|e| match e {
                // Docker asks for a login on "not found"; the person learns why on stderr.
                ServiceError::Server(refusal) if refusal.is_refusal() => {
                    crate::output::note(&refusal.to_string());
                    text(ServiceError::NotFound)
                }
                e => text(e),
            })?;
            write(stdout, &response::credentials(address, &username, &secret))
        }
        Action::Erase => {
            let input = request::read_input(stdin).map_err(|e| e.to_string())?;
            let address = address(&input)?;
            let service = open().map_err(text)?;
            service.protocol_erase(address).map_err(text)
        }
    }
}

/// The server address `get` and `erase` read; an empty one is refused before
/// anything is opened.
fn address(input: &[u8]) -> Result<&str, String> {
    let address = request::parse_address(input).map_err(|e| e.to_string())?;
    if address.is_empty() {
        return Err(ServiceError::MissingServerUrl.to_string());
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_action(action: Action, input: &[u8]) -> (u8, String) {
        let mut out = Vec::new();
        let code = run(action, input, &mut out, || {
            panic!("the service must not be opened")
        });
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn version_needs_no_service() {
        let (code, out) = run_action(Action::Version, b"");
        assert_eq!(code, 0);
        assert!(
            out.starts_with("docker-credential-pat (github.com/")
                && out.ends_with(&format!(" v{}\n", env!("CARGO_PKG_VERSION")))
        );
    }

    #[test]
    fn empty_address_is_the_reference_message() {
        assert_eq!(
            run_action(Action::Get, b"  \n"),
            (1, "no credentials server URL\n".into())
        );
        assert_eq!(
            run_action(Action::Erase, b""),
            (1, "no credentials server URL\n".into())
        );
    }

    #[test]
    fn bad_store_input_fails_before_touching_anything() {
        let (code, out) = run_action(Action::Store, b"{not json");
        assert_eq!(code, 1);
        assert_eq!(out.lines().count(), 1);
    }
}
