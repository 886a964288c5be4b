//! `import`: plaintext logins from Docker's config.json into the secret store.

use super::CommandResult;
use crate::service::{Service, ServiceError};

pub fn run(_service: &Service, _dry_run: bool) -> CommandResult {
    Err(ServiceError::Invalid(
        "import is not available in this build".into(),
    ))
}
