//! `doctor`: checks the setup and repairs what an interruption left behind.

use super::CommandResult;
use crate::service::{Service, ServiceError};

pub fn run(_service: &Service, _json: bool, _repair: bool) -> CommandResult {
    Err(ServiceError::Invalid(
        "doctor is not available in this build".into(),
    ))
}
