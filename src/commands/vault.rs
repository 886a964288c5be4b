//! `vault init|unlock|lock|passwd|status`.

use super::CommandResult;
use crate::cli::VaultCommand;
use crate::service::{Service, ServiceError};

pub fn run(_service: &Service, _command: VaultCommand) -> CommandResult {
    Err(ServiceError::Invalid(
        "the vault commands are not available in this build".into(),
    ))
}
