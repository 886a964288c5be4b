//! `configure-docker`: point Docker's config.json at this helper, or undo that.

use super::{CommandResult, Exit};
use crate::config::Environment;
use crate::docker_config::{DockerConfig, DockerConfigError};
use crate::output;
use crate::registry::Registry;
use crate::service::ServiceError;

/// The helper's name as Docker config.json refers to it.
pub const HELPER_NAME: &str = "pat";

pub fn run(env: &Environment, registries: &[String], undo: bool) -> CommandResult {
    let dir = env.docker_config_dir()?;
    let mut config = DockerConfig::load(&dir).map_err(invalid)?;
    if undo {
        let backup = config.restore_latest_backup().map_err(invalid)?;
        output::say(&format!(
            "Restored {} from {}",
            config.path.display(),
            backup.display()
        ));
        return Ok(Exit::Success);
    }
    let hosts = registries
        .iter()
        .map(|r| Registry::parse(r).map(|r| r.list_address(r.key()).to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        let previous = config.root.insert("credsStore".into(), HELPER_NAME.into());
        if let Some(previous) = previous
            .as_ref()
            .and_then(|p| p.as_str())
            .filter(|p| *p != HELPER_NAME)
        {
            output::note(&format!(
                "credsStore was {previous:?}; logins stored there stay there"
            ));
        }
    } else {
        let helpers = config.object_mut("credHelpers");
        for host in &hosts {
            helpers.insert(host.clone(), HELPER_NAME.into());
        }
    }
    if !config.changed() && config.exists() {
        output::say(&format!(
            "{} already uses docker-credential-pat",
            config.path.display()
        ));
        return Ok(Exit::Success);
    }
    let backup = config.backup().map_err(invalid)?;
    config.save().map_err(invalid)?;
    let target = if hosts.is_empty() {
        "all registries".to_owned()
    } else {
        hosts.join(", ")
    };
    output::say(&format!(
        "Configured {} to use docker-credential-pat for {target}",
        config.path.display()
    ));
    if let Some(backup) = backup {
        output::say(&format!(
            "Backup: {} (undo with `docker-credential-pat configure-docker --undo`)",
            backup.display()
        ));
    }
    Ok(Exit::Success)
}

fn invalid(e: DockerConfigError) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}
