//! Several accounts on one registry, chosen by where the client runs: the
//! `[[select]]` rules end to end, with the registry's own log as the witness
//! of which account each request came as.
//!
//! - `clients`: docker, skopeo, podman and buildah in `~/work/app` and
//!   `~/oss/lib`, `DOCKER_PAT_INTEGRATION`, and `exec`;
//! - `login`: `docker login` and `logout` following the rules;
//! - `go_client`: the protocol table through docker-credential-helpers' Go client, rules present;
//! - `commands`: `which`, `exec`'s exit status and signals, `doctor`'s findings;
//! - `readme`: the README's session, run as written.

mod clients;
mod commands;
mod go_client;
mod login;
mod readme;

use std::path::Path;

use crate::support::*;

/// `~/work/**` uses the `work` integration's tokens.
pub const WORK_RULE: &str = "[[select]]\ndir = \"~/work/**\"\nintegration = \"work\"\n";

/// A helper environment whose Docker config, and containers' auth.json (through
/// `configure-podman`), send `host` to the helper.
pub fn wired(keyring: &SecretService, host: &str) -> Env {
    let mut env = Env::new(keyring);
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}}}}"
    ));
    let auth = env.root.path().join("containers-auth.json");
    env.set("REGISTRY_AUTH_FILE", auth.to_str().unwrap());
    let done = ok(&env.run(&["configure-podman", "--registry", host], ""));
    assert!(done.contains("Configured"), "{done}");
    let written = std::fs::read_to_string(&auth).unwrap();
    assert!(
        written.contains(&format!("\"{host}\": \"pat\"")),
        "{written}"
    );
    env
}

/// Runs `f` with `DOCKER_PAT_INTEGRATION` set to `integration`.
pub fn as_integration<T>(env: &mut Env, integration: &str, f: impl FnOnce(&Env) -> T) -> T {
    env.set("DOCKER_PAT_INTEGRATION", integration);
    let result = f(env);
    env.vars.retain(|(k, _)| k != "DOCKER_PAT_INTEGRATION");
    result
}

/// Private storage for podman and buildah under the test's folder, holding one image.
pub struct Storage {
    flags: Vec<String>,
    image: String,
}

impl Storage {
    /// The storage, holding an empty image called `image`.
    pub fn new(env: &Env, image: &str) -> Self {
        require_tool("podman", "podman");
        require_tool("buildah", "buildah");
        let root = env.root.path();
        let flags = vec![
            "--root".to_owned(),
            root.join("storage").display().to_string(),
            "--runroot".to_owned(),
            root.join("runroot").display().to_string(),
            "--storage-driver".to_owned(),
            "vfs".to_owned(),
        ];
        let layout = root.join("layout");
        make_oci_layout(&layout);
        let storage = Self {
            flags,
            image: image.to_owned(),
        };
        // An empty image made offline, in the private storage podman reads too.
        let from = ok(&storage.buildah(env, env.root.path(), &["from", "scratch"]));
        ok(&storage.buildah(
            env,
            env.root.path(),
            &["commit", "-q", from.trim(), &storage.image],
        ));
        storage
    }

    pub fn podman(&self, env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        all.extend(["--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
        all.extend(args);
        env.client_in(dir, "podman", &all, "")
    }

    /// `podman push` or `buildah push` of the image to `reference`.
    pub fn push(&self, env: &Env, dir: &Path, tool: &str, reference: &str) -> std::process::Output {
        let destination = format!("docker://{reference}");
        let args = [
            "push",
            "-q",
            "--tls-verify=false",
            &self.image,
            &destination,
        ];
        match tool {
            "podman" => self.podman(env, dir, &args),
            _ => self.buildah(env, dir, &args),
        }
    }

    pub fn buildah(&self, env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        all.extend(args);
        env.client_in(dir, "buildah", &all, "")
    }
}
