//! The ledger of one machine: the index file for what is known about each
//! token, the OS keychain or the vault for its secret.
//!
//! A thin adapter over [`Index`], [`IndexWriter`] and [`Snapshot`]: `get` and
//! `list` read the index the way they always have (one registry's record, or
//! only the fields `list` prints), and an [`Edit`] is an [`IndexWriter`], so
//! the data lock is held from `begin` until the edit is dropped. A new secret
//! is written to its store before the index refers to it, and an old one is
//! removed only after the index has stopped referring to it (it waits on the
//! index's retired list meanwhile).

use std::cell::OnceCell;

use super::{Edit, Entry, Found, Ledger};
use crate::config::{BackendChoice, Paths};
use crate::error::{Result, ServiceError};
use crate::index::{Index, IndexWriter, SecretRef, Snapshot, TokenRecord};
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::select::Selection;
use crate::store::{BackendKind, DynStore, ItemMeta, SecretStore, StoreError, StoredItem};

/// Opens each secret store on first use, so `get` connects only to the one it needs.
pub(crate) struct Backends {
    keychain: OnceCell<Box<DynStore>>,
    vault: OnceCell<Box<DynStore>>,
    open: Box<dyn Fn(BackendKind) -> Box<DynStore>>,
    vault_usable: Box<dyn Fn() -> bool>,
}

impl Backends {
    pub(crate) fn new(
        open: Box<dyn Fn(BackendKind) -> Box<DynStore>>,
        vault_usable: Box<dyn Fn() -> bool>,
    ) -> Self {
        Self {
            keychain: OnceCell::new(),
            vault: OnceCell::new(),
            open,
            vault_usable,
        }
    }

    pub(crate) fn get(&self, kind: BackendKind) -> &DynStore {
        let cell = match kind {
            BackendKind::Keychain => &self.keychain,
            BackendKind::File => &self.vault,
            BackendKind::OpenBao => return &Misplaced,
        };
        cell.get_or_init(|| (self.open)(kind)).as_ref()
    }

    pub(crate) fn vault_usable(&self) -> bool {
        (self.vault_usable)()
    }
}

/// What an index entry pointing at the server finds: an index edited by hand.
struct Misplaced;

impl SecretStore for Misplaced {
    fn kind(&self) -> BackendKind {
        BackendKind::OpenBao
    }
    fn get(&self, _item: &str) -> Result<Option<Secret>, StoreError> {
        Err(misplaced())
    }
    fn put(&self, _: &str, _: &ItemMeta, _: &Secret) -> Result<(), StoreError> {
        Err(misplaced())
    }
    fn delete(&self, _item: &str) -> Result<bool, StoreError> {
        Err(misplaced())
    }
    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        Ok(Vec::new())
    }
}

fn misplaced() -> StoreError {
    StoreError::Failed(
        "the index refers to a secret on the OpenBao server, which the local index never does; run `docker-credential-pat doctor`".into(),
    )
}

pub(crate) struct LocalLedger {
    paths: Paths,
    /// Where new secrets go: keychain, file, or the keychain with the vault as fallback.
    choice: BackendChoice,
    backends: Backends,
}

impl LocalLedger {
    pub(crate) fn new(paths: Paths, choice: BackendChoice, backends: Backends) -> Self {
        Self {
            paths,
            choice,
            backends,
        }
    }

    pub(crate) fn store(&self, kind: BackendKind) -> &DynStore {
        self.backends.get(kind)
    }

    pub(crate) fn vault_usable(&self) -> bool {
        self.backends.vault_usable()
    }

    /// The secret `place` points at, looked for where its hint says first.
    pub(crate) fn secret_at(&self, place: &SecretRef) -> Result<Option<Secret>, StoreError> {
        self.store(place.backend)
            .get_located(&place.item, place.hint.as_deref())
    }

    /// Removes the secret `place` points at; `false` when it was not there.
    fn remove_secret_at(&self, place: &SecretRef) -> Result<bool, StoreError> {
        self.store(place.backend)
            .delete_located(&place.item, place.hint.as_deref())
    }

    /// Writes a secret under a fresh item name in the backend the config chooses.
    fn write_new_secret(&self, meta: &ItemMeta, secret: &Secret) -> Result<SecretRef> {
        let first = match self.choice {
            BackendChoice::File => BackendKind::File,
            BackendChoice::Keychain | BackendChoice::Auto | BackendChoice::OpenBao => {
                BackendKind::Keychain
            }
        };
        let mut secret_ref = SecretRef::new(first);
        match self
            .store(first)
            .put_located(&secret_ref.item, meta, secret)
        {
            Ok(hint) => {
                secret_ref.hint = hint;
                Ok(secret_ref)
            }
            Err(StoreError::Unavailable(keychain_cause)) if self.choice == BackendChoice::Auto => {
                if !self.vault_usable() {
                    return Err(ServiceError::Store(StoreError::Unavailable(format!(
                        "{keychain_cause}; no vault exists either: create one with `docker-credential-pat vault init`, or set DOCKER_PAT_PASSPHRASE_FILE"
                    ))));
                }
                let secret_ref = SecretRef::new(BackendKind::File);
                self.store(BackendKind::File)
                    .put(&secret_ref.item, meta, secret)?;
                Ok(secret_ref)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes secrets the index no longer refers to. Failures leave them listed for later.
    pub(crate) fn remove_retired(&self, writer: &mut IndexWriter) {
        if writer.index.retired.is_empty() {
            return;
        }
        let before = writer.index.retired.len();
        let retired = std::mem::take(&mut writer.index.retired);
        writer.index.retired = retired
            .into_iter()
            .filter(|r| self.remove_secret_at(r).is_err())
            .collect();
        if writer.index.retired.len() != before {
            let _ = writer.save();
        }
    }
}

impl Ledger for LocalLedger {
    fn get(&self, registry: &Registry, selection: &Selection) -> Result<Option<Found>> {
        // One registry's record, read without parsing the rest of the index.
        let Some(snapshot) = Snapshot::of_registry(&self.paths, registry)? else {
            return Ok(None);
        };
        let Some(record) = snapshot.registry(registry)? else {
            return Ok(None);
        };
        let Some((pick, token)) = record.select(registry, selection) else {
            return Ok(None);
        };
        let secret = self
            .secret_at(&token.secret)?
            .ok_or(ServiceError::SecretMissing)?;
        Ok(Some(Found {
            name: TokenName::new(pick.integration, registry.clone()),
            id: token.id.clone(),
            username: token.username.clone(),
            secret,
            expires_at: token.expires_at,
            rotated_by: token.rotated_by(),
            reason: pick.reason,
        }))
    }

    fn list(&self, selection: &Selection) -> Result<Vec<(String, String)>> {
        let mut listed = Vec::new();
        for snapshot in Snapshot::all(&self.paths)? {
            snapshot.list(selection, &mut listed)?;
        }
        Ok(listed)
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        let index = Index::load(&self.paths)?;
        Ok(index
            .entries()
            .map(|e| Entry {
                name: e.name,
                record: e.record.clone(),
                is_default: e.is_default,
            })
            .collect())
    }

    fn begin(&self) -> Result<Box<dyn Edit + '_>> {
        Ok(Box::new(LocalEdit {
            writer: IndexWriter::begin(&self.paths)?,
            ledger: self,
            written: Vec::new(),
        }))
    }

    fn begin_for(&self, registry: &Registry) -> Result<Box<dyn Edit + '_>> {
        Ok(Box::new(LocalEdit {
            writer: IndexWriter::begin_for(&self.paths, registry)?,
            ledger: self,
            written: Vec::new(),
        }))
    }
}

/// An edit of the index under the data lock.
struct LocalEdit<'a> {
    writer: IndexWriter,
    ledger: &'a LocalLedger,
    /// Secrets written since the last commit, which the saved index does not refer to yet.
    written: Vec<SecretRef>,
}

impl LocalEdit<'_> {
    fn index(&mut self) -> &mut Index {
        &mut self.writer.index
    }

    /// Takes back secrets the saved index never referred to.
    fn discard_written(&mut self) {
        for secret in self.written.drain(..) {
            let _ = self.ledger.remove_secret_at(&secret);
        }
    }
}

impl Drop for LocalEdit<'_> {
    fn drop(&mut self) {
        self.discard_written();
    }
}

impl Edit for LocalEdit<'_> {
    fn default_of(&mut self, registry: &Registry) -> Result<Option<Integration>> {
        Ok(self
            .index()
            .registry(registry)
            .and_then(|r| r.default.as_deref())
            .and_then(|d| Integration::parse(d).ok()))
    }

    fn token(&mut self, name: &TokenName) -> Result<Option<TokenRecord>> {
        Ok(self.index().token(name).cloned())
    }

    fn names(&mut self) -> Result<Vec<TokenName>> {
        Ok(self.index().entries().map(|e| e.name).collect())
    }

    fn secret(&mut self, name: &TokenName) -> Result<Option<Secret>> {
        let Some(place) = self.index().token(name).map(|t| t.secret.clone()) else {
            return Ok(None);
        };
        Ok(self.ledger.secret_at(&place)?)
    }

    fn put(
        &mut self,
        name: &TokenName,
        mut record: TokenRecord,
        secret: &Secret,
    ) -> Result<BackendKind> {
        let meta = ItemMeta {
            registry: name.registry.key().to_owned(),
            account: record.username.clone(),
            token_id: record.id.clone(),
        };
        record.secret = self.ledger.write_new_secret(&meta, secret)?;
        self.written.push(record.secret.clone());
        let backend = record.secret.backend;
        self.index().insert(name, record);
        Ok(backend)
    }

    fn update(&mut self, name: &TokenName, record: TokenRecord) -> Result<()> {
        if let Some(token) = self.index().token_mut(name) {
            let secret = token.secret.clone();
            *token = TokenRecord { secret, ..record };
        }
        Ok(())
    }

    fn remove(&mut self, name: &TokenName) -> Result<bool> {
        Ok(self.index().remove(name).is_some())
    }

    fn rename(&mut self, from: &TokenName, to: &TokenName) -> Result<()> {
        let Some(record) = self.index().registries.get_mut(from.registry.key()) else {
            return Ok(());
        };
        let Some(token) = record.tokens.remove(from.integration.as_str()) else {
            return Ok(());
        };
        record
            .tokens
            .insert(to.integration.as_str().to_owned(), token);
        if record.default.as_deref() == Some(from.integration.as_str()) {
            record.default = Some(to.integration.as_str().to_owned());
        }
        Ok(())
    }

    fn set_default(&mut self, name: &TokenName) -> Result<()> {
        self.index().set_default(name);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if let Err(e) = self.writer.save() {
            // The saved index never referred to the new secrets; take them back out.
            self.discard_written();
            return Err(e.into());
        }
        self.written.clear();
        self.ledger.remove_retired(&mut self.writer);
        Ok(())
    }
}
