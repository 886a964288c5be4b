//! What a check found: one line of `doctor`'s report.
//!
//! The vocabulary is shared by the checks that make findings (`doctor`, and a
//! team server's own health in the ledger), so it stands below all of them.

use serde::Serialize;

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
    /// path, stale, expiry, two-factor, hub-audit, permissions, select (the rules),
    /// podman (containers' auth.json).
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
    pub(crate) fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, message.into(), None, false)
    }

    pub(crate) fn warn(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(check, Status::Warn, message.into(), Some(fix.into()), false)
    }

    pub(crate) fn problem(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
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
    pub(crate) fn repairable(mut self) -> Self {
        self.repairable = true;
        self
    }

    /// Records the repair done; `done` replaces the advice.
    pub(crate) fn repaired(mut self, done: impl Into<String>) -> Self {
        self.repaired = true;
        self.fix = Some(done.into());
        self
    }

    /// True when it still needs a person.
    pub fn needs_attention(&self) -> bool {
        self.status != Status::Ok && !self.repaired
    }
}
