//! `migrate --to file|keychain`.

use super::CommandResult;
use crate::cli::BackendArg;
use crate::service::{Service, ServiceError};

pub fn run(_service: &Service, _to: BackendArg) -> CommandResult {
    Err(ServiceError::Invalid(
        "migrate is not available in this build".into(),
    ))
}
