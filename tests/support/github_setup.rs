//! A GitHub to test against: the GitHub double, the registry that takes it
//! as its token service (as ghcr.io does GitHub's), a keyring and a private
//! environment, and the steps the GitHub tests share.

use std::process::Output;

use chrono::Utc;

use super::github::GithubDouble;
pub use super::gitlab_setup::{json, served};
use super::*;

pub const USER: &str = "octocat";
pub const PUSH: &[&str] = &["read:packages", "write:packages"];

pub struct Setup {
    /// Runs while the setup lives; the kill tests stop its helpers with it.
    pub keyring: SecretService,
    pub env: Env,
    pub github: GithubDouble,
    pub _registry: Registry,
    pub host: String,
}

/// A keyring, a private environment, the GitHub double and the registry it
/// feeds, configured in config.toml as a GitHub registry (as ghcr.io is
/// known without one) whose API `DOCKER_PAT_GITHUB_API` points at the
/// double, with more lines for config.toml.
pub fn setup_with(config: &str) -> Setup {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    let github = GithubDouble::start();
    // Every test's default is a closed port (support::CLOSED_GITHUB_API).
    env.set("DOCKER_PAT_GITHUB_API", &github.url);
    let registry = github.start_registry();
    let host = registry.host.clone();
    env.write_config_toml(&format!(
        "{config}\n[registries.\"{host}\"]\nkind = \"github\"\napi = \"{}\"\n",
        github.url
    ));
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}}}}"
    ));
    Setup {
        keyring,
        env,
        github,
        _registry: registry,
        host,
    }
}

pub fn setup() -> Setup {
    setup_with("")
}

pub fn run_github(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["github"];
    all.extend_from_slice(args);
    env.run(&all, "")
}

pub fn reference(setup: &Setup) -> String {
    format!("{}/{USER}/app:1", setup.host)
}

/// True when Docker, through the helper, may read octocat/app.
pub fn docker_reads(setup: &Setup) -> bool {
    setup.env.docker_inspect(&reference(setup)).status.success()
}

/// How many `GET /user` the double has answered.
pub fn checks(setup: &Setup) -> usize {
    setup
        .github
        .http()
        .events()
        .iter()
        .filter(|e| e.method == "GET" && e.path() == "/user")
        .count()
}

/// A pushing token stored by `docker login`, with an image pushed under it.
pub fn logged_in(setup: &Setup, expires_in_days: Option<i64>) -> String {
    let expiry = expires_in_days.map(|d| Utc::now() + chrono::Duration::days(d));
    let (_, token) = setup.github.add_classic_token(USER, PUSH, expiry);
    ok(&setup.env.docker_login(&setup.host, USER, &token));
    ok(&setup.env.push_small_image(&reference(setup)));
    token
}

/// `github rotate NAME --token-stdin` given `new`.
pub fn rotate(env: &Env, name: &str, new: &str) -> Output {
    env.run(&["github", "rotate", name, "--token-stdin"], new)
}
