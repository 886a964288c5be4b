//! Several accounts on one registry, chosen by where the client runs: the
//! `[[select]]` rules end to end, with the registry's own log as the witness
//! of which account each request came as.
//!
//! - `clients`: docker, skopeo, podman and buildah in `~/work/app` and
//!   `~/oss/lib`, `DOCKER_PAT_INTEGRATION`, and `exec`;
//! - `login`: `docker login` and `logout` following the rules;
//! - `go_client`: the protocol table through docker-credential-helpers' Go client, rules present;
//! - `commands`: `which`, `exec`'s exit status and signals, `doctor`'s findings.

mod clients;
mod commands;
mod go_client;
mod login;

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
