//! `migrate --to file|keychain|openbao`: moves every token to another backend.
//!
//! Between the keychain and the vault:
//! Each token moves in its own steps under the data lock: the new item's name
//! is first recorded on the index's retired list, then the secret is written,
//! then one index commit points the token at it and retires the old item,
//! which is then removed. A run killed at any point leaves every token
//! readable, and at worst an item on the retired list, which the next run
//! (or any later write) removes. So running it again finishes the job.
//!
//! To and from an OpenBao server, each token is first written where it goes,
//! then removed where it was; a run killed in between finds the same token
//! (same secret) on both sides next time, and only removes the old copy. A
//! token that exists on both sides with different secrets is left where it
//! is and reported: neither copy is overwritten.

use super::exit::{CommandResult, Exit};
use crate::cli::BackendArg;
use crate::config;
use crate::error::ServiceError;
use crate::index::{SecretRef, TokenRecord};
use crate::ledger::Ledger as _;
use crate::names::TokenName;
use crate::output;
use crate::service::Service;
use crate::store::{BackendKind, ItemMeta};

pub fn run(service: &Service, to: BackendArg) -> CommandResult {
    let target = match to {
        BackendArg::File => BackendKind::File,
        BackendArg::Keychain => BackendKind::Keychain,
        BackendArg::OpenBao => BackendKind::OpenBao,
    };
    let say = |name: &TokenName| output::say(&format!("Moved {name} to {}", target.place()));
    let mut report = if target == BackendKind::OpenBao {
        to_server(service, say)?
    } else {
        let from_server = if service.uses_server()? {
            from_server(service, target, say)?
        } else {
            Report::default()
        };
        if !from_server.kept.is_empty() {
            // The server keeps tokens this machine still needs it for.
            for kept in &from_server.kept {
                output::warn(kept);
            }
            return Err(ServiceError::Invalid(format!(
                "{} token(s) were left on the server (see above); the backend setting is unchanged",
                from_server.kept.len()
            )));
        }
        let mut local = migrate(service, target, say)?;
        local.moved += from_server.moved;
        local.missing.extend(from_server.missing);
        local.kept.extend(from_server.kept);
        local
    };
    report.kept.sort();
    for kept in &report.kept {
        output::warn(kept);
    }
    if report.moved == 0 && report.missing.is_empty() && report.kept.is_empty() {
        output::say(&format!("Every token is already in {}", target.place()));
    }
    output::say(&format!(
        "New tokens will be stored in the {target} (backend = \"{target}\" in config.toml)"
    ));
    if let Some(variable) = &service.env.backend
        && variable != target.name()
    {
        output::warn(&format!(
            "DOCKER_PAT_BACKEND={variable} is set and overrides config.toml in this environment"
        ));
    }
    if !report.kept.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{} token(s) were left where they were (see above); the backend setting is unchanged",
            report.kept.len()
        )));
    }
    if !report.missing.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{} could not be moved because the secret is missing from its store; run `docker-credential-pat doctor`",
            report.missing.join(", ")
        )));
    }
    Ok(Exit::Success)
}

#[derive(Default)]
pub(crate) struct Report {
    pub moved: usize,
    /// Tokens whose secret was not found where the index says it is.
    pub missing: Vec<String>,
    /// Tokens left where they were, each with the reason.
    pub kept: Vec<String>,
}

/// Moves every token whose secret is not in `target`, then makes `target` the backend.
pub(crate) fn migrate(
    service: &Service,
    target: BackendKind,
    mut moved: impl FnMut(&TokenName),
) -> Result<Report, ServiceError> {
    let mut writer = service.begin()?;
    // Whatever an interrupted run left on the retired list goes first.
    service.remove_retired(&mut writer);
    let pending: Vec<(TokenName, TokenRecord)> = writer
        .index
        .entries()
        .filter(|e| e.record.secret.backend != target)
        .map(|e| (e.name, e.record.clone()))
        .collect();
    let mut report = Report::default();
    for (name, record) in pending {
        let old = record.secret.clone();
        let Some(secret) = service.secret_at(&old)? else {
            report.missing.push(name.to_string());
            continue;
        };
        let new = SecretRef::new(target);
        writer.index.retire(&name.registry, new.clone());
        writer.save()?;
        let meta = ItemMeta {
            registry: name.registry.key().to_owned(),
            account: record.username.clone(),
            token_id: record.id.clone(),
        };
        let hint = service
            .store(target)
            .put_located(&new.item, &meta, &secret)?;
        writer.index.retired.retain(|r| r != &new);
        let new = SecretRef { hint, ..new };
        if let Some(token) = writer.index.token_mut(&name) {
            token.secret = new;
        }
        writer.index.retire(&name.registry, old);
        writer.save()?;
        service.remove_retired(&mut writer);
        report.moved += 1;
        moved(&name);
    }
    config::edit(&service.paths, |doc| {
        doc["backend"] = toml_edit::value(target.name());
    })?;
    Ok(report)
}

/// Moves every token of the local index to the server, then makes it the backend.
fn to_server(service: &Service, mut moved: impl FnMut(&TokenName)) -> Result<Report, ServiceError> {
    let server = service.server()?;
    let mut writer = service.begin()?;
    service.remove_retired(&mut writer);
    let pending: Vec<(TokenName, TokenRecord, bool)> = writer
        .index
        .entries()
        .map(|e| (e.name, e.record.clone(), e.is_default))
        .collect();
    let mut edit = server.begin()?;
    let mut report = Report::default();
    for (name, record, is_default) in pending {
        let place = &record.secret;
        let Some(secret) = service.secret_at(place)? else {
            report.missing.push(name.to_string());
            continue;
        };
        match edit.token(&name)? {
            None => {
                edit.put(&name, record.clone(), &secret)?;
            }
            // Written by a run that was stopped before it removed the local copy.
            Some(there)
                if there.username == record.username
                    && edit.secret(&name)?.is_some_and(|s| s == secret) =>
            {
                edit.update(&name, record.clone())?;
            }
            Some(_) => {
                report.kept.push(format!(
                    "{name} stays here: the server already has a token of that name with another secret; rename one of them (`docker-credential-pat rename`) and run migrate again"
                ));
                continue;
            }
        }
        if is_default {
            edit.set_default(&name)?;
        }
        writer.index.remove(&name);
        writer.save()?;
        service.remove_retired(&mut writer);
        report.moved += 1;
        moved(&name);
    }
    if report.kept.is_empty() && report.missing.is_empty() {
        config::edit(&service.paths, |doc| {
            doc["backend"] = toml_edit::value(BackendKind::OpenBao.name());
        })?;
    }
    Ok(report)
}

/// Moves every token this machine may read on the server into `target` here.
fn from_server(
    service: &Service,
    target: BackendKind,
    mut moved: impl FnMut(&TokenName),
) -> Result<Report, ServiceError> {
    let server = service.server()?;
    let entries = server.entries()?;
    let mut writer = service.begin()?;
    service.remove_retired(&mut writer);
    let mut edit = server.begin()?;
    let mut report = Report::default();
    for entry in entries {
        let name = entry.name;
        let Some(secret) = edit.secret(&name)? else {
            report.missing.push(name.to_string());
            continue;
        };
        let here = writer.index.token(&name).cloned();
        match here {
            None => {
                let new = SecretRef::new(target);
                writer.index.retire(&name.registry, new.clone());
                writer.save()?;
                let meta = ItemMeta {
                    registry: name.registry.key().to_owned(),
                    account: entry.record.username.clone(),
                    token_id: entry.record.id.clone(),
                };
                let hint = service
                    .store(target)
                    .put_located(&new.item, &meta, &secret)?;
                writer.index.retired.retain(|r| r != &new);
                let record = TokenRecord {
                    secret: SecretRef { hint, ..new },
                    ..entry.record.clone()
                };
                writer.index.insert(&name, record);
                if entry.is_default {
                    writer.index.set_default(&name);
                }
                writer.save()?;
            }
            // Copied by a run that was stopped before it removed the server's copy.
            Some(record)
                if record.username == entry.record.username
                    && service
                        .secret_at(&record.secret)?
                        .is_some_and(|s| s == secret) => {}
            Some(_) => {
                report.kept.push(format!(
                    "{name} stays on the server: this machine already has a token of that name with another secret; rename one of them and run migrate again"
                ));
                continue;
            }
        }
        // Removed from the server only if nobody replaced its secret meanwhile.
        if edit.secret_now(&name)?.is_some_and(|s| s == secret) {
            edit.remove(&name)?;
        } else {
            report.kept.push(format!(
                "{name} was changed on the server while it was copied; the copy here is the old one, and the server keeps the new one"
            ));
        }
        report.moved += 1;
        moved(&name);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::config::{Config, Paths};
    use crate::secret::Secret;
    use crate::store::memory::MemoryStore;
    use crate::store::{SecretStore, StoreError, StoredItem};

    /// A memory store of a given kind whose puts start failing after a budget.
    struct Flaky {
        kind: BackendKind,
        inner: Rc<MemoryStore>,
        puts_left: Rc<Cell<usize>>,
    }

    impl SecretStore for Flaky {
        fn kind(&self) -> BackendKind {
            self.kind
        }
        fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
            self.inner.get(item)
        }
        fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
            if self.puts_left.get() == 0 {
                return Err(StoreError::Unavailable("injected failure".into()));
            }
            self.puts_left.set(self.puts_left.get() - 1);
            self.inner.put(item, meta, secret)
        }
        fn delete(&self, item: &str) -> Result<bool, StoreError> {
            self.inner.delete(item)
        }
        fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
            self.inner.items()
        }
    }

    struct Setup {
        _dir: tempfile::TempDir,
        service: Service,
        keychain: Rc<MemoryStore>,
        vault: Rc<MemoryStore>,
        puts_left: Rc<Cell<usize>>,
    }

    fn setup(config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().into());
        std::fs::write(paths.config_file(), config).unwrap();
        let keychain = Rc::new(MemoryStore::default());
        let vault = Rc::new(MemoryStore::default());
        let puts_left = Rc::new(Cell::new(usize::MAX));
        let (k, v, p) = (
            Rc::clone(&keychain),
            Rc::clone(&vault),
            Rc::clone(&puts_left),
        );
        let service = Service::with_stores(
            paths,
            Config::parse(config).unwrap(),
            move |kind| {
                Box::new(Flaky {
                    kind,
                    inner: Rc::clone(if kind == BackendKind::Keychain {
                        &k
                    } else {
                        &v
                    }),
                    puts_left: Rc::clone(&p),
                })
            },
            true,
        );
        Setup {
            _dir: dir,
            service,
            keychain,
            vault,
            puts_left,
        }
    }

    fn get(service: &Service, address: &str) -> String {
        service.protocol_get(address).unwrap().1.expose().to_owned()
    }

    #[test]
    fn interrupted_migration_finishes_on_rerun_without_orphans() {
        let s = setup("backend = \"keychain\"\n");
        for (i, host) in ["a.io", "b.io", "c.io"].iter().enumerate() {
            s.service
                .protocol_store(host, "u", &Secret::from_str_copy(&format!("secret-{i}")))
                .unwrap();
        }
        assert_eq!(s.keychain.len(), 3);
        s.puts_left.set(1);
        assert!(migrate(&s.service, BackendKind::File, |_| {}).is_err());
        let config = std::fs::read_to_string(s.service.paths.config_file()).unwrap();
        assert!(
            config.contains("\"keychain\""),
            "backend unchanged until done"
        );
        for (i, host) in ["a.io", "b.io", "c.io"].iter().enumerate() {
            assert_eq!(get(&s.service, host), format!("secret-{i}"));
        }
        s.puts_left.set(usize::MAX);
        let report = migrate(&s.service, BackendKind::File, |_| {}).unwrap();
        assert_eq!(report.moved, 2);
        assert_eq!((s.keychain.len(), s.vault.len()), (0, 3));
        let index = s.service.load_index().unwrap();
        assert!(index.retired.is_empty());
        assert!(
            index
                .referenced_secrets()
                .all(|r| r.backend == BackendKind::File)
        );
        for (i, host) in ["a.io", "b.io", "c.io"].iter().enumerate() {
            assert_eq!(get(&s.service, host), format!("secret-{i}"));
        }
        let config = std::fs::read_to_string(s.service.paths.config_file()).unwrap();
        assert!(config.contains("backend = \"file\""), "{config}");
    }

    #[test]
    fn item_registered_before_a_crash_is_removed_by_the_next_run() {
        let s = setup("");
        s.service
            .protocol_store("a.io", "u", &Secret::from_str_copy("one"))
            .unwrap();
        // What a run killed right after writing the new item leaves behind.
        let mut writer = s.service.begin().unwrap();
        let orphan = SecretRef::new(BackendKind::File);
        writer.index.retired.push(orphan.clone());
        writer.save().unwrap();
        drop(writer);
        s.vault
            .put(
                &orphan.item,
                &ItemMeta::default(),
                &Secret::from_str_copy("one"),
            )
            .unwrap();
        migrate(&s.service, BackendKind::File, |_| {}).unwrap();
        assert_eq!(s.vault.len(), 1, "only the moved token's item remains");
        assert!(s.vault.get(&orphan.item).unwrap().is_none());
        assert_eq!(get(&s.service, "a.io"), "one");
    }

    #[test]
    fn migrating_back_and_forth_keeps_every_token() {
        let s = setup("");
        s.service
            .protocol_store("a.io", "u", &Secret::from_str_copy("one"))
            .unwrap();
        migrate(&s.service, BackendKind::File, |_| {}).unwrap();
        migrate(&s.service, BackendKind::Keychain, |_| {}).unwrap();
        assert_eq!((s.keychain.len(), s.vault.len()), (1, 0));
        assert_eq!(get(&s.service, "a.io"), "one");
        let again = migrate(&s.service, BackendKind::Keychain, |_| {}).unwrap();
        assert_eq!(again.moved, 0);
    }
}
