//! `doctor`: checks the whole setup and repairs what can be repaired without losing a secret.
//!
//! Each check adds findings: one line each, saying what is wrong and what to do.
//! Repairs that touch the index or the store run under the data lock, so a
//! `store` running at the same moment can never be mistaken for an orphan.
//! A backend that cannot be reached is reported and left out of the
//! comparison; it is never taken for an empty one.

use crate::config::ConfigError;
use crate::error::ServiceError;
use crate::finding::Finding;
use crate::fsutil::FsError;
use crate::index::IndexError;
use crate::service::Service;
use crate::service::tokens::TokenView;
use chrono::Utc;

mod caches;
mod data;
mod docker;
mod permissions;
mod podman;
mod remote;
mod rules;

/// Runs every check; with `repair`, fixes what it safely can along the way.
///
/// `config_error` is why config.toml could not be read, if it could not
/// (the service then runs on defaults). Errors returned here mean doctor
/// itself could not run, for instance because another process holds the lock.
pub fn run(
    service: &Service,
    config_error: Option<ConfigError>,
    repair: bool,
) -> Result<Vec<Finding>, ServiceError> {
    let mut findings = Vec::new();
    // The lock comes first: config.toml is edited under it too.
    let begin = || crate::index::IndexWriter::begin_for_repair(&service.paths);
    let mut permissions_checked = false;
    let (mut writer, damage) = match begin() {
        Ok(begun) => begun,
        Err(IndexError::Fs(FsError::Symlink { .. })) => {
            // A link in place of the lock or the index: report it (and, with
            // --repair, remove what can be), then carry on if that cleared the way.
            permissions::check(service, false, repair, &mut findings);
            permissions_checked = true;
            match begin() {
                Ok(begun) => begun,
                Err(IndexError::Fs(FsError::Symlink { .. })) => return Ok(findings),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    data::check_config(service, config_error, repair, &mut findings);
    let stores = data::check_backends(service, &writer.index, &mut findings);
    match damage {
        Some(damage) => data::rebuild(service, &mut writer, damage, &stores, repair, &mut findings),
        None => data::compare(service, &mut writer, &stores, repair, &mut findings),
    }
    let index = writer.index.clone();
    drop(writer);
    if let Ok(true) = service.uses_server() {
        match service.server() {
            Ok(server) => findings.extend(server.health()),
            Err(e) => findings.push(Finding::problem(
                "openbao",
                e.to_string(),
                "fix the [openbao] table of config.toml or the BAO_* variables",
            )),
        }
    }
    let plaintext = docker::check(service, &index, repair, &mut findings);
    podman::check(service, &index, &mut findings);
    rules::check(service, &mut findings);
    check_tokens(service, &mut findings);
    check_hub_pending(service, &mut findings);
    check_hub(service, &mut findings);
    remote::check_gitlab(service, &mut findings);
    caches::check(service, &mut findings);
    if !permissions_checked {
        permissions::check(service, plaintext, repair, &mut findings);
    }
    Ok(findings)
}

/// Stale tokens and passwords kept for accounts that require tokens.
fn check_tokens(service: &Service, findings: &mut Vec<Finding>) {
    let Ok(views) = service.tokens() else {
        // A damaged index was reported above.
        return;
    };
    let now = Utc::now();
    let before = findings.len();
    for view in views.iter().filter(|v| v.record.active) {
        let name = &view.name;
        if service.is_stale(view, now) {
            let since = match view.usage.last_used_at {
                Some(at) => format!("has not been used for {} days", (now - at).num_days()),
                None => format!(
                    "was stored {} days ago and never used",
                    (now - view.record.created_at).num_days()
                ),
            };
            findings.push(Finding::warn(
                "stale",
                format!(
                    "{name} {since} (stale_after_days = {})",
                    service.config.stale_after_days
                ),
                format!(
                    "if nothing needs it, `docker-credential-pat deactivate {name}` or `delete {name}`, and revoke it at the registry"
                ),
            ));
        }
        let expires_at = view.record.expires_at;
        match crate::expiry::standing(expires_at, now, service.config.warn_expiry_days) {
            crate::expiry::Standing::Expired => findings.push(Finding::problem(
                "expiry",
                format!(
                    "{name} expired on {}; the registry refuses it",
                    crate::expiry::date(expires_at.expect("expired"))
                ),
                renew_fix(view),
            )),
            crate::expiry::Standing::Soon => findings.push(Finding::warn(
                "expiry",
                format!(
                    "{name} expires on {} ({}; warn_expiry_days = {})",
                    crate::expiry::date(expires_at.expect("expiring")),
                    crate::expiry::relative(expires_at, now),
                    service.config.warn_expiry_days
                ),
                renew_fix(view),
            )),
            crate::expiry::Standing::Open | crate::expiry::Standing::Later => {}
        }
        if view.password_on_protected_account {
            let user = crate::text::printable(&view.record.username, 64);
            findings.push(Finding::warn(
                "two-factor",
                format!(
                    "{name} holds a password for {user}, an account where only tokens may be stored"
                ),
                format!(
                    "create a personal access token and log in with it: `docker login {} -u {user}`",
                    name.registry.default_address()
                ),
            ));
        }
        check_github(view, findings);
    }
    if findings.len() == before {
        let active = views.iter().filter(|v| v.record.active).count();
        findings.push(Finding::ok(
            "tokens",
            format!(
                "{active} active token(s); none stale or expiring, no password where tokens are required"
            ),
        ));
    }
}

/// What GitHub last said of a ghcr.io token (kept by `github verify` and
/// the first store): a missing package scope, a refusal, and a rotation
/// whose old token is still to be revoked.
fn check_github(view: &TokenView, findings: &mut Vec<Finding>) {
    use crate::remote::github::{READ, REFUSED, WRITE, lacks};
    let name = &view.name;
    let Some(link) = view.record.remote.as_ref().filter(|l| l.api == "github") else {
        return;
    };
    let verify = format!("`docker-credential-pat github verify {name}` checks it again");
    if view
        .record
        .seen
        .as_ref()
        .is_some_and(|s| s.state == REFUSED)
    {
        findings.push(Finding::problem(
            "github",
            format!("GitHub refused {name} when it was last checked (wrong, expired or revoked)"),
            format!("`docker-credential-pat github rotate {name}` replaces it; {verify}"),
        ));
    } else if lacks(&view.record, READ) {
        findings.push(Finding::warn(
            "github",
            format!("{name} has no {READ} (nor {WRITE}): pulls from {} fail", name.registry),
            format!("`docker-credential-pat github rotate {name}` replaces it by a token with {READ}; {verify}"),
        ));
    } else if lacks(&view.record, WRITE) {
        findings.push(Finding::warn(
            "github",
            format!("{name} has no {WRITE}: pushes to {} fail", name.registry),
            format!("fine if it only pulls; else `docker-credential-pat github rotate {name}` replaces it"),
        ));
    }
    if let Some(rotating) = &link.rotating {
        findings.push(Finding::warn(
            "github",
            format!(
                "a `github rotate` of {name} stored the new token but has not yet had GitHub revoke the old one, kept as {}@{}",
                rotating.id, name.registry
            ),
            format!("`docker-credential-pat github rotate {name}` finishes it"),
        ));
    }
}

/// How to replace a token that expires: rotate it on Hub, or make a new one by hand.
fn renew_fix(view: &TokenView) -> String {
    let name = &view.name;
    if let Some(command) = view.record.rotated_by() {
        format!("`docker-credential-pat {command} rotate {name}` replaces it")
    } else {
        format!(
            "create a new token at the registry and store it: `docker login {}`",
            name.registry.default_address()
        )
    }
}

/// A `hub create` or `hub rotate` that stopped before it knew whether its new token was stored.
fn check_hub_pending(service: &Service, findings: &mut Vec<Finding>) {
    use crate::remote::hub::manage::pending::Pending;
    for (name, pending) in Pending::all(&service.paths) {
        // An organisation token's is settled through the organisation's calls.
        let org = crate::remote::hub::org_flag(pending.org.as_deref());
        let again = match &pending.replaces {
            Some(_) => format!("docker-credential-pat hub rotate {org}{name}"),
            None => format!(
                "docker-credential-pat hub create {org}--integration {}",
                name.split('@').next().unwrap_or_default()
            ),
        };
        findings.push(Finding::warn(
            "hub",
            format!(
                "a `hub {}` of {name} stopped before it knew whether the new Docker Hub token {} was stored",
                if pending.replaces.is_some() { "rotate" } else { "create" },
                pending.uuid
            ),
            format!("`{again}` finishes it: it keeps the token if it was stored, and deletes it from Docker Hub if not"),
        ));
    }
}

/// The audit of tokens linked to Docker Hub, when a Hub session is open (it
/// is never asked for here): the account's own tokens, and the access tokens
/// of each organisation a stored token is linked to.
fn check_hub(service: &Service, findings: &mut Vec<Finding>) {
    let mut orgs: Vec<Option<String>> = vec![None];
    if let Ok(entries) = service.ledger().and_then(|l| l.entries()) {
        for org in entries
            .iter()
            .filter_map(|e| e.record.hub.as_ref()?.org.clone())
        {
            if !orgs.contains(&Some(org.clone())) {
                orgs.push(Some(org));
            }
        }
    }
    let only_personal = orgs.len() == 1;
    for org in orgs {
        let Ok(hub) = crate::remote::hub::manage::Hub::open_for(service, org.as_deref()) else {
            continue;
        };
        if hub.session().is_err() {
            return;
        }
        let whose = org
            .as_deref()
            .map_or_else(String::new, |o| format!(" as the organisation {o}'s"));
        let audit = match hub.audit() {
            Ok(audit) => audit,
            Err(e) => {
                findings.push(Finding::warn(
                    "hub-audit",
                    format!("could not audit the tokens linked to Docker Hub{whose}: {e}"),
                    format!(
                        "`docker-credential-pat hub audit{}` says what to do",
                        org.as_deref()
                            .map_or_else(String::new, |o| format!(" --org {o}"))
                    ),
                ));
                continue;
            }
        };
        let before = findings.len();
        let reports = audit
            .tokens
            .iter()
            .flat_map(|token| token.reports())
            .chain(audit.stray_reports());
        remote::push_reports("hub-audit", reports, findings);
        if findings.len() == before && (only_personal || !audit.tokens.is_empty()) {
            findings.push(Finding::ok(
                "hub-audit",
                format!(
                    "{} token(s) linked to Docker Hub{whose}; every use Hub saw is accounted for",
                    audit.tokens.len()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::config::{Config, Paths};
    use crate::finding::Status;
    use crate::secret::Secret;
    use crate::store::memory::MemoryStore;
    use crate::store::{BackendKind, ItemMeta, SecretStore};

    const PAT: &str = "dckr_pat_abcdefghijklmnopqrstuvwxyz0";

    fn service() -> (tempfile::TempDir, Service, Rc<MemoryStore>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().join("pat"));
        let (service, store) = Service::in_memory(paths, Config::default());
        (dir, service, store)
    }

    fn secrets(findings: &[Finding]) -> Vec<&Finding> {
        findings
            .iter()
            .filter(|f| matches!(f.check, "secrets" | "index"))
            .collect()
    }

    fn meta(registry: &str, account: &str) -> ItemMeta {
        ItemMeta {
            registry: registry.into(),
            account: account.into(),
            token_id: crate::ids::new_id(),
        }
    }

    #[test]
    fn entry_without_secret_is_removed_only_on_repair() {
        let (_dir, service, store) = service();
        service
            .protocol_store("ghcr.io", "octo", &Secret::from_str_copy("pw"))
            .unwrap();
        let item = store.items().unwrap().remove(0).item;
        store.delete(&item).unwrap();

        let findings = run(&service, None, false).unwrap();
        let found = secrets(&findings);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].needs_attention() && found[0].repairable);
        assert!(found[0].message.contains("default@ghcr.io"));
        assert_eq!(service.tokens().unwrap().len(), 1, "nothing changed");

        let findings = run(&service, None, true).unwrap();
        assert!(
            secrets(&findings).iter().all(|f| f.repaired),
            "{findings:?}"
        );
        assert!(service.tokens().unwrap().is_empty());
        assert!(service.load_index().unwrap().retired.is_empty());
        let again = run(&service, None, false).unwrap();
        assert!(secrets(&again).iter().all(|f| f.status == Status::Ok));
    }

    #[test]
    fn orphan_item_is_adopted_inactive_with_its_secret() {
        let (_dir, service, store) = service();
        store
            .put(
                "0123456789abcdef",
                &meta("docker.io", "alice"),
                &Secret::from_str_copy(PAT),
            )
            .unwrap();
        let findings = run(&service, None, false).unwrap();
        assert!(secrets(&findings).iter().any(|f| f.needs_attention()));
        assert!(service.tokens().unwrap().is_empty());

        let findings = run(&service, None, true).unwrap();
        assert!(secrets(&findings).iter().all(|f| f.repaired));
        let tokens = service.tokens().unwrap();
        assert_eq!(tokens.len(), 1);
        let token = &tokens[0];
        assert_eq!(token.name.to_string(), "recovered-012345@docker.io");
        assert!(!token.record.active, "adopted tokens start inactive");
        assert_eq!(token.record.username, "alice");
        assert_eq!(
            store.get("0123456789abcdef").unwrap().unwrap().expose(),
            PAT,
            "the secret is untouched"
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn unreachable_store_is_not_taken_for_empty() {
        let (_dir, service, store) = service();
        service
            .protocol_store("ghcr.io", "octo", &Secret::from_str_copy("pw"))
            .unwrap();
        store.fail.set(true);
        let findings = run(&service, None, true).unwrap();
        let keychain: Vec<_> = findings.iter().filter(|f| f.check == "keychain").collect();
        assert_eq!(keychain[0].status, Status::Problem, "{keychain:?}");
        assert!(!findings.iter().any(|f| f.repaired), "{findings:?}");
        store.fail.set(false);
        assert_eq!(service.tokens().unwrap().len(), 1, "the token is kept");
    }

    #[test]
    fn damaged_index_is_rebuilt_from_item_metadata() {
        let (_dir, service, store) = service();
        service
            .protocol_store("ghcr.io", "octo", &Secret::from_str_copy("pw"))
            .unwrap();
        service
            .protocol_store("docker.io", "alice", &Secret::from_str_copy(PAT))
            .unwrap();
        std::fs::write(service.paths.index_file(), b"{\"version\":1,\"regis").unwrap();
        assert!(service.load_index().is_err());

        let findings = run(&service, None, false).unwrap();
        assert!(
            findings
                .iter()
                .any(|f| f.check == "index" && f.needs_attention())
        );
        let findings = run(&service, None, true).unwrap();
        let index: Vec<_> = findings.iter().filter(|f| f.check == "index").collect();
        assert!(index[0].repaired, "{index:?}");
        let (user, secret) = service.protocol_get("ghcr.io").unwrap();
        assert_eq!((user.as_str(), secret.expose()), ("octo", "pw"));
        assert_eq!(service.protocol_get("docker.io").unwrap().1.expose(), PAT);
        let aside = std::fs::read_dir(&service.paths.data_dir)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("index.json.damaged-")
            })
            .count();
        assert_eq!(aside, 1, "the damaged file is kept");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn retired_secrets_are_removed_on_repair() {
        let (_dir, service, store) = service();
        let mut writer = service.begin().unwrap();
        writer.index.retired.push(crate::index::SecretRef {
            backend: BackendKind::Keychain,
            item: "old".into(),
            hint: None,
        });
        writer.save().unwrap();
        drop(writer);
        store
            .put("old", &meta("ghcr.io", "x"), &Secret::from_str_copy("pw"))
            .unwrap();
        let findings = run(&service, None, false).unwrap();
        assert!(
            secrets(&findings)
                .iter()
                .any(|f| f.status == Status::Warn && f.repairable)
        );
        run(&service, None, true).unwrap();
        assert!(store.is_empty());
        assert!(service.load_index().unwrap().retired.is_empty());
    }

    #[test]
    fn damaged_config_is_set_aside_on_repair() {
        let (_dir, service, _) = service();
        std::fs::create_dir_all(&service.paths.config_dir).unwrap();
        let path = service.paths.config_file();
        std::fs::write(&path, "stale_after_days = \"x\"\n").unwrap();
        let error = Config::load(&path).unwrap_err();
        let findings = run(&service, Some(error), true).unwrap();
        let config = findings.iter().find(|f| f.check == "config").unwrap();
        assert!(
            config.repaired && config.message.contains("line 1"),
            "{config:?}"
        );
        assert!(!path.exists());
        assert!(Config::load(&path).is_ok());
    }
}
