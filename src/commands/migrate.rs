//! `migrate --to file|keychain`: moves every secret to the other backend.
//!
//! Each token moves in its own steps under the data lock: the new item's name
//! is first recorded on the index's retired list, then the secret is written,
//! then one index commit points the token at it and retires the old item,
//! which is then removed. A run killed at any point leaves every token
//! readable, and at worst an item on the retired list, which the next run
//! (or any later write) removes. So running it again finishes the job.

use super::{CommandResult, Exit};
use crate::cli::BackendArg;
use crate::config;
use crate::index::{SecretRef, TokenRecord};
use crate::names::TokenName;
use crate::output;
use crate::service::{Service, ServiceError};
use crate::store::{BackendKind, ItemMeta};

pub fn run(service: &Service, to: BackendArg) -> CommandResult {
    let target = match to {
        BackendArg::File => BackendKind::File,
        BackendArg::Keychain => BackendKind::Keychain,
    };
    let report = migrate(service, target, |name| {
        output::say(&format!("Moved {name} to the {target}"));
    })?;
    if report.moved == 0 && report.missing.is_empty() {
        output::say(&format!("Every token is already in the {target}"));
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
    if !report.missing.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{} could not be moved because the secret is missing from its store; run `docker-credential-pat doctor`",
            report.missing.join(", ")
        )));
    }
    Ok(Exit::Success)
}

pub(crate) struct Report {
    pub moved: usize,
    /// Tokens whose secret was not found where the index says it is.
    pub missing: Vec<String>,
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
    let mut report = Report {
        moved: 0,
        missing: Vec::new(),
    };
    for (name, record) in pending {
        let old = record.secret.clone();
        let Some(secret) = service
            .store(old.backend)
            .get_located(&old.item, old.hint.as_deref())?
        else {
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
        let paths = Paths {
            config_dir: dir.path().into(),
            data_dir: dir.path().into(),
        };
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
