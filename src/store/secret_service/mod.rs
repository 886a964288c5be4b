//! A `keyring-core` credential store for the freedesktop Secret Service.
//!
//! The keyring project's own Secret Service store always negotiates a
//! Diffie-Hellman session, whose pure-Rust key exchange costs about 9 ms per
//! process. `get` runs on every `docker pull`, and that alone would exceed its
//! 5 ms budget, so this store lets the session kind be chosen: `plain` by
//! default (the session bus is a private per-user socket, and any process that
//! could read it could also just ask the Secret Service), or `encrypted`.
//!
//! Items are filed under the attributes `service` and `username` (the item
//! name), as keyring stores do, plus any extra attributes given as modifiers.
//!
//! Reads on a plain session go through [`quick_read`], a few blocking socket
//! round trips; everything else, and any read it cannot finish, uses the
//! general `secret-service` client, connected only when first needed.

mod quick_read;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyring_core::api::{CredentialApi, CredentialStoreApi};
use keyring_core::{Credential, CredentialStore, Entry, Error, Result};
use secret_service::EncryptionType;
use secret_service::blocking::{Item, SecretService};

use crate::config::SessionKind;

/// Modifiers `build` accepts; all but `label` become item attributes.
const MODIFIERS: [&str; 5] = ["label", "registry", "account", "token", "home"];
const CONTENT_TYPE: &str = "text/plain";

/// How long the quick read waits on the socket; the caller's own deadline is shorter.
const QUICK_READ_TIMEOUT: Duration = Duration::from_secs(60);

struct Connection {
    session: SessionKind,
    /// The general client, connected on first use.
    service: OnceLock<std::result::Result<Mutex<SecretService<'static>>, String>>,
}

impl Connection {
    fn with<T>(&self, f: impl FnOnce(&SecretService<'static>) -> Result<T>) -> Result<T> {
        let encryption = match self.session {
            SessionKind::Plain => EncryptionType::Plain,
            SessionKind::Encrypted => EncryptionType::Dh,
        };
        let connected = self.service.get_or_init(|| {
            SecretService::connect(encryption)
                .map(Mutex::new)
                .map_err(|e| e.to_string())
        });
        let service = connected
            .as_ref()
            .map_err(|e| Error::NoStorageAccess(Box::new(Plain(e.clone()))))?;
        let guard = service
            .lock()
            .map_err(|_| Error::PlatformFailure("Secret Service connection poisoned".into()))?;
        f(&guard)
    }
}

pub struct Store {
    connection: Arc<Connection>,
}

impl Store {
    /// Prepares the store; the Secret Service is contacted on the first call.
    pub fn connect(session: SessionKind) -> Result<Arc<CredentialStore>> {
        Ok(Arc::new(Store {
            connection: Arc::new(Connection {
                session,
                service: OnceLock::new(),
            }),
        }))
    }
}

impl CredentialStoreApi for Store {
    fn vendor(&self) -> String {
        "docker-credential-pat Secret Service store".into()
    }

    fn id(&self) -> String {
        "secret-service".into()
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        modifiers: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        let mut attributes = keyring_core::attributes::parse_attributes(&MODIFIERS, modifiers)?;
        let label = attributes.remove("label");
        Ok(Entry::new_with_credential(Arc::new(Cred {
            connection: Arc::clone(&self.connection),
            service: service.to_owned(),
            user: user.to_owned(),
            label,
            extra: attributes,
            created: Mutex::new(None),
        })))
    }

    /// Every key of `spec` is an attribute to match exactly.
    fn search(&self, spec: &HashMap<&str, &str>) -> Result<Vec<Entry>> {
        let found = self.connection.with(|ss| {
            let result = ss.search_items(spec.clone()).map_err(failure)?;
            result
                .unlocked
                .iter()
                .chain(result.locked.iter())
                .map(|item| item.get_attributes().map_err(failure))
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(found
            .into_iter()
            .filter_map(|mut attributes| {
                let service = attributes.remove("service")?;
                let user = attributes.remove("username")?;
                Some(Entry::new_with_credential(Arc::new(Cred {
                    connection: Arc::clone(&self.connection),
                    service,
                    user,
                    label: None,
                    extra: attributes,
                    created: Mutex::new(None),
                })))
            })
            .collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Cred {
    connection: Arc<Connection>,
    service: String,
    user: String,
    label: Option<String>,
    extra: HashMap<String, String>,
    /// The object path of the item `set_secret` created, for [`created_path`].
    created: Mutex<Option<String>>,
}

/// Where the last `set_secret` on `entry` put its item: a D-Bus object path to
/// remember beside the item name, so [`get_at`] can skip the search next time.
pub fn created_path(entry: &Entry) -> Option<String> {
    let cred = entry.as_any().downcast_ref::<Cred>()?;
    cred.created.lock().ok()?.clone()
}

/// Reads `entry`'s secret from the item at `path` (from [`created_path`]) when
/// that item is still this entry's. `None` means "search instead".
pub fn get_at(entry: &Entry, path: &str) -> Option<Vec<u8>> {
    let cred = entry.as_any().downcast_ref::<Cred>()?;
    if cred.connection.session != SessionKind::Plain {
        return None;
    }
    let attributes = [
        ("service", cred.service.as_str()),
        ("username", cred.user.as_str()),
    ];
    match quick_read::read_secret_at(path, &attributes, QUICK_READ_TIMEOUT) {
        quick_read::Outcome::Found(secret) => Some(secret.to_vec()),
        quick_read::Outcome::Missing | quick_read::Outcome::Fallback => None,
    }
}

impl Cred {
    fn key(&self) -> HashMap<&str, &str> {
        HashMap::from([
            ("service", self.service.as_str()),
            ("username", self.user.as_str()),
        ])
    }

    /// The one item this credential names, unlocked.
    fn find<'a>(&self, ss: &'a SecretService<'static>) -> Result<Item<'a>> {
        let result = ss.search_items(self.key()).map_err(failure)?;
        let mut items = result.unlocked.into_iter().chain(result.locked);
        let item = items.next().ok_or(Error::NoEntry)?;
        if items.next().is_some() {
            return Err(Error::Invalid(
                "item".into(),
                "more than one Secret Service item has this name".into(),
            ));
        }
        item.ensure_unlocked().map_err(locked)?;
        Ok(item)
    }
}

impl CredentialApi for Cred {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.connection.with(|ss| {
            let collection = ss.get_default_collection().map_err(|e| match e {
                secret_service::Error::NoResult => Error::NoStorageAccess(Box::new(Plain(
                    "it has no default keyring to store into; create one (log in to a desktop session, or run `gnome-keyring-daemon --unlock`)".into(),
                ))),
                other => unreachable(other),
            })?;
            collection.ensure_unlocked().map_err(locked)?;
            let mut attributes = self.key();
            attributes.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let label = self
                .label
                .clone()
                .unwrap_or_else(|| format!("{}: {}", self.service, self.user));
            let item = collection
                .create_item(&label, attributes, secret, true, CONTENT_TYPE)
                .map_err(failure)?;
            if let Ok(mut created) = self.created.lock() {
                *created = Some(item.item_path.to_string());
            }
            Ok(())
        })
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        if self.connection.session == SessionKind::Plain {
            let attributes = [
                ("service", self.service.as_str()),
                ("username", self.user.as_str()),
            ];
            match quick_read::read_secret(&attributes, QUICK_READ_TIMEOUT) {
                quick_read::Outcome::Found(secret) => return Ok(secret.to_vec()),
                quick_read::Outcome::Missing => return Err(Error::NoEntry),
                quick_read::Outcome::Fallback => {}
            }
        }
        self.connection
            .with(|ss| self.find(ss)?.get_secret().map_err(failure))
    }

    fn get_attributes(&self) -> Result<HashMap<String, String>> {
        self.connection
            .with(|ss| self.find(ss)?.get_attributes().map_err(failure))
    }

    fn delete_credential(&self) -> Result<()> {
        self.connection
            .with(|ss| self.find(ss)?.delete().map_err(failure))
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        self.connection.with(|ss| self.find(ss).map(|_| None))
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn unreachable(error: secret_service::Error) -> Error {
    Error::NoStorageAccess(Box::new(Plain(error.to_string())))
}

fn locked(error: secret_service::Error) -> Error {
    Error::NoStorageAccess(Box::new(Plain(format!(
        "the keyring is locked and could not be unlocked: {error}"
    ))))
}

fn failure(error: secret_service::Error) -> Error {
    match error {
        secret_service::Error::Locked => locked(error),
        secret_service::Error::Unavailable => unreachable(error),
        other => Error::PlatformFailure(Box::new(Plain(other.to_string()))),
    }
}

/// An error message with nothing else attached.
#[derive(Debug)]
struct Plain(String);

impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Plain {}
