//! An in-memory store for unit tests, able to fail on demand.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::{BackendKind, ItemMeta, SecretStore, StoreError, StoredItem};
use crate::secret::Secret;

#[derive(Default)]
pub struct MemoryStore {
    items: RefCell<BTreeMap<String, (ItemMeta, Secret)>>,
    /// When set, every call fails as an unreachable backend would.
    pub fail: Cell<bool>,
}

impl MemoryStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail.get() {
            return Err(StoreError::Unavailable("memory store set to fail".into()));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }
}

impl SecretStore for MemoryStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Keychain
    }

    fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
        self.check()?;
        Ok(self.items.borrow().get(item).map(|(_, s)| s.clone()))
    }

    fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
        self.check()?;
        self.items
            .borrow_mut()
            .insert(item.to_owned(), (meta.clone(), secret.clone()));
        Ok(())
    }

    fn delete(&self, item: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(self.items.borrow_mut().remove(item).is_some())
    }

    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        self.check()?;
        Ok(self
            .items
            .borrow()
            .iter()
            .map(|(item, (meta, _))| StoredItem {
                item: item.clone(),
                meta: Some(meta.clone()),
            })
            .collect())
    }
}

/// Lets a test keep a handle on the store it gives a service.
impl SecretStore for std::rc::Rc<MemoryStore> {
    fn kind(&self) -> BackendKind {
        BackendKind::Keychain
    }
    fn get(&self, item: &str) -> Result<Option<Secret>, StoreError> {
        (**self).get(item)
    }
    fn put(&self, item: &str, meta: &ItemMeta, secret: &Secret) -> Result<(), StoreError> {
        (**self).put(item, meta, secret)
    }
    fn delete(&self, item: &str) -> Result<bool, StoreError> {
        (**self).delete(item)
    }
    fn items(&self) -> Result<Vec<StoredItem>, StoreError> {
        (**self).items()
    }
}
