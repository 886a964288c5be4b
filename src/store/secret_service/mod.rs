//! A `keyring-core` credential store for the freedesktop Secret Service,
//! over this crate's own small D-Bus client.
//!
//! `get` runs on every `docker pull`. A general D-Bus library with its async
//! runtime cost several milliseconds of set-up per process, more than a whole
//! `get` should take, and left the secrets it sent in message buffers it
//! never wiped. The client here ([`client`] over [`bus`] and [`wire`]) speaks
//! only the calls the helper needs, on one blocking socket, and wipes every
//! buffer a secret passes through. DESIGN.md has the measurements.
//!
//! The session kind can be chosen: `plain` by default (the session bus is a
//! private per-user socket, and any process that could read it could also
//! just ask the Secret Service), or `encrypted` ([`crypto`]).
//!
//! Items are filed under the attributes `service` and `username` (the item
//! name), as keyring stores do, plus any extra attributes given as modifiers.

mod bus;
mod client;
mod crypto;
#[cfg(test)]
mod peer;
mod replay;
mod wire;

pub(crate) use replay::replay as fuzz_replay;

use std::any::Any;
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyring_core::api::{CredentialApi, CredentialStoreApi};
use keyring_core::{Credential, CredentialStore, Entry, Error, Result};

use crate::store::SessionKind;
use client::{Client, SessionChoice};

/// Modifiers `build` accepts; all but `label` become item attributes.
const MODIFIERS: [&str; 5] = ["label", "registry", "account", "token", "home"];

/// How long one socket read or write may wait; the caller's own deadline is shorter.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);

/// One connection per process, made on first use and kept for later calls.
struct Connection {
    session: SessionKind,
    client: Mutex<Option<Client<UnixStream>>>,
}

impl Connection {
    fn with<T>(&self, op: impl FnOnce(&mut Client<UnixStream>) -> client::Result<T>) -> Result<T> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| Error::PlatformFailure("Secret Service connection poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(connect(self.session).map_err(keyring_error)?);
        }
        let client = guard.as_mut().expect("connected above");
        let result = op(client);
        if let Err(e) = &result
            && e.breaks_connection()
        {
            *guard = None;
        }
        result.map_err(keyring_error)
    }
}

fn connect(session: SessionKind) -> client::Result<Client<UnixStream>> {
    let bus = bus::Bus::session(SOCKET_TIMEOUT)?;
    let choice = match session {
        SessionKind::Plain => SessionChoice::Plain,
        SessionKind::Encrypted => SessionChoice::Encrypted(crypto::Keypair::generate()),
    };
    Client::open(bus, choice)
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
                client: Mutex::new(None),
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
        let wanted: Vec<(&str, &str)> = spec.iter().map(|(k, v)| (*k, *v)).collect();
        let found = self
            .connection
            .with(|client| client.search_checked(&wanted))?;
        Ok(found
            .into_iter()
            .filter_map(|item| {
                let mut attributes: HashMap<String, String> = item.attributes.into_iter().collect();
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
    let key = cred.key();
    let found = cred
        .connection
        .with(|client| client.read_at(path, &key))
        .ok()??;
    Some(found.to_vec())
}

/// Deletes `entry`'s item at `path` (from [`created_path`]) when that item is
/// still this entry's. `false` means "search instead".
pub fn delete_at(entry: &Entry, path: &str) -> bool {
    let Some(cred) = entry.as_any().downcast_ref::<Cred>() else {
        return false;
    };
    let key = cred.key();
    cred.connection
        .with(|client| client.delete_at(path, &key))
        .unwrap_or(false)
}

impl Cred {
    fn key(&self) -> [(&str, &str); 2] {
        [
            ("service", self.service.as_str()),
            ("username", self.user.as_str()),
        ]
    }
}

impl CredentialApi for Cred {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        let mut attributes: Vec<(&str, &str)> = self.key().to_vec();
        attributes.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let label = self
            .label
            .clone()
            .unwrap_or_else(|| format!("{}: {}", self.service, self.user));
        let path = self
            .connection
            .with(|client| client.create(&label, &attributes, secret))?;
        if let Ok(mut created) = self.created.lock() {
            *created = Some(path);
        }
        Ok(())
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        let key = self.key();
        match self.connection.with(|client| client.read(&key))? {
            Some(secret) => Ok(secret.to_vec()),
            None => Err(Error::NoEntry),
        }
    }

    fn get_attributes(&self) -> Result<HashMap<String, String>> {
        let key = self.key();
        let item = self.connection.with(|client| client.find(&key))?;
        Ok(item.attributes.into_iter().collect())
    }

    fn delete_credential(&self) -> Result<()> {
        let key = self.key();
        self.connection.with(|client| {
            let item = client.find(&key)?;
            client.delete(&item.path)
        })
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        let key = self.key();
        self.connection
            .with(|client| client.find(&key).map(|_| None))
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Turns a client error into the keyring's terms, by what the person can do about it.
fn keyring_error(error: client::Error) -> Error {
    use client::Error as E;
    let text = || Box::new(Plain(error.to_string()));
    match &error {
        E::NotFound => Error::NoEntry,
        E::Ambiguous => Error::Invalid("item".into(), error.to_string()),
        E::NoService | E::NoDefaultCollection | E::Dismissed => Error::NoStorageAccess(text()),
        E::Bus(bus::Error::NoBus(_)) => Error::NoStorageAccess(text()),
        _ if error.is_locked() => Error::NoStorageAccess(Box::new(Plain(format!(
            "the keyring is locked and could not be unlocked: {error}"
        )))),
        _ => Error::PlatformFailure(text()),
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
