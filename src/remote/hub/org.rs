//! Organisation access tokens in people's words: organisation names, the
//! repository patterns and scopes of `hub create --org`, and resources as
//! the tables show them.

use crate::index::HubResource;

/// Scopes on repositories, each including the ones before it.
const IMAGE_SCOPES: [&str; 3] = ["image-pull", "image-push", "image-delete"];
/// Scopes on the organisation itself.
const ORG_SCOPES: [&str; 3] = ["repository-create", "repository-list", "member-read"];

/// The scope given when `--scopes` is not.
pub(crate) const DEFAULT_SCOPES: &str = "image-pull";

/// A Docker Hub organisation name: 2 to 255 lowercase letters, digits, `-` or `_`.
pub(crate) fn check_org(name: &str) -> Result<String, String> {
    let name = name.trim().to_ascii_lowercase();
    let fine = (2..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if fine {
        Ok(name)
    } else {
        Err(format!(
            "{:?} is not a Docker Hub organisation name (2 to 255 lowercase letters, digits, - or _)",
            crate::text::printable(&name, 60)
        ))
    }
}

/// The resources of a new organisation token: each `--repo` pattern
/// (`app`, `ORG/app`, `ORG/*`, `*/*/public`) with the image scopes, and the
/// organisation itself with the organisation scopes, when any are asked.
pub(crate) fn resources(
    org: &str,
    repos: &[String],
    scopes: &str,
) -> Result<Vec<HubResource>, String> {
    let mut image = Vec::new();
    let mut on_org = Vec::new();
    for word in scopes.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let word = word.to_ascii_lowercase();
        let bare = word.strip_prefix("scope-").unwrap_or(&word).to_owned();
        let list = if IMAGE_SCOPES.contains(&bare.as_str()) {
            &mut image
        } else if ORG_SCOPES.contains(&bare.as_str()) {
            &mut on_org
        } else {
            return Err(format!(
                "unknown scope {:?} for an organisation token: use {} (on repositories) or {} (on the organisation)",
                crate::text::printable(&word, 40),
                IMAGE_SCOPES.join(", "),
                ORG_SCOPES.join(", ")
            ));
        };
        let full = format!("scope-{bare}");
        if !list.contains(&full) {
            list.push(full);
        }
    }
    if !repos.is_empty() && image.is_empty() {
        return Err(format!(
            "--repo needs an image scope: {}",
            IMAGE_SCOPES.join(", ")
        ));
    }
    if repos.is_empty() && !image.is_empty() {
        return Err(format!(
            "say which repositories the token reaches: --repo {org}/NAME, --repo '{org}/*' or --repo '*/*/public'"
        ));
    }
    let mut resources = Vec::new();
    for repo in repos {
        let path = repo_path(org, repo)?;
        if !resources.iter().any(|r: &HubResource| r.path == path) {
            resources.push(HubResource {
                kind: "TYPE_REPO".into(),
                path,
                scopes: image.clone(),
            });
        }
    }
    if !on_org.is_empty() {
        resources.push(HubResource {
            kind: "TYPE_ORG".into(),
            path: org.to_owned(),
            scopes: on_org,
        });
    }
    Ok(resources)
}

/// A repository pattern as Hub takes it: `ORG/NAME` (a bare `NAME` is the
/// organisation's), `ORG/*`-style globs, or `*/*/public`.
fn repo_path(org: &str, text: &str) -> Result<String, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "*/*/public" {
        return Ok(text);
    }
    let (owner, name) = text.split_once('/').unwrap_or((org, text.as_str()));
    let name_fine = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'*')
        });
    if owner != org || !name_fine {
        return Err(format!(
            "{:?} is not a repository of {org}: give {org}/NAME, '{org}/*' (a * matches within the name) or '*/*/public'",
            crate::text::printable(&text, 80)
        ));
    }
    Ok(format!("{org}/{name}"))
}

/// Resources as the tables show them: `acme/*: image-pull; acme: repository-list`.
pub(crate) fn short_resources(resources: &[HubResource]) -> String {
    if resources.is_empty() {
        return "-".into();
    }
    resources
        .iter()
        .map(HubResource::short)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_patterns_and_scopes_become_hubs_resources() {
        let made = resources(
            "acme",
            &["app".into(), "acme/*".into(), "*/*/public".into()],
            "image-pull,scope-image-push,repository-list",
        )
        .unwrap();
        let paths: Vec<&str> = made.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["acme/app", "acme/*", "*/*/public", "acme"]);
        assert_eq!(made[0].scopes, ["scope-image-pull", "scope-image-push"]);
        assert_eq!(made[3].kind, "TYPE_ORG");
        assert_eq!(made[3].scopes, ["scope-repository-list"]);
        assert_eq!(
            short_resources(&made[..1]),
            "acme/app: image-pull, image-push"
        );
        for (repos, scopes) in [
            (vec!["other/app".to_owned()], "image-pull"),
            (vec!["acme/".to_owned()], "image-pull"),
            (vec!["acme/app".to_owned()], "admin"),
            (vec![], "image-pull"),
            (vec!["acme/app".to_owned()], "repository-list"),
        ] {
            let error = resources("acme", &repos, scopes).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
        assert!(check_org("Acme").is_ok());
        assert!(check_org("acme/../x").is_err());
        assert!(check_org("a").is_err());
    }
}
