//! A GitLab to test against: the GitLab double, the registry it feeds, a
//! keyring and a private environment configured for it, and the steps the
//! GitLab tests share (log in, create, push, read back).

use std::process::Output;

use super::gitlab::GitlabDouble;
use super::*;

pub const USER: &str = "alice";

/// A keyring, a private environment, a GitLab double with alice (owner of
/// `team/app`) and her `api` token, and the registry it feeds, configured in
/// config.toml as a GitLab registry.
pub struct Setup {
    pub keyring: SecretService,
    pub env: Env,
    pub gitlab: GitlabDouble,
    /// Runs while the setup lives.
    pub _registry: Registry,
    pub host: String,
    pub project: u64,
    pub manage: String,
}

pub fn setup() -> Setup {
    setup_with("")
}

/// [`setup`], with more lines for config.toml.
pub fn setup_with(config: &str) -> Setup {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let gitlab = GitlabDouble::start();
    let alice = gitlab.add_user(USER);
    let project = gitlab.add_project("team/app", &[(alice, 50)]);
    let (_, manage) = gitlab.add_personal_token(alice, "manage", &["api"]);
    let registry = gitlab.start_registry();
    let host = registry.host.clone();
    env.write_config_toml(&format!(
        "{config}\n[registries.\"{host}\"]\nkind = \"gitlab\"\napi = \"{}\"\n",
        gitlab.api_url()
    ));
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}}}}"
    ));
    Setup {
        keyring,
        env,
        gitlab,
        _registry: registry,
        host,
        project,
        manage,
    }
}

pub fn run_gitlab(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["gitlab"];
    all.extend_from_slice(args);
    env.run(&all, "")
}

/// [`setup_with`] `config`, logged in.
pub fn logged_in(config: &str) -> Setup {
    let setup = setup_with(config);
    login(&setup);
    setup
}

pub fn login(setup: &Setup) -> String {
    login_on(&setup.env, setup)
}

/// `gitlab login` with alice's api token, on another machine's `env`.
pub fn login_on(env: &Env, setup: &Setup) -> String {
    ok(&env.run(
        &[
            "gitlab",
            "login",
            "--registry",
            &setup.host,
            "--token-stdin",
        ],
        &setup.manage,
    ))
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(output)).unwrap()
}

/// What `get` serves for the registry now.
pub fn served(env: &Env, host: &str) -> Option<String> {
    let output = env.get(host);
    if !output.status.success() {
        return None;
    }
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    Some(reply["Secret"].as_str().unwrap().to_owned())
}

/// `gitlab create --integration NAME --project team/app` on `env` for
/// `host`, with more arguments.
pub fn create(env: &Env, host: &str, integration: &str, more: &[&str]) -> Output {
    let mut args = vec![
        "create",
        "--registry",
        host,
        "--integration",
        integration,
        "--project",
        "team/app",
    ];
    args.extend_from_slice(more);
    run_gitlab(env, &args)
}

/// `gitlab create` of `ci` on team/app: developer, expiring in 30 days.
pub fn create_ci(setup: &Setup, scopes: &str) -> String {
    ok(&create(
        &setup.env,
        &setup.host,
        "ci",
        &["--scopes", scopes, "--role", "developer", "--expires", "30"],
    ))
}

/// The scopes and role of a token that pushes.
pub const PUSHER: &[&str] = &[
    "--scopes",
    "read_registry,write_registry",
    "--role",
    "developer",
];

/// `gitlab tokens --project team/app --json`.
pub fn project_tokens(setup: &Setup) -> serde_json::Value {
    json(&run_gitlab(
        &setup.env,
        &[
            "tokens",
            "--registry",
            &setup.host,
            "--project",
            "team/app",
            "--json",
        ],
    ))
}

/// True when the double saw a POST whose path ends with `suffix`.
pub fn posted(setup: &Setup, suffix: &str) -> bool {
    setup
        .gitlab
        .http()
        .events()
        .iter()
        .any(|e| e.method == "POST" && e.path().ends_with(suffix))
}

pub fn reference(setup: &Setup) -> String {
    format!("{}/team/app:1", setup.host)
}

/// Pushes a small image to team/app with the stored token (skopeo through the helper).
pub fn push(setup: &Setup) {
    ok(&setup.env.push_small_image(&reference(setup)));
}

/// True when Docker, through the helper, may read team/app.
pub fn docker_reads(setup: &Setup) -> bool {
    setup.env.docker_inspect(&reference(setup)).status.success()
}
