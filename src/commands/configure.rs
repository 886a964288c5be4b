//! `configure-docker` and `configure-podman`: point Docker's config.json, or
//! containers' auth.json, at this helper, stop doing so, or undo.

use super::exit::{CommandResult, Exit};
use crate::config::Environment;
use crate::containers_auth;
use crate::docker_config::{DockerConfig, DockerConfigError};
use crate::error::ServiceError;
use crate::output;
use crate::registry::Registry;
use crate::service::Service;

/// What `configure-docker` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Configure,
    Remove,
    Undo,
}

impl Action {
    pub fn of(args: &crate::cli::ConfigureArgs) -> Self {
        match (args.undo, args.remove) {
            (true, _) => Self::Undo,
            (_, true) => Self::Remove,
            _ => Self::Configure,
        }
    }
}

pub fn run(env: &Environment, registries: &[String], action: Action) -> CommandResult {
    let dir = env.docker_config_dir()?;
    let mut config = DockerConfig::load(&dir).map_err(invalid)?;
    if action == Action::Undo {
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
    if action == Action::Remove {
        return remove(config, &hosts, "configure-docker");
    }
    if hosts.is_empty() {
        if let Some(previous) = config.use_helper_for_all() {
            output::note(&format!(
                "credsStore was {previous:?}; logins stored there stay there"
            ));
        }
    } else {
        for host in &hosts {
            config.use_helper_for(host);
        }
    }
    if !config.changed() && config.exists() {
        output::say(&format!(
            "{} already uses docker-credential-pat",
            config.path.display()
        ));
        return Ok(Exit::Success);
    }
    let target = if hosts.is_empty() {
        "all registries".to_owned()
    } else {
        hosts.join(", ")
    };
    let done = format!(
        "Configured {} to use docker-credential-pat for {target}",
        config.path.display()
    );
    save(&mut config, &done, "configure-docker")
}

/// `configure-podman`: the same for containers' auth.json files, keyed the way
/// containers/image looks registries up.
pub fn podman(service: &Service, registries: &[String], action: Action) -> CommandResult {
    let files = service.env.containers.to_wire();
    if files.is_empty() {
        return Err(ServiceError::Invalid(
            "cannot tell where containers' auth.json is: set REGISTRY_AUTH_FILE or HOME".into(),
        ));
    }
    let mut keys = registries
        .iter()
        .map(|r| Registry::parse(r).map(|r| containers_auth::key(&r)))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() && action == Action::Configure {
        keys.push(containers_auth::key(&Registry::DockerHub));
        for entry in service.ledger()?.entries()? {
            let key = containers_auth::key(&entry.name.registry);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    for path in files {
        let mut config = DockerConfig::load_file(&path).map_err(invalid)?;
        match action {
            Action::Undo => match config.restore_latest_backup() {
                Ok(backup) => output::say(&format!(
                    "Restored {} from {}",
                    config.path.display(),
                    backup.display()
                )),
                Err(DockerConfigError::NoBackup(_)) => {}
                Err(e) => return Err(invalid(e)),
            },
            Action::Remove => {
                remove(config, &keys, "configure-podman")?;
            }
            Action::Configure => {
                for key in &keys {
                    config.use_helper_for(key);
                }
                if !config.changed() && config.exists() {
                    output::say(&format!(
                        "{} already uses docker-credential-pat for {}",
                        config.path.display(),
                        keys.join(", ")
                    ));
                    continue;
                }
                let done = format!(
                    "Configured {} to use docker-credential-pat for {}",
                    config.path.display(),
                    keys.join(", ")
                );
                save(&mut config, &done, "configure-podman")?;
            }
        }
    }
    Ok(Exit::Success)
}

fn remove(mut config: DockerConfig, hosts: &[String], command: &str) -> CommandResult {
    let removed = config.stop_using_helper(hosts);
    if removed.is_empty() {
        output::say(&format!(
            "{} does not use docker-credential-pat; nothing to remove",
            config.path.display()
        ));
        return Ok(Exit::Success);
    }
    let done = format!(
        "Removed {} from {}; Docker no longer asks docker-credential-pat for these logins (the tokens stay stored)",
        removed.join(", "),
        config.path.display()
    );
    save(&mut config, &done, command)
}

/// Writes config.json after backing it up, then says what was done and where the backup is.
fn save(config: &mut DockerConfig, done: &str, command: &str) -> CommandResult {
    let backup = config.backup().map_err(invalid)?;
    config.save().map_err(invalid)?;
    output::say(done);
    if let Some(backup) = backup {
        output::say(&format!(
            "Backup: {} (undo with `docker-credential-pat {command} --undo`)",
            backup.display()
        ));
    }
    Ok(Exit::Success)
}

fn invalid(e: DockerConfigError) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}
