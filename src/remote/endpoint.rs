//! Which token API a registry has, and where it is.
//!
//! A token's registry comes from its name (`ci@registry.gitlab.com`); its
//! API from, in order: the environment's override for that kind of API
//! (`DOCKER_PAT_GITLAB_API`, `DOCKER_PAT_GITHUB_API`, `DOCKER_PAT_HUB_URL`), a `[registries."HOST"]`
//! table of config.toml, or what is known without one (Docker Hub,
//! `registry.gitlab.com` → gitlab.com, `ghcr.io` → GitHub).

use crate::config::registries::{ApiKind, check_api_url};
use crate::config::{Config, ENV_GITHUB_API, ENV_GITLAB_API, Environment};
use crate::registry::Registry;

/// The kinds of token API, Docker Hub's among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Hub,
    Gitlab,
    /// GitHub: ghcr.io, or a GitHub Enterprise server's registry.
    Github,
}

/// Where a registry's token API is, and which setting said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub kind: Kind,
    pub registry: Registry,
    /// The API's base URL, without a trailing `/`.
    pub api: String,
    /// The setting that gave the address, for error messages.
    pub setting: String,
}

const GITLAB_COM_REGISTRY: &str = "registry.gitlab.com";
const GITLAB_COM_API: &str = "https://gitlab.com/api/v4";
const GHCR: &str = "ghcr.io";
const GITHUB_API: &str = "https://api.github.com";

impl Endpoint {
    /// True for a GitHub Enterprise Server's API, which is always at
    /// `/api/v3`; github.com's and GHE.com's are at the root of their host.
    pub(crate) fn is_github_enterprise_server(&self) -> bool {
        self.kind == Kind::Github && self.api.ends_with("/api/v3")
    }
}

/// The token API of `registry`, if it has one the helper knows of.
pub(crate) fn of(
    registry: &Registry,
    config: &Config,
    env: &Environment,
) -> Result<Option<Endpoint>, String> {
    if registry.is_docker_hub() {
        return Ok(Some(Endpoint {
            kind: Kind::Hub,
            registry: registry.clone(),
            api: env.hub_url(config).map_err(|e| e.to_string())?,
            setting: "hub_url in config.toml (DOCKER_PAT_HUB_URL)".into(),
        }));
    }
    let table = config.registry_api(registry);
    let kind = match (table.map(|t| t.kind), registry.key()) {
        (Some(ApiKind::Gitlab), _) | (None, GITLAB_COM_REGISTRY) => Kind::Gitlab,
        (Some(ApiKind::Github), _) | (None, GHCR) => Kind::Github,
        (None, _) => return Ok(None),
    };
    Ok(Some(located(kind, registry, config, env)?))
}

/// The GitLab API of `registry`: as [`of`] finds it, or else the address
/// `DOCKER_PAT_GITLAB_API` gives, or an error saying how to configure one.
pub(crate) fn gitlab(
    registry: &Registry,
    config: &Config,
    env: &Environment,
) -> Result<Endpoint, String> {
    of_kind(Kind::Gitlab, registry, config, env)
}

/// The GitHub API of `registry`, the same way: ghcr.io's is known, a GitHub
/// Enterprise server's is named in config.toml (or `DOCKER_PAT_GITHUB_API`).
pub(crate) fn github(
    registry: &Registry,
    config: &Config,
    env: &Environment,
) -> Result<Endpoint, String> {
    of_kind(Kind::Github, registry, config, env)
}

fn of_kind(
    kind: Kind,
    registry: &Registry,
    config: &Config,
    env: &Environment,
) -> Result<Endpoint, String> {
    let (word, overridden, example) = match kind {
        Kind::Gitlab => (
            "GitLab",
            env.gitlab_api.is_some(),
            "gitlab\"` and `api = \"https://GITLAB-HOST/api/v4",
        ),
        Kind::Github | Kind::Hub => (
            "GitHub",
            env.github_api.is_some(),
            "github\"` and `api = \"https://GITHUB-HOST/api/v3",
        ),
    };
    match of(registry, config, env)? {
        Some(endpoint) if endpoint.kind == kind => Ok(endpoint),
        Some(_) => Err(format!("{registry} is not a {word} registry")),
        None if overridden => located(kind, registry, config, env),
        None => Err(format!(
            "no {word} API is configured for {registry}: add `[registries.\"{registry}\"]` with `kind = \"{example}\"` to config.toml"
        )),
    }
}

fn located(
    kind: Kind,
    registry: &Registry,
    config: &Config,
    env: &Environment,
) -> Result<Endpoint, String> {
    let from_env = match kind {
        Kind::Gitlab => env.gitlab_api.as_deref().map(|a| (a, ENV_GITLAB_API)),
        Kind::Github => env.github_api.as_deref().map(|a| (a, ENV_GITHUB_API)),
        Kind::Hub => None,
    };
    let key = registry.key();
    let (api, setting) = match (from_env, config.registry_api(registry)) {
        (Some((api, variable)), _) => (api.to_owned(), variable.to_owned()),
        (None, Some(table)) => (
            table.api.clone(),
            format!("[registries.\"{key}\"] api in config.toml"),
        ),
        (None, None) => match kind {
            Kind::Gitlab => (
                GITLAB_COM_API.to_owned(),
                "the built-in gitlab.com API".into(),
            ),
            Kind::Github | Kind::Hub => (GITHUB_API.to_owned(), "the built-in GitHub API".into()),
        },
    };
    check_api_url(&api).map_err(|message| format!("{setting}: {message}"))?;
    Ok(Endpoint {
        kind,
        registry: registry.clone(),
        api: api.trim_end_matches('/').to_owned(),
        setting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(text: &str) -> Registry {
        Registry::parse(text).unwrap()
    }

    #[test]
    fn known_registries_need_no_table_and_others_do() {
        let config = Config::default();
        let env = Environment::default();
        let found = of(&registry("registry.gitlab.com"), &config, &env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.kind, found.api.as_str()),
            (Kind::Gitlab, GITLAB_COM_API)
        );
        assert_eq!(
            of(&registry("ghcr.io"), &config, &env)
                .unwrap()
                .unwrap()
                .kind,
            Kind::Github
        );
        assert_eq!(
            of(&registry("docker.io"), &config, &env)
                .unwrap()
                .unwrap()
                .kind,
            Kind::Hub
        );
        assert!(
            of(&registry("gitlab.example.com"), &config, &env)
                .unwrap()
                .is_none()
        );
        let error = gitlab(&registry("gitlab.example.com"), &config, &env).unwrap_err();
        assert!(
            error.contains("[registries.\"gitlab.example.com\"]"),
            "{error}"
        );
    }

    #[test]
    fn a_table_names_the_api_and_the_environment_overrides_it() {
        let config = Config::parse(
            "[registries.\"gitlab.example.com:5050\"]\nkind = \"gitlab\"\napi = \"https://gitlab.example.com/api/v4/\"\n",
        )
        .unwrap();
        let env = Environment::default();
        let found = gitlab(&registry("gitlab.example.com:5050"), &config, &env).unwrap();
        assert_eq!(found.api, "https://gitlab.example.com/api/v4");
        let env = Environment {
            gitlab_api: Some("http://127.0.0.1:9/api/v4".into()),
            ..Environment::default()
        };
        let found = gitlab(&registry("gitlab.example.com:5050"), &config, &env).unwrap();
        assert_eq!(
            (found.api.as_str(), found.setting.as_str()),
            ("http://127.0.0.1:9/api/v4", ENV_GITLAB_API)
        );
        let env = Environment {
            gitlab_api: Some("http://gitlab.example.com/api/v4".into()),
            ..Environment::default()
        };
        let error = gitlab(&registry("registry.gitlab.com"), &config, &env).unwrap_err();
        assert!(
            error.starts_with(ENV_GITLAB_API) && error.contains("loopback"),
            "{error}"
        );
    }

    #[test]
    fn ghcr_is_known_and_a_github_enterprise_registry_is_named_by_a_table() {
        let config = Config::parse(
            "[registries.\"containers.example.com\"]\nkind = \"github\"\napi = \"https://github.example.com/api/v3\"\n",
        )
        .unwrap();
        let env = Environment::default();
        let ghcr = github(&registry("ghcr.io"), &config, &env).unwrap();
        assert_eq!(ghcr.api, GITHUB_API);
        let ghes = github(&registry("containers.example.com"), &config, &env).unwrap();
        assert_eq!(
            (ghes.kind, ghes.api.as_str()),
            (Kind::Github, "https://github.example.com/api/v3")
        );
        // Only a GitHub Enterprise Server's API is at /api/v3; its revocation is authenticated.
        assert!(ghes.is_github_enterprise_server());
        assert!(!ghcr.is_github_enterprise_server());
        let error = github(&registry("other.example.com"), &config, &env).unwrap_err();
        assert!(error.contains("kind = \"github\""), "{error}");
        assert!(github(&registry("registry.gitlab.com"), &config, &env).is_err());
        let env = Environment {
            github_api: Some("http://127.0.0.1:9".into()),
            ..Environment::default()
        };
        let found = github(&registry("ghcr.io"), &config, &env).unwrap();
        assert_eq!(
            (found.api.as_str(), found.setting.as_str()),
            ("http://127.0.0.1:9", ENV_GITHUB_API)
        );
        let env = Environment {
            github_api: Some("http://api.github.example".into()),
            ..Environment::default()
        };
        let error = github(&registry("ghcr.io"), &config, &env).unwrap_err();
        assert!(
            error.starts_with(ENV_GITHUB_API) && error.contains("loopback"),
            "{error}"
        );
    }
}
