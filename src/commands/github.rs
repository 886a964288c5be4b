//! `github …`: GitHub's classic tokens for ghcr.io, checked, rotated and
//! revoked from here. The work is done in [`crate::remote::github`]; this
//! turns its outcomes into lines for people, and each error into one line
//! naming the registry and saying what to do.

use std::io::IsTerminal;

use serde_json::json;

use super::exit::{CommandResult, Exit};
use super::remote::{expiry_words, retry_words};
use super::tokens::timestamp;
use crate::cli::GithubCommand;
use crate::names::TokenName;
use crate::output;
use crate::registry::Registry;
use crate::remote::api::TokenApi;
use crate::remote::github::client::Revocation;
use crate::remote::github::revoke::{RevokeFailure, Stage};
use crate::remote::github::rotate::{Guide, RotateFailure, Step};
use crate::remote::github::{DEFAULT_REGISTRY, Github, Verified};
use crate::remote::{ManageError, RemoteError};
use crate::secret::Secret;
use crate::service::Service;

type Result<T, E = ManageError> = std::result::Result<T, E>;

pub fn run(service: &Service, command: GithubCommand) -> CommandResult {
    let opened = registry_of(&command).and_then(|r| Github::open(service, &r));
    let github = match opened {
        Ok(github) => github,
        Err(e) => {
            output::error(&e.to_string());
            return Ok(Exit::Failure);
        }
    };
    let result = match command {
        GithubCommand::Verify { token, json, .. } => verify(&github, token.as_deref(), json),
        GithubCommand::Rotate { token, token_stdin } => rotate(&github, &token, token_stdin),
        GithubCommand::Revoke { token, yes } => revoke(&github, &token, yes),
    };
    Ok(result.unwrap_or_else(|e| {
        output::error(&explain(&github, &e));
        Exit::Failure
    }))
}

/// The check of a token just stored (`add`) when its registry is GitHub's:
/// what is wrong with it, as warnings on stderr.
pub(crate) fn check_new(service: &Service, name: &TokenName, username: &str, secret: &Secret) {
    warn_each(crate::remote::github::check_new(
        service, name, username, secret,
    ));
}

/// The same check of a token `import` stored earlier, read back.
pub(crate) fn check_stored(service: &Service, name: &TokenName) {
    warn_each(crate::remote::github::check_stored(service, name));
}

fn warn_each(lines: Option<Vec<String>>) {
    lines
        .unwrap_or_default()
        .iter()
        .for_each(|l| output::warn(l));
}

/// `--registry`, else the named token's, else ghcr.io.
fn registry_of(command: &GithubCommand) -> Result<Registry> {
    let (given, token) = match command {
        GithubCommand::Verify {
            token, registry, ..
        } => (registry.as_deref(), token.as_deref()),
        GithubCommand::Rotate { token, .. } | GithubCommand::Revoke { token, .. } => {
            (None, Some(token.as_str()))
        }
    };
    super::remote::registry_of(given, token, DEFAULT_REGISTRY)
}

/// One line: what went wrong at which registry, and what to do about it.
fn explain(github: &Github<'_>, error: &ManageError) -> String {
    let ManageError::Remote(remote) = error else {
        return error.to_string();
    };
    let name = github.api.name();
    match remote {
        RemoteError::Unauthorized { .. } => format!(
            "{name} refused the token (wrong, expired or revoked): make a new classic token and store it with `docker-credential-pat github rotate`"
        ),
        RemoteError::RateLimited { retry_at } => format!(
            "{name}'s rate limit was reached: {}",
            retry_at.map_or_else(|| "retry in a minute".into(), retry_words)
        ),
        RemoteError::Http(http) => format!(
            "cannot reach {name}: {http}; check the network, or {}",
            github.endpoint.setting
        ),
        RemoteError::Unexpected { status, .. } if *status >= 500 => {
            format!("{name} {remote}: GitHub has a problem of its own; try again later")
        }
        _ => format!("{name} {remote}"),
    }
}

fn verify(github: &Github<'_>, token: Option<&str>, json: bool) -> Result<Exit> {
    let names: Vec<String> = match token {
        Some(token) => vec![token.to_owned()],
        None => github
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.name.registry == github.endpoint.registry && e.record.active)
            .map(|e| e.name.to_string())
            .collect(),
    };
    if names.is_empty() && json {
        output::outln!("[]");
        return Ok(Exit::Success);
    }
    if names.is_empty() {
        output::note(&format!(
            "no token of {} is stored here; `docker login {}` stores one",
            github.endpoint.registry, github.endpoint.registry
        ));
        return Ok(Exit::Success);
    }
    let mut items = Vec::new();
    let mut failed = false;
    for text in &names {
        let shown = crate::text::printable(text, 80);
        match github.verify(text) {
            Ok(verified) => {
                let concerns = verified.concerns();
                failed |= verified.fine_grained();
                if json {
                    items.push(verified_json(&verified, &concerns));
                    continue;
                }
                say_verified(&verified);
                for concern in &concerns {
                    output::warn(concern);
                }
            }
            Err(error) => {
                failed = true;
                let line = format!("{shown}: {}", explain(github, &error));
                if json {
                    let refused =
                        matches!(error, ManageError::Remote(RemoteError::Unauthorized { .. }));
                    items.push(json!({
                        "token": shown,
                        "state": if refused { "refused" } else { "unknown" },
                        "error": line,
                    }));
                } else {
                    output::error(&line);
                }
            }
        }
    }
    if json {
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

fn say_verified(verified: &Verified) {
    let checked = &verified.checked;
    let scopes = match &checked.scopes {
        Some(scopes) if scopes.is_empty() => "no scopes".to_owned(),
        Some(scopes) => format!("scopes {}", scopes.join(", ")),
        None => "fine-grained (no scopes)".to_owned(),
    };
    output::say(&format!(
        "{}: GitHub user {}, {scopes}; {}",
        verified.name,
        crate::text::printable(&checked.login, 100),
        expiry_words(checked.expires_at)
    ));
}

fn verified_json(verified: &Verified, concerns: &[String]) -> serde_json::Value {
    let checked = &verified.checked;
    json!({
        "token": verified.name.to_string(),
        "state": if checked.scopes.is_some() { "active" } else { "fine-grained" },
        "login": checked.login,
        "username": verified.username,
        "classic": checked.scopes.is_some(),
        "scopes": checked.scopes,
        "expires_at": checked.expires_at.map(timestamp),
        "concerns": concerns,
    })
}

fn rotate(github: &Github<'_>, token: &str, token_stdin: bool) -> Result<Exit> {
    let ask = |guide: &Guide| -> Result<crate::secret::Secret> {
        output::say(&format!(
            "GitHub has no API that makes classic tokens: make the new token for {} at\n  {}\nas GitHub user {}, with {} ticked, then give it here",
            guide.name,
            guide.url,
            crate::text::printable(&guide.username, 100),
            guide.scopes.join(", ")
        ));
        if token_stdin {
            crate::prompt::read_line_from(crate::stdio::stdin())
        } else {
            crate::prompt::ask_hidden(&format!("New GitHub token for {}: ", guide.name))
        }
        .map_err(|e| ManageError::Invalid(format!("{e}; or use --token-stdin")))
    };
    let rotated = github
        .rotate(token, ask)
        .map_err(|failure| ManageError::Invalid(rotate_failure(github, token, &failure)))?;
    let old = match rotated.old {
        None => format!(
            "the old secret, kept as {}, was gone from here, so GitHub could not be asked to revoke it: delete the old token in GitHub's settings",
            rotated.retired
        ),
        Some(Revocation::NoLongerAccepted) => format!(
            "the old one no longer works at GitHub (revoked already, or expired), and {} is gone from here",
            rotated.retired
        ),
        Some(Revocation::Accepted) => format!(
            "the old one is revoked at GitHub, and {} is gone from here",
            rotated.retired
        ),
    };
    match &rotated.new {
        Some(checked) => output::say(&format!(
            "Rotated {}: the new token (scopes {}; {}) is stored and in use; {old}",
            rotated.name,
            checked.scopes.clone().unwrap_or_default().join(", "),
            expiry_words(checked.expires_at)
        )),
        None => output::say(&format!(
            "Finished the earlier rotation of {}: {old}",
            rotated.name
        )),
    }
    if rotated.old.is_none() {
        output::warn(&old);
        return Ok(Exit::Attention);
    }
    Ok(Exit::Success)
}

/// Which step stopped, why, and what is true now: one line.
fn rotate_failure(github: &Github<'_>, token: &str, failure: &RotateFailure) -> String {
    let shown = crate::text::printable(token, 80);
    let why = explain(github, &failure.error);
    match failure.step {
        Step::Check => why,
        Step::Store => format!(
            "rotating {shown} stopped while storing the new token: {why}; the old token is still stored and live"
        ),
        Step::Revoke if failure.maybe => format!(
            "the new token is stored and in use, but GitHub's answer to revoking the old one was lost ({why}): it may be revoked; the old secret is kept here until `docker-credential-pat github rotate {shown}` is run again, which finishes the job"
        ),
        Step::Revoke => format!(
            "the new token is stored and in use, but the old one could not be revoked: {why}; its secret is kept here until `docker-credential-pat github rotate {shown}` is run again, which finishes the job"
        ),
        Step::Remove => format!(
            "the new token is stored and in use and GitHub revoked the old one, but removing the old secret here failed: {why}; run `docker-credential-pat github rotate {shown}` again"
        ),
    }
}

fn revoke(github: &Github<'_>, token: &str, yes: bool) -> Result<Exit> {
    let shown = crate::text::printable(token, 80);
    if !yes
        && !confirmed(&format!(
            "Revoke {shown} at {}? GitHub cannot undo this [y/N] ",
            github.api.name()
        ))?
    {
        output::note("nothing was revoked");
        return Ok(Exit::Failure);
    }
    let (name, revocation) = github
        .revoke(token)
        .map_err(|failure| ManageError::Invalid(revoke_failure(github, &shown, &failure)))?;
    output::say(&match revocation {
        Revocation::Accepted => format!(
            "GitHub accepted the revocation of {name} (final; the token's owner is notified), and {name} is deleted here"
        ),
        Revocation::NoLongerAccepted => format!(
            "{} no longer accepts {name} (revoked already, or expired), so nothing was left to revoke; {name} is deleted here",
            github.api.name()
        ),
    });
    Ok(Exit::Success)
}

fn revoke_failure(github: &Github<'_>, shown: &str, failure: &RevokeFailure) -> String {
    let why = explain(github, &failure.error);
    match failure.stage {
        Stage::Before => why,
        Stage::AtGithub { maybe: true } => format!(
            "GitHub's answer was lost ({why}): {shown} may have been revoked; it is still stored here: run `docker-credential-pat github revoke {shown}` again (revoking twice is safe)"
        ),
        Stage::AtGithub { maybe: false } => {
            format!("{why}; nothing was revoked and {shown} is still stored here")
        }
        Stage::Here => format!(
            "GitHub revoked {shown}, but deleting it here failed: {why}; run `docker-credential-pat delete {shown}`"
        ),
    }
}

/// Asks on the terminal; without one, asks for `--yes` instead.
fn confirmed(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(ManageError::Invalid(
            "give --yes to revoke without a terminal to confirm on".into(),
        ));
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| ManageError::Invalid(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
