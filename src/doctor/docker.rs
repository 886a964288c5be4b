//! Docker's side: config.json sends logins here, holds no plaintext, and Docker can find us.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::docker_config::{DockerConfig, HELPER_NAME};
use crate::finding::Finding;
use crate::index::Index;
use crate::registry::Registry;
use crate::service::Service;

/// A change `--repair` makes to config.json.
enum Edit {
    /// `credsStore: "pat"`.
    All,
    /// `credHelpers[key] = "pat"` for each key.
    Registries(Vec<String>),
}

/// Runs the config.json checks; returns true when it still holds plaintext logins.
pub(super) fn check(
    service: &Service,
    index: &Index,
    repair: bool,
    findings: &mut Vec<Finding>,
) -> bool {
    let dir = match service.env.docker_config_dir() {
        Ok(dir) => dir,
        Err(e) => {
            findings.push(Finding::problem(
                "docker-config",
                e.to_string(),
                if cfg!(windows) {
                    "set DOCKER_CONFIG"
                } else {
                    "set DOCKER_CONFIG or HOME"
                },
            ));
            return false;
        }
    };
    let mut config = match DockerConfig::load(&dir) {
        Ok(config) => config,
        Err(e) => {
            findings.push(Finding::problem(
                "docker-config",
                e.to_string(),
                "fix the file by hand; doctor never rewrites a file it cannot read",
            ));
            return false;
        }
    };
    let wired = check_wiring(&mut config, index, repair, findings);
    if wired {
        check_path(findings);
    }
    let keys = crate::import::plaintext_keys(&config.root);
    for key in &keys {
        findings.push(Finding::problem(
            "plaintext",
            format!(
                "{} holds a plaintext login for {key}",
                config.path.display()
            ),
            "`docker-credential-pat import` moves it into the secret store",
        ));
    }
    if keys.is_empty() {
        findings.push(Finding::ok(
            "plaintext",
            format!("no plaintext logins in {}", config.path.display()),
        ));
    }
    !keys.is_empty()
}

/// The key Docker looks up for a registry we hold; Hub's side entries go with Hub.
fn docker_key(registry: &Registry) -> String {
    let registry = if registry.is_docker_hub() {
        Registry::DockerHub
    } else {
        registry.clone()
    };
    registry.default_address().to_owned()
}

/// `credsStore`/`credHelpers` against the registries we hold tokens for.
fn check_wiring(
    config: &mut DockerConfig,
    index: &Index,
    repair: bool,
    findings: &mut Vec<Finding>,
) -> bool {
    let path = config.path.display().to_string();
    let held: BTreeSet<String> = index
        .registries
        .keys()
        .filter_map(|k| Registry::parse(k).ok())
        .map(|r| docker_key(&r))
        .collect();
    let helpers = config.cred_helpers();
    let store = config.creds_store().map(str::to_owned);
    let global = store.as_deref() == Some(HELPER_NAME);
    let mut pending: Vec<(Finding, Edit)> = Vec::new();
    let mut advice: Vec<Finding> = Vec::new();

    for key in &held {
        if let Some((_, other)) = helpers.iter().find(|(k, h)| k == key && h != HELPER_NAME) {
            let finding = Finding::problem(
                "docker-config",
                format!(
                    "credHelpers in {path} sends {key} to docker-credential-{other}, so Docker never asks docker-credential-pat for the token stored for it"
                ),
                format!("`docker-credential-pat configure-docker --registry {key}`"),
            )
            .repairable();
            pending.push((finding, Edit::Registries(vec![key.clone()])));
        }
    }
    if !global {
        let unwired: Vec<&String> = held
            .iter()
            .filter(|key| !helpers.iter().any(|(k, _)| k == *key))
            .collect();
        let any_ours = helpers.iter().any(|(_, h)| h == HELPER_NAME);
        let other_store = store
            .as_deref()
            .map(|s| format!(" (credsStore is {s:?}; logins stored there stay there)"))
            .unwrap_or_default();
        if held.is_empty() && !any_ours {
            let finding = Finding::problem(
                "docker-config",
                format!("{path} does not send logins to docker-credential-pat"),
                format!("`docker-credential-pat configure-docker`{other_store}"),
            );
            if store.is_none() {
                pending.push((finding.repairable(), Edit::All));
            } else {
                advice.push(finding);
            }
        } else if !unwired.is_empty() {
            let list = unwired
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let finding = Finding::problem(
                "docker-config",
                format!(
                    "Docker does not ask docker-credential-pat for {list}, though tokens are stored for {}",
                    if unwired.len() == 1 { "it" } else { "them" }
                ),
                format!(
                    "`docker-credential-pat configure-docker` for all registries{other_store}, or `configure-docker --registry HOST` for each"
                ),
            )
            .repairable();
            let keys = unwired.into_iter().cloned().collect();
            pending.push((finding, Edit::Registries(keys)));
        }
    }

    let clean = pending.is_empty() && advice.is_empty();
    if repair && !pending.is_empty() {
        for (_, edit) in &pending {
            match edit {
                Edit::All => {
                    config.use_helper_for_all();
                }
                Edit::Registries(keys) => keys.iter().for_each(|k| config.use_helper_for(k)),
            }
        }
        let saved = config
            .backup()
            .and_then(|backup| config.save().map(|()| backup));
        match saved {
            Ok(backup) => {
                let backup = backup
                    .map(|b| format!(" (backup: {})", b.display()))
                    .unwrap_or_default();
                for (finding, edit) in pending {
                    let done = match &edit {
                        Edit::All => "set credsStore to \"pat\"".to_owned(),
                        Edit::Registries(keys) => format!(
                            "added credHelpers entries naming \"pat\" for {}",
                            keys.join(", ")
                        ),
                    };
                    findings.push(finding.repaired(format!("{done} in {path}{backup}")));
                }
            }
            Err(e) => {
                findings.extend(pending.into_iter().map(|(f, _)| f));
                findings.push(Finding::problem(
                    "docker-config",
                    format!("{path} could not be updated: {e}"),
                    "run `docker-credential-pat configure-docker` yourself",
                ));
            }
        }
    } else {
        findings.extend(pending.into_iter().map(|(f, _)| f));
    }
    findings.extend(advice);
    if clean {
        let scope = if global {
            "for every registry".to_owned()
        } else {
            format!(
                "for {}",
                held.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        findings.push(Finding::ok(
            "docker-config",
            format!("{path} sends logins to docker-credential-pat {scope}"),
        ));
    }
    config.creds_store() == Some(HELPER_NAME)
        || config.cred_helpers().iter().any(|(_, h)| h == HELPER_NAME)
}

/// Docker runs `docker-credential-pat` from PATH; check that it finds this one.
fn check_path(findings: &mut Vec<Finding>) {
    let name = format!("docker-credential-pat{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().ok();
    let exe_dir = exe
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| "its folder".to_owned(), |d| d.display().to_string());
    let found: Option<PathBuf> = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&name))
            .find(|candidate| is_executable(candidate))
    });
    match found {
        None => findings.push(Finding::problem(
            "path",
            "Docker runs docker-credential-pat from PATH, and no folder on PATH holds it",
            path_advice(&exe_dir),
        )),
        Some(found) => {
            let same = match (&exe, found.canonicalize()) {
                (Some(exe), Ok(found)) => exe.canonicalize().is_ok_and(|e| e == found),
                _ => true,
            };
            if same {
                findings.push(Finding::ok(
                    "path",
                    format!("Docker finds docker-credential-pat at {}", found.display()),
                ));
            } else {
                findings.push(Finding::warn(
                    "path",
                    format!(
                        "Docker will run {}, not this docker-credential-pat",
                        found.display()
                    ),
                    format!("remove the other copy, or put {exe_dir} first on PATH"),
                ));
            }
        }
    }
}

#[cfg(windows)]
fn path_advice(dir: &str) -> String {
    format!(
        "add {dir} to your user Path (Settings › System › About › Advanced system settings › Environment Variables), then open a new terminal"
    )
}

#[cfg(target_os = "macos")]
fn path_advice(dir: &str) -> String {
    format!("add {dir} to PATH (for example in ~/.zprofile), then open a new terminal")
}

#[cfg(not(any(windows, target_os = "macos")))]
fn path_advice(dir: &str) -> String {
    format!("add {dir} to PATH (for example in ~/.profile)")
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}
