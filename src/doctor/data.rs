//! The helper's own data: config.toml, the backends, and the index against the store.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;

use crate::config::{BackendChoice, ConfigError};
use crate::finding::Finding;
use crate::index::{Index, IndexError, IndexWriter, SecretRef, TokenRecord};
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::service::Service;
use crate::service::write::check_username;
use crate::store::{BackendKind, ItemMeta, StoreError, StoredItem};

/// What doctor learnt about a backend.
pub(super) enum Reach {
    /// It answered with the items it holds.
    Listed(Vec<StoredItem>),
    /// It answers, but cannot list its items (orphans are not looked for).
    Unlisted,
    /// It could not be reached; its checks are skipped.
    Unreachable,
    /// Not set up and not needed.
    Unused,
}

impl Reach {
    fn answers(&self) -> bool {
        matches!(self, Reach::Listed(_) | Reach::Unlisted)
    }
}

pub(super) type Stores = BTreeMap<BackendKind, Reach>;

fn label(service: &Service, kind: BackendKind) -> String {
    match kind {
        BackendKind::Keychain => "the OS keychain".into(),
        BackendKind::File => format!("the vault {}", service.paths.vault_file().display()),
        BackendKind::OpenBao => "the OpenBao server".into(),
    }
}

pub(super) fn check_config(
    service: &Service,
    error: Option<ConfigError>,
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    let path = service.paths.config_file();
    match error {
        None if path.exists() => findings.push(Finding::ok(
            "config",
            format!("{} is valid", path.display()),
        )),
        None => findings.push(Finding::ok("config", "no config.toml; the defaults apply")),
        Some(ConfigError::Invalid {
            path,
            line,
            message,
        }) => {
            let finding = Finding::problem(
                "config",
                format!(
                    "{} is invalid at line {line}: {message}; until it is fixed no other command runs, and its settings (two-factor accounts among them) are not applied",
                    path.display()
                ),
                "fix it by hand, or `docker-credential-pat doctor --repair` sets it aside so the defaults apply",
            )
            .repairable();
            findings.push(if repair {
                match move_aside(&path) {
                    Ok(aside) => finding.repaired(format!(
                        "moved it to {}; the defaults apply now, so the two-factor settings in it are no longer enforced until you restore them (`docker-credential-pat 2fa enable`)",
                        aside.display()
                    )),
                    Err(e) => Finding {
                        fix: Some(format!("it could not be moved aside ({e}); fix it by hand")),
                        ..finding
                    },
                }
            } else {
                finding
            });
        }
        Some(other) => findings.push(Finding::problem(
            "config",
            other.to_string(),
            "make the file readable by you, then run doctor again",
        )),
    }
    if let Err(e) = service.env.backend_choice(&service.config) {
        findings.push(Finding::problem(
            "config",
            e.to_string(),
            "fix or unset DOCKER_PAT_BACKEND",
        ));
    }
    if let Err(e) = service.env.integration() {
        findings.push(Finding::problem(
            "config",
            e.to_string(),
            "fix or unset DOCKER_PAT_INTEGRATION",
        ));
    }
}

/// Asks each backend that matters for its items.
pub(super) fn check_backends(
    service: &Service,
    index: &Index,
    findings: &mut Vec<Finding>,
) -> Stores {
    let in_use: HashSet<BackendKind> = index.referenced_secrets().map(|r| r.backend).collect();
    let choice = service
        .env
        .backend_choice(&service.config)
        .unwrap_or(BackendChoice::Auto);
    let vault_usable = service.vault_usable();
    let mut stores = Stores::new();
    for kind in [BackendKind::Keychain, BackendKind::File] {
        let used = in_use.contains(&kind);
        let for_new = match choice {
            BackendChoice::Keychain => kind == BackendKind::Keychain,
            BackendChoice::File => kind == BackendKind::File,
            BackendChoice::Auto => kind == BackendKind::Keychain || vault_usable,
            BackendChoice::OpenBao => false,
        };
        let what = label(service, kind);
        if kind == BackendKind::File && !used && !for_new && !vault_usable {
            stores.insert(kind, Reach::Unused);
            continue;
        }
        let check = kind.name();
        let reach = match service.store(kind).items() {
            Ok(items) => {
                findings.push(Finding::ok(
                    check,
                    format!("{what} answers; it holds {} item(s) of ours", items.len()),
                ));
                Reach::Listed(items)
            }
            Err(StoreError::NoPassphrase(_)) => {
                findings.push(Finding::warn(
                    check,
                    format!("{what} is locked, so its tokens were not checked"),
                    "`docker-credential-pat vault unlock`, then run doctor again",
                ));
                Reach::Unreachable
            }
            Err(
                e @ (StoreError::Unavailable(_)
                | StoreError::TimedOut { .. }
                | StoreError::WrongPassphrase(_)
                | StoreError::Corrupt { .. }
                | StoreError::Fs(_)),
            ) => {
                let fallback = kind == BackendKind::Keychain
                    && choice == BackendChoice::Auto
                    && vault_usable
                    && !used;
                findings.push(if used || (for_new && !fallback) {
                    let whose = if used {
                        "tokens stored there cannot be used"
                    } else {
                        "new tokens cannot be stored"
                    };
                    Finding::problem(
                        check,
                        format!("{what} cannot be reached, so {whose}; its checks were skipped"),
                        e.to_string(),
                    )
                } else if fallback {
                    Finding::ok(
                        check,
                        format!("{what} cannot be reached; new tokens go to the vault"),
                    )
                } else {
                    Finding::ok(check, format!("{what} is not used"))
                });
                Reach::Unreachable
            }
            Err(e) => {
                findings.push(Finding::warn(
                    check,
                    format!("{what} answers but cannot list its items ({e})"),
                    "items that no token refers to cannot be found here; nothing else is affected",
                ));
                Reach::Unlisted
            }
        };
        stores.insert(kind, reach);
    }
    stores
}

/// Index against store: entries whose secret is gone, items no token owns, leftovers.
pub(super) fn compare(
    service: &Service,
    writer: &mut IndexWriter,
    stores: &Stores,
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    let answers = |kind: BackendKind| stores.get(&kind).is_some_and(Reach::answers);
    let mut done: Vec<(Finding, String)> = Vec::new();
    let mut advice: Vec<Finding> = Vec::new();

    let retired = writer.index.retired.len();
    let mut leftovers = (retired > 0).then(|| {
        Finding::warn(
                "secrets",
                format!(
                    "{retired} secret(s) of deleted or replaced tokens are still waiting to be removed from their store"
                ),
            "`docker-credential-pat doctor --repair` removes them",
        )
        .repairable()
    });

    let tokens: Vec<(TokenName, SecretRef)> = writer
        .index
        .entries()
        .map(|e| (e.name, e.record.secret.clone()))
        .collect();
    for (name, secret) in &tokens {
        if !answers(secret.backend) {
            continue;
        }
        match service.store(secret.backend).get(&secret.item) {
            Ok(Some(_)) => {}
            Ok(None) => {
                let finding = Finding::problem(
                    "secrets",
                    format!(
                        "{name} refers to a secret that is no longer in {}, so it cannot be used",
                        label(service, secret.backend)
                    ),
                    "`docker-credential-pat doctor --repair` removes the entry (the secret is already gone); then store the token again",
                )
                .repairable();
                if repair {
                    writer.index.remove(name);
                    done.push((
                        finding,
                        "removed the entry; its secret was already gone, so store the token again (`docker login` or `docker-credential-pat add`)".into(),
                    ));
                } else {
                    advice.push(finding);
                }
            }
            Err(e) => advice.push(Finding::problem(
                "secrets",
                format!("the secret of {name} cannot be read: {e}"),
                "fix the store, then run doctor again",
            )),
        }
    }

    let referenced: HashSet<(BackendKind, String)> = writer
        .index
        .referenced_secrets()
        .map(|r| (r.backend, r.item.clone()))
        .collect();
    for (&kind, reach) in stores {
        let Reach::Listed(items) = reach else {
            continue;
        };
        for item in items
            .iter()
            .filter(|i| !referenced.contains(&(kind, i.item.clone())))
        {
            let short: String = item.item.chars().take(8).collect();
            let Some(meta) = item.meta.as_ref().filter(|m| adoptable(m)) else {
                advice.push(Finding::warn(
                    "secrets",
                    format!(
                        "{} holds an item {short}… that no token refers to and that does not say which registry or account it is for",
                        label(service, kind)
                    ),
                    "it cannot be adopted; look at it in your keychain (service docker-credential-pat) and delete it by hand if nothing needs it",
                ));
                continue;
            };
            let account = crate::text::printable(&meta.account, 64);
            let finding = Finding::problem(
                "secrets",
                format!(
                    "{} holds a secret for {account} at {} (item {short}…) that no token refers to",
                    label(service, kind),
                    meta.registry
                ),
                "`docker-credential-pat doctor --repair` adopts it as an inactive token, to activate or delete",
            )
            .repairable();
            if !repair {
                advice.push(finding);
                continue;
            }
            match adopt(service, &mut writer.index, kind, &item.item, meta) {
                Ok(name) => done.push((
                    finding,
                    format!(
                        "adopted it as the inactive token {name}: `docker-credential-pat activate {name}` to use it, or `delete {name}`"
                    ),
                )),
                Err(reason) => advice.push(Finding {
                    fix: Some(format!("it could not be adopted: {reason}")),
                    ..finding
                }),
            }
        }
    }

    let all_agree = done.is_empty() && advice.is_empty() && leftovers.is_none();
    if !done.is_empty() {
        if let Err(e) = writer.save() {
            findings.extend(done.into_iter().map(|(f, _)| f));
            findings.extend(advice);
            findings.extend(leftovers);
            findings.push(Finding::problem(
                "index",
                format!("the repaired index could not be saved: {e}"),
                "nothing was changed; free some space or fix the folder, then run doctor --repair again",
            ));
            return;
        }
        findings.extend(done.into_iter().map(|(f, how)| f.repaired(how)));
    }
    // Also clears what the repairs above just retired.
    if repair && !writer.index.retired.is_empty() {
        service.remove_retired(writer);
        let left = writer.index.retired.len();
        leftovers = leftovers.map(|finding| {
            if left == 0 {
                finding.repaired("removed them")
            } else {
                Finding {
                    fix: Some(format!(
                        "{left} could not be removed because their store did not answer; run doctor --repair again later"
                    )),
                    ..finding
                }
            }
        });
    }
    // With no store answering there was nothing to compare; that was reported above.
    if all_agree && stores.values().any(Reach::answers) {
        findings.push(Finding::ok(
            "secrets",
            format!(
                "the index and the store agree ({} token(s))",
                writer.index.entries().count()
            ),
        ));
    }
    findings.extend(advice);
    findings.extend(leftovers);
}

/// Item metadata good enough to make a token from.
fn adoptable(meta: &ItemMeta) -> bool {
    Registry::parse(&meta.registry).is_ok_and(|r| r.key() == meta.registry)
        && !meta.account.is_empty()
        && check_username(&meta.account).is_ok()
}

/// Makes an inactive token from an item no token refers to.
fn adopt(
    service: &Service,
    index: &mut Index,
    kind: BackendKind,
    item: &str,
    meta: &ItemMeta,
) -> Result<TokenName, String> {
    let record = record_for(service, index, kind, item, meta, false)?;
    let registry = Registry::parse(&meta.registry).map_err(|e| e.to_string())?;
    let name = TokenName::new(recovered_name(index, &registry, item), registry);
    index.insert(&name, record);
    Ok(name)
}

/// A token record for a stored item, its kind judged from the secret itself.
fn record_for(
    service: &Service,
    index: &Index,
    kind: BackendKind,
    item: &str,
    meta: &ItemMeta,
    active: bool,
) -> Result<TokenRecord, String> {
    let registry = Registry::parse(&meta.registry).map_err(|e| e.to_string())?;
    let secret = match service.store(kind).get(item) {
        Ok(Some(secret)) => secret,
        Ok(None) => return Err("it vanished while doctor was running".into()),
        Err(e) => return Err(e.to_string()),
    };
    let secret_kind =
        crate::policy::classify(&registry, &meta.account, secret.expose(), &service.config);
    drop(secret);
    // Keeping the item's token id keeps its usage history, unless a token already has it.
    let id_taken = index.entries().any(|e| e.record.id == meta.token_id);
    let id = if !id_taken
        && !meta.token_id.is_empty()
        && meta.token_id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        meta.token_id.clone()
    } else {
        crate::ids::new_id()
    };
    let now = Utc::now();
    Ok(TokenRecord {
        id,
        secret: SecretRef {
            backend: kind,
            item: item.to_owned(),
            hint: None,
        },
        username: meta.account.clone(),
        server_url: registry.default_address().to_owned(),
        description: Some(format!("recovered by doctor on {}", now.format("%Y-%m-%d"))),
        created_at: now,
        rotated_at: now,
        active,
        kind: secret_kind,
        expires_at: None,
        hub: None,
        remote: None,
        seen: None,
    })
}

/// `recovered-` and the start of the item name, as long as it needs to be unique.
fn recovered_name(index: &Index, registry: &Registry, item: &str) -> Integration {
    let clean: String = item
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let taken = |name: &Integration| {
        index
            .token(&TokenName::new(name.clone(), registry.clone()))
            .is_some()
    };
    for len in (6..=clean.len().min(32)).step_by(2) {
        if let Ok(name) = Integration::parse(&format!("recovered-{}", &clean[..len]))
            && !taken(&name)
        {
            return name;
        }
    }
    loop {
        let name = Integration::parse(&format!("recovered-{}", crate::ids::random_hex(4)))
            .expect("hex is a valid integration name");
        if !taken(&name) {
            return name;
        }
    }
}

/// A damaged index: report it; with `repair`, set it aside and rebuild it from the store.
pub(super) fn rebuild(
    service: &Service,
    writer: &mut IndexWriter,
    damage: IndexError,
    stores: &Stores,
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    let IndexError::Corrupt {
        path,
        line,
        message,
    } = damage
    else {
        findings.push(Finding::problem(
            "index",
            damage.to_string(),
            "see the message",
        ));
        return;
    };
    let place = if line > 0 {
        format!("line {line}: {message}")
    } else {
        message
    };
    let finding = Finding::problem(
        "index",
        format!(
            "{} is damaged ({place}); no token can be used until it is rebuilt",
            path.display()
        ),
        "`docker-credential-pat doctor --repair` sets it aside and rebuilds it from the secret store",
    )
    .repairable();
    if !repair {
        findings.push(finding);
        return;
    }
    // Rebuilding from a store that did not answer would forget its tokens.
    let vault_exists = service.paths.vault_file().exists();
    let silent: Vec<String> = stores
        .iter()
        .filter(|(kind, reach)| {
            !matches!(reach, Reach::Listed(_))
                && (**kind == BackendKind::Keychain || vault_exists)
                && !matches!(reach, Reach::Unused)
        })
        .map(|(kind, _)| label(service, *kind))
        .collect();
    if !silent.is_empty() {
        findings.push(Finding {
            fix: Some(format!(
                "{} must answer before the index can be rebuilt from it; fix that, then run doctor --repair again",
                silent.join(" and ")
            )),
            ..finding
        });
        return;
    }
    // What the intact files hold is kept; only items nothing refers to are adopted.
    let mut index = writer.index.clone();
    let referenced: HashSet<(BackendKind, String)> = index
        .referenced_secrets()
        .map(|r| (r.backend, r.item.clone()))
        .collect();
    let mut skipped = Vec::new();
    let mut by_registry: BTreeMap<String, Vec<(BackendKind, &StoredItem, &ItemMeta)>> =
        BTreeMap::new();
    for (&kind, reach) in stores {
        let Reach::Listed(items) = reach else {
            continue;
        };
        for item in items {
            if referenced.contains(&(kind, item.item.clone())) {
                continue;
            }
            match item.meta.as_ref().filter(|m| adoptable(m)) {
                Some(meta) => by_registry
                    .entry(meta.registry.clone())
                    .or_default()
                    .push((kind, item, meta)),
                None => skipped.push(item.item.chars().take(8).collect::<String>()),
            }
        }
    }
    let mut rebuilt = Vec::new();
    let mut several = Vec::new();
    for (key, items) in &by_registry {
        let Ok(registry) = Registry::parse(key) else {
            continue;
        };
        // A registry kept from an intact file keeps its names and default.
        let only = items.len() == 1 && index.registry(&registry).is_none();
        for (kind, item, meta) in items {
            let record = match record_for(service, &index, *kind, &item.item, meta, true) {
                Ok(record) => record,
                Err(_) => {
                    skipped.push(item.item.chars().take(8).collect());
                    continue;
                }
            };
            let integration = if only {
                Integration::default_name()
            } else {
                recovered_name(&index, &registry, &item.item)
            };
            let name = TokenName::new(integration, registry.clone());
            index.insert(&name, record);
            if only {
                index.set_default(&name);
            }
            rebuilt.push(name.to_string());
        }
        if !only
            && index
                .registry(&registry)
                .is_some_and(|r| r.default.is_none())
        {
            several.push(key.clone());
        }
    }
    let aside = match move_aside(&path) {
        Ok(aside) => aside,
        Err(e) => {
            findings.push(Finding {
                fix: Some(format!(
                    "it could not be moved aside ({e}); nothing was changed"
                )),
                ..finding
            });
            return;
        }
    };
    writer.index = index;
    if let Err(e) = writer.save() {
        findings.push(Finding {
            fix: Some(format!(
                "it was moved to {}, but the new index could not be written ({e}); run doctor --repair again",
                aside.display()
            )),
            ..finding
        });
        return;
    }
    let tokens = if rebuilt.is_empty() {
        "no token (the store holds none of ours)".to_owned()
    } else {
        format!("{} token(s): {}", rebuilt.len(), rebuilt.join(", "))
    };
    findings.push(finding.repaired(format!(
        "moved it to {} and rebuilt the index from the store with {tokens}; names, descriptions and inactive states could not be recovered (`docker-credential-pat rename` to rename)",
        aside.display()
    )));
    for key in several {
        findings.push(Finding::warn(
            "index",
            format!("{key} has several recovered tokens and none is its default"),
            "choose one: `docker-credential-pat default NAME@REGISTRY`",
        ));
    }
    if !skipped.is_empty() {
        findings.push(Finding::warn(
            "index",
            format!(
                "{} stored item(s) could not be turned into tokens ({}…)",
                skipped.len(),
                skipped.join("…, ")
            ),
            "look at them in your keychain (service docker-credential-pat); they were left as they are",
        ));
    }
}

/// The name a damaged file is moved to: `NAME.damaged-<UTC time>`, never over another.
fn damaged_name(path: &std::path::Path) -> std::path::PathBuf {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!(
        "{}.damaged-{stamp}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut candidate = path.with_file_name(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{base}-{n}"));
    }
    candidate
}

/// Moves a damaged file aside and returns where it went.
fn move_aside(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let target = damaged_name(path);
    std::fs::rename(path, &target)?;
    Ok(target)
}
