//! containers' auth.json, as podman, buildah and skopeo read it: once it
//! sends any registry to this helper (`configure-podman`), does it send every
//! registry we hold tokens for, and does a plaintext login in a file read
//! earlier shadow it? Until then podman is simply not wired, which is a
//! person's choice, not a fault.

use std::collections::BTreeSet;

use crate::containers_auth;
use crate::docker_config::{DockerConfig, HELPER_NAME};
use crate::finding::Finding;
use crate::index::Index;
use crate::registry::Registry;
use crate::service::Service;

pub fn check(service: &Service, index: &Index, findings: &mut Vec<Finding>) {
    let places = &service.env.containers;
    let files: Vec<DockerConfig> = [places.primary(), places.persistent()]
        .into_iter()
        .flatten()
        .filter_map(|path| DockerConfig::load_file(&path).ok())
        .filter(DockerConfig::exists)
        .collect();
    let wired = files
        .iter()
        .any(|f| f.cred_helpers().iter().any(|(_, h)| h == HELPER_NAME));
    if !wired {
        if ["podman", "buildah", "skopeo"].into_iter().any(on_path) {
            findings.push(Finding::ok(
                "podman",
                "podman, buildah and skopeo do not use docker-credential-pat (`docker-credential-pat configure-podman` wires them)",
            ));
        }
        return;
    }
    let held: BTreeSet<String> = index
        .registries
        .keys()
        .filter_map(|k| Registry::parse(k).ok())
        .map(|r| containers_auth::key(&r))
        .collect();
    // The first file that knows a registry decides for it, as containers/image reads them.
    let mut unwired = Vec::new();
    for key in &held {
        let decider = files
            .iter()
            .find(|f| f.cred_helpers().iter().any(|(k, _)| k == key) || has_login(f, key));
        match decider {
            Some(file) if file.helper_for(key) == Some(HELPER_NAME) => {}
            Some(file) if has_login(file, key) => findings.push(Finding::problem(
                "podman",
                format!(
                    "{} holds a plaintext login for {key}, which podman, buildah and skopeo use instead of docker-credential-pat",
                    file.path.display()
                ),
                format!("`podman logout {key}`, then `docker-credential-pat configure-podman --registry {key}`"),
            )),
            Some(file) => findings.push(Finding::problem(
                "podman",
                format!(
                    "credHelpers in {} sends {key} to another helper",
                    file.path.display()
                ),
                format!("`docker-credential-pat configure-podman --registry {key}`"),
            )),
            None => unwired.push(key.as_str()),
        }
    }
    if !unwired.is_empty() {
        findings.push(Finding::warn(
            "podman",
            format!(
                "podman, buildah and skopeo do not ask docker-credential-pat for {}",
                unwired.join(", ")
            ),
            "`docker-credential-pat configure-podman`",
        ));
    } else if !held.is_empty() && findings.iter().all(|f| f.check != "podman") {
        findings.push(Finding::ok(
            "podman",
            "podman, buildah and skopeo ask docker-credential-pat for every registry with tokens",
        ));
    }
}

/// An `auths` entry with a login in it (an empty `{}` is what a helper leaves).
fn has_login(file: &DockerConfig, key: &str) -> bool {
    file.root
        .get("auths")
        .and_then(|a| a.get(key))
        .and_then(|e| e.as_object())
        .is_some_and(|e| e.contains_key("auth") || e.contains_key("password"))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}
