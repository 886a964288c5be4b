//! What a command ends with: its exit status, or the error that becomes one line and status 1.

use crate::error::ServiceError;

/// Exit statuses of the human-facing commands (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
    /// `tokens --stale`/`--expiring` listed tokens, `doctor` found problems,
    /// or `hub audit` found a suspicious use.
    Attention = 3,
}

pub type CommandResult = Result<Exit, ServiceError>;
