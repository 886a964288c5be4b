//! `import`: reports what became of each plaintext login in config.json.

use super::exit::{CommandResult, Exit};
use crate::import::{self, Outcome};
use crate::output;
use crate::service::Service;

pub fn run(service: &Service, dry_run: bool) -> CommandResult {
    let report = import::run(service, dry_run)?;
    let path = report.config_path.display();
    if report.entries.is_empty() {
        output::say(&format!(
            "{path} holds no plaintext logins; nothing to import"
        ));
        return Ok(Exit::Success);
    }
    let mut left = 0;
    let mut checks = Vec::new();
    for entry in &report.entries {
        let key = crate::text::printable(&entry.key, 200);
        let who = entry
            .username
            .as_deref()
            .map(|u| format!("{}'s login for ", crate::text::printable(u, 64)))
            .unwrap_or_default();
        match &entry.outcome {
            Outcome::Imported { token, backend } => output::say(&match (dry_run, backend) {
                (true, _) => format!("Would import {who}{key} as {token}"),
                (false, Some(backend)) => {
                    // Said once the line that names the token is out.
                    checks.push(token.clone());
                    format!(
                        "Imported {who}{key} as {token} (stored in {})",
                        backend.place()
                    )
                }
                (false, None) => format!("Imported {who}{key} as {token}"),
            }),
            Outcome::AlreadyStored { token } => output::say(&if dry_run {
                format!("{token} already holds {who}{key}; would remove the plaintext copy")
            } else {
                format!("{token} already held {who}{key}; removed the plaintext copy")
            }),
            Outcome::Left { reason } => {
                left += 1;
                let verb = if dry_run { "would stay" } else { "stays" };
                output::warn(&format!("{who}{key} {verb} in {path}: {reason}"));
            }
        }
    }
    for token in &checks {
        super::github::check_stored(service, token);
    }
    if dry_run {
        output::say("Dry run: nothing was changed.");
        return Ok(Exit::Success);
    }
    let moved = report.entries.len() - left;
    if moved > 0 {
        output::say(&format!(
            "Removed {moved} plaintext login(s) from {path}; everything else in it is unchanged"
        ));
    }
    if let Some(backup) = &report.backup {
        output::say(&format!(
            "Backup: {} (it still holds the plaintext logins: delete it once Docker works)",
            backup.display()
        ));
    }
    if !report.wired {
        output::warn(
            "Docker does not ask docker-credential-pat for these logins yet: run `docker-credential-pat configure-docker`",
        );
    }
    Ok(if left > 0 {
        Exit::Attention
    } else {
        Exit::Success
    })
}
