//! The common set-up of the tests that manage Docker Hub tokens: a keyring and a
//! data folder pointed at a fresh Hub double with `alice` on it, signed in, and
//! the bridge through which Docker and skopeo reach the registry that takes its
//! tokens from the double.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::hub::HubDouble;
use super::*;

pub const PASSWORD: &str = "correct horse battery staple";
pub const USER: &str = "alice";

/// A keyring, a private environment pointed at a fresh Hub double with `alice` on it.
pub struct Setup {
    pub keyring: SecretService,
    pub env: Env,
    pub hub: HubDouble,
}

pub fn setup() -> Setup {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    let hub = HubDouble::start();
    hub.add_user(USER, PASSWORD);
    env.set("DOCKER_PAT_HUB_URL", &hub.url);
    Setup { keyring, env, hub }
}

pub fn login(env: &Env) -> String {
    ok(&env.run(
        &["hub", "login", "--username", USER, "--password-stdin"],
        PASSWORD,
    ))
}

/// What `get` serves for Docker Hub now (with `DOCKER_PAT_INTEGRATION` as set in `env`);
/// `None` only for the protocol's "not found", any other failure fails the test.
pub fn served(env: &Env) -> Option<String> {
    let output = env.get("docker.io");
    if !output.status.success() {
        assert_eq!(
            fails(&output),
            "credentials not found in native keychain\n",
            "{}",
            stderr(&output)
        );
        return None;
    }
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    Some(reply["Secret"].as_str().unwrap().to_owned())
}

/// The registry that takes its tokens from the double, and the image the tests push to it.
pub struct HubRegistry {
    pub registry: Registry,
    /// `HOST/alice/app:1`.
    pub reference: String,
}

impl HubRegistry {
    pub fn start(hub: &HubDouble) -> Self {
        let registry = hub.start_registry();
        let reference = format!("{}/alice/app:1", registry.host);
        Self {
            registry,
            reference,
        }
    }

    /// Pushes a small image with skopeo through `env`'s bridge: a use of the token
    /// the helper serves for Docker Hub, recorded as skopeo's.
    pub fn push(&self, env: &Env) {
        push_through_bridge(env, &bridge(env), &self.registry, &self.reference);
    }

    /// True when the registry lets `secret` read the image; see [`registry_accepts`].
    pub fn accepts(&self, env: &Env, secret: &str) -> bool {
        registry_accepts(env, &self.registry, secret, &self.reference)
    }
}

/// A credential helper standing between a client and the helper: it serves
/// the token the helper holds for Docker Hub to the local registry, which
/// plays Docker Hub's registry here. The helper itself answers, so each use
/// is recorded as Docker's (or skopeo's) own.
pub fn bridge(env: &Env) -> PathBuf {
    let dir = env.root.path().join("bridge");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("docker-credential-hubpat");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nexec '{BIN}' get <<EOF\ndocker.io\nEOF\n"),
    )
    .unwrap();
    set_mode(&script, 0o755);
    dir
}

/// Runs `program` (docker, skopeo) with the bridge and the helper on PATH.
pub fn client(env: &Env, bridge: &Path, program: &str, args: &[&str]) -> Output {
    env.client_with(&[bridge], program, args, "")
}

/// An authfile that sends the registry's logins through the bridge.
pub fn bridged_authfile(env: &Env, registry: &Registry) -> String {
    let path = env.root.path().join("bridged-auth.json");
    std::fs::write(
        &path,
        format!("{{\"credHelpers\":{{\"{}\":\"hubpat\"}}}}", registry.host),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// True when the registry lets `secret` (as alice) read `reference`, asked by
/// skopeo with the secret in an authfile of its own: no helper involved.
pub fn registry_accepts(env: &Env, registry: &Registry, secret: &str, reference: &str) -> bool {
    registry_accepts_as(env, registry, USER, secret, reference)
}

/// The same for `user` (an organisation, with one of its access tokens).
pub fn registry_accepts_as(
    env: &Env,
    registry: &Registry,
    user: &str,
    secret: &str,
    reference: &str,
) -> bool {
    let path = env.root.path().join("direct-auth.json");
    registry.plaintext_authfile(&path, user, secret);
    let output = env.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        path.to_str().unwrap(),
        &format!("docker://{reference}"),
    ]);
    std::fs::remove_file(&path).unwrap();
    // A refusal is the registry's "unauthorized"; any other failure says nothing about the token.
    let refused = stderr(&output).contains("unauthorized");
    assert!(
        output.status.success() || refused,
        "skopeo failed for another reason than a refused token: {}",
        stderr(&output)
    );
    output.status.success()
}

/// Pushes a small image through the bridge.
pub fn push_through_bridge(env: &Env, bridge: &Path, registry: &Registry, reference: &str) {
    let layout = env.root.path().join("image");
    make_oci_layout(&layout);
    let authfile = bridged_authfile(env, registry);
    let source = format!("oci:{}:latest", layout.display());
    ok(&client(
        env,
        bridge,
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            &authfile,
            &source,
            &format!("docker://{reference}"),
        ],
    ));
}
