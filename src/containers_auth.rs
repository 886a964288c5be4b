//! containers' `auth.json`: where podman, buildah and skopeo look for logins,
//! and the `credHelpers` keys that send them to this helper.
//!
//! The file has config.json's shape and is edited the same careful way
//! ([`DockerConfig`](crate::docker_config::DockerConfig)). What differs is
//! where it lives and how it is keyed. containers/image reads, in order, the
//! *primary* file (`$REGISTRY_AUTH_FILE`; else `$XDG_RUNTIME_DIR/containers/auth.json`;
//! else `/run/containers/UID/auth.json` on Linux, `~/.config/containers/auth.json`
//! elsewhere), then `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`, then
//! Docker's config.json; the first file that knows a registry wins, and
//! `podman login` and `logout` write only the primary one. Its `credHelpers`
//! is looked up by registry host alone (a namespaced key such as
//! `quay.io/org` is never consulted), Docker Hub is `docker.io`, and the
//! helper is called with that same host. It has no `credsStore`.

use std::path::PathBuf;

use crate::registry::Registry;

/// What decides where the files are, as the environment gives it.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// `REGISTRY_AUTH_FILE`.
    pub auth_file: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`.
    pub runtime_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`.
    pub config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Places {
    /// The file podman reads first and `podman login` writes.
    pub fn primary(&self) -> Option<PathBuf> {
        if let Some(file) = &self.auth_file {
            return Some(file.clone());
        }
        if cfg!(any(windows, target_os = "macos")) {
            return self.persistent();
        }
        if let Some(runtime) = &self.runtime_dir {
            return Some(runtime.join("containers").join("auth.json"));
        }
        Some(per_uid_file())
    }

    /// The file read after the primary one, which survives a reboot.
    pub fn persistent(&self) -> Option<PathBuf> {
        let config = match &self.config_home {
            Some(dir) => dir.clone(),
            None => self.home.as_ref()?.join(".config"),
        };
        Some(config.join("containers").join("auth.json"))
    }

    /// The files `configure-podman` wires: the primary one, so that `podman
    /// login` stores through the helper, and the persistent one (unless
    /// `REGISTRY_AUTH_FILE` pins one file), so that a reboot that empties the
    /// runtime folder does not undo it.
    pub fn to_wire(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.primary().into_iter().collect();
        if self.auth_file.is_none()
            && let Some(persistent) = self.persistent()
            && !files.contains(&persistent)
        {
            files.push(persistent);
        }
        files
    }
}

#[cfg(unix)]
fn per_uid_file() -> PathBuf {
    PathBuf::from(format!(
        "/run/containers/{}/auth.json",
        rustix::process::getuid().as_raw()
    ))
}

#[cfg(not(unix))]
fn per_uid_file() -> PathBuf {
    PathBuf::new()
}

/// The `credHelpers` key containers/image looks `registry` up by.
pub fn key(registry: &Registry) -> String {
    match registry {
        Registry::Host(host) => host.clone(),
        _ => "docker.io".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reaches_the_key_podman_looks_up() {
        for (address, expected) in [
            ("docker.io", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("quay.io/org", "quay.io"),
            ("quay.io/org/image", "quay.io"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ] {
            assert_eq!(
                key(&Registry::parse(address).unwrap()),
                expected,
                "{address}"
            );
        }
    }

    #[test]
    fn the_primary_file_follows_containers_image() {
        let home = Some(PathBuf::from("/home/u"));
        let places = Places {
            home: home.clone(),
            ..Places::default()
        };
        let runtime = Places {
            runtime_dir: Some("/run/user/1000".into()),
            home: home.clone(),
            ..Places::default()
        };
        let pinned = Places {
            auth_file: Some("/etc/auth.json".into()),
            runtime_dir: Some("/run/user/1000".into()),
            home,
            ..Places::default()
        };
        if cfg!(target_os = "linux") {
            assert_eq!(
                runtime.to_wire(),
                [
                    PathBuf::from("/run/user/1000/containers/auth.json"),
                    PathBuf::from("/home/u/.config/containers/auth.json")
                ]
            );
            assert!(places.primary().unwrap().starts_with("/run/containers/"));
        }
        assert_eq!(pinned.to_wire(), [PathBuf::from("/etc/auth.json")]);
        assert_eq!(
            places.persistent(),
            Some(PathBuf::from("/home/u/.config/containers/auth.json"))
        );
    }
}
