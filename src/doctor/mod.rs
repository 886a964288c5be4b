//! `doctor`: checks the whole setup and repairs what can be repaired without losing a secret.
//!
//! Each check adds findings: one line each, saying what is wrong and what to do.
//! Repairs that touch the index or the store run under the data lock, so a
//! `store` running at the same moment can never be mistaken for an orphan.
//! A backend that cannot be reached is reported and left out of the
//! comparison; it is never taken for an empty one.

use chrono::Utc;
use serde::Serialize;

use crate::config::ConfigError;
use crate::service::{Service, ServiceError};

mod data;
mod docker;
mod permissions;

/// How a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth acting on, but nothing is broken.
    Warn,
    /// Something does not work, or could lose or leak a secret.
    Problem,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check: config, keychain, vault, index, secrets, docker-config, plaintext,
    /// path, stale, two-factor, permissions.
    pub check: &'static str,
    pub status: Status,
    /// What was found. Never holds a secret.
    pub message: String,
    /// What to do; after a repair, what was done.
    pub fix: Option<String>,
    /// True when `doctor --repair` can fix it.
    pub repairable: bool,
    pub repaired: bool,
}

impl Finding {
    fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, message.into(), None, false)
    }

    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, message.into(), Some(fix.into()), false)
    }

    fn problem(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(
            check,
            Status::Problem,
            message.into(),
            Some(fix.into()),
            false,
        )
    }

    fn new(
        check: &'static str,
        status: Status,
        message: String,
        fix: Option<String>,
        repairable: bool,
    ) -> Self {
        Self {
            check,
            status,
            message,
            fix,
            repairable,
            repaired: false,
        }
    }

    /// Marks the finding as one `--repair` can fix.
    fn repairable(mut self) -> Self {
        self.repairable = true;
        self
    }

    /// Records the repair done; `done` replaces the advice.
    fn repaired(mut self, done: impl Into<String>) -> Self {
        self.repaired = true;
        self.fix = Some(done.into());
        self
    }

    /// True when it still needs a person.
    pub fn needs_attention(&self) -> bool {
        self.status != Status::Ok && !self.repaired
    }
}

/// Runs every check; with `repair`, fixes what it safely can along the way.
///
/// `config_error` is why config.toml could not be read, if it could not
/// (the service then runs on defaults). Errors returned here mean doctor
/// itself could not run, for instance because another process holds the lock.
pub fn run(
    service: &Service,
    config_error: Option<ConfigError>,
    repair: bool,
) -> Result<Vec<Finding>, ServiceError> {
    let mut findings = Vec::new();
    // The lock comes first: config.toml is edited under it too.
    let (mut writer, damage) = crate::index::IndexWriter::begin_for_repair(&service.paths)?;
    data::check_config(service, config_error, repair, &mut findings);
    let stores = data::check_backends(service, &writer.index, &mut findings);
    match damage {
        Some(damage) => data::rebuild(service, &mut writer, damage, &stores, repair, &mut findings),
        None => data::compare(service, &mut writer, &stores, repair, &mut findings),
    }
    let index = writer.index.clone();
    drop(writer);
    let plaintext = docker::check(service, &index, repair, &mut findings);
    check_tokens(service, &mut findings);
    permissions::check(service, plaintext, repair, &mut findings);
    Ok(findings)
}

/// Stale tokens and passwords kept for accounts that require tokens.
fn check_tokens(service: &Service, findings: &mut Vec<Finding>) {
    let Ok(views) = service.tokens() else {
        // A damaged index was reported above.
        return;
    };
    let now = Utc::now();
    let before = findings.len();
    for view in views.iter().filter(|v| v.record.active) {
        let name = &view.name;
        if service.is_stale(view, now) {
            let since = match view.usage.last_used_at {
                Some(at) => format!("has not been used for {} days", (now - at).num_days()),
                None => format!(
                    "was stored {} days ago and never used",
                    (now - view.record.created_at).num_days()
                ),
            };
            findings.push(Finding::warn(
                "stale",
                format!(
                    "{name} {since} (stale_after_days = {})",
                    service.config.stale_after_days
                ),
                format!(
                    "if nothing needs it, `docker-credential-pat deactivate {name}` or `delete {name}`, and revoke it at the registry"
                ),
            ));
        }
        if view.password_on_protected_account {
            let user = crate::text::printable(&view.record.username, 64);
            findings.push(Finding::warn(
                "two-factor",
                format!(
                    "{name} holds a password for {user}, an account where only tokens may be stored"
                ),
                format!(
                    "create a personal access token and log in with it: `docker login {} -u {user}`",
                    name.registry.default_address()
                ),
            ));
        }
    }
    if findings.len() == before {
        let active = views.iter().filter(|v| v.record.active).count();
        findings.push(Finding::ok(
            "tokens",
            format!("{active} active token(s); none stale, no password where tokens are required"),
        ));
    }
}

/// The name a damaged file is moved to: `NAME.damaged-<UTC time>`, never over another.
fn damaged_name(path: &std::path::Path) -> std::path::PathBuf {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!(
        "{}.damaged-{stamp}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut candidate = path.with_file_name(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{base}-{n}"));
    }
    candidate
}

/// Moves a damaged file aside and returns where it went.
fn move_aside(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let target = damaged_name(path);
    std::fs::rename(path, &target)?;
    Ok(target)
}
