//! The freedesktop Secret Service API over one bus connection.
//!
//! A session is opened once per connection (`plain`, or the encrypted
//! `dh-ietf1024-sha256-aes128-cbc-pkcs7` of [`super::crypto`]); then items are
//! searched, read, created, replaced and deleted, and a locked keyring is
//! unlocked through the service's prompt. Calls that do not depend on each
//! other's answers travel together. Every item found by a search or at a
//! remembered path is checked against the attributes asked for before its
//! secret is used, because some providers return items that do not match.
//!
//! A connection opens with `Hello` and a `Peer.Ping` to the Secret Service,
//! and `OpenSession` waits for both answers; nothing else is sent until the
//! session exists. GNOME Keyring 42 aborts now and then when a new client's
//! first call to it is `OpenSession` ("gkd_secret_service_get_pkcs11_session:
//! assertion 'client' failed"), taking every other client's session with it:
//! 300 back-to-back `get`s brought it down in 2 of 12 runs when `OpenSession`
//! came first (the zbus-era helper: 2 of 6), and in none of 18 runs with the
//! ping first (DESIGN.md).

use zeroize::Zeroizing;

use super::bus::{self, Bus, Stream};
use super::crypto::{self, Keypair, SessionKey};
use super::wire::{Body, Malformed, Message};

const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";
const SECRETS: &str = "org.freedesktop.secrets";
const SECRETS_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
const COLLECTION_IFACE: &str = "org.freedesktop.Secret.Collection";
const ITEM_IFACE: &str = "org.freedesktop.Secret.Item";
const PROMPT_IFACE: &str = "org.freedesktop.Secret.Prompt";
const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
const PEER_IFACE: &str = "org.freedesktop.DBus.Peer";
const CONTENT_TYPE: &str = "text/plain";
/// Calls in flight at once when reading many items' attributes.
const WINDOW: usize = 32;
/// "No object" in Secret Service replies.
const NONE: &str = "/";

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Bus(#[from] bus::Error),
    #[error("no Secret Service is running on the session bus")]
    NoService,
    #[error("no such item")]
    NotFound,
    #[error("more than one Secret Service item has this name")]
    Ambiguous,
    #[error(
        "it has no default keyring to store into; create one (log in to a desktop session, or run `gnome-keyring-daemon --unlock`)"
    )]
    NoDefaultCollection,
    #[error(
        "the keyring is locked, and its unlock prompt was dismissed or could not be shown: unlock it by logging in to the desktop session, or with `gnome-keyring-daemon --unlock`"
    )]
    Dismissed,
}

impl From<Malformed> for Error {
    fn from(e: Malformed) -> Self {
        Error::Bus(e.into())
    }
}

impl Error {
    /// True when the connection should be dropped and a new one made next time.
    pub fn breaks_connection(&self) -> bool {
        matches!(self, Error::Bus(e) if e.breaks_connection())
    }

    /// True when the item (or collection) is locked.
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Bus(e) if e.remote_name() == Some("org.freedesktop.Secret.Error.IsLocked"))
    }

    /// True when the object named does not exist (any more).
    fn is_missing_object(&self) -> bool {
        matches!(self, Error::Bus(e) if matches!(
            e.remote_name(),
            Some(
                "org.freedesktop.Secret.Error.NoSuchObject"
                    | "org.freedesktop.DBus.Error.UnknownObject"
                    | "org.freedesktop.DBus.Error.UnknownMethod"
                    | "org.freedesktop.DBus.Error.UnknownInterface"
            )
        ))
    }
}

pub(super) type Result<T, E = Error> = std::result::Result<T, E>;

/// An item's attributes, as the service lists them.
pub(super) type Attributes = Vec<(String, String)>;

/// The session to open: secrets in the clear on the private bus, or encrypted.
pub(super) enum SessionChoice {
    Plain,
    Encrypted(Keypair),
}

/// An item a search found, with the facts needed to use it.
pub(super) struct Item {
    pub path: String,
    pub locked: bool,
    pub attributes: Attributes,
}

pub(super) struct Client<S: Stream> {
    bus: Bus<S>,
    session: String,
    key: Option<SessionKey>,
}

/// True when `found` holds every pair of `wanted`.
pub(super) fn matches(found: &[(String, String)], wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(key, value)| found.iter().any(|(k, v)| k == key && v == value))
}

impl<S: Stream> Client<S> {
    /// Says hello to the bus and opens a Secret Service session.
    pub fn open(mut bus: Bus<S>, choice: SessionChoice) -> Result<Self> {
        let hello = bus.call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello", "", &Body::default());
        let ping = bus.call(
            SECRETS,
            SECRETS_PATH,
            PEER_IFACE,
            "Ping",
            "",
            &Body::default(),
        );
        bus.flush()?;
        bus.reply(hello)?;
        // Only its arrival matters: a service that does not answer pings may still serve.
        match bus.reply(ping).map_err(service_error) {
            Err(Error::Bus(bus::Error::Remote { .. })) | Ok(_) => {}
            Err(e) => return Err(e),
        }
        let mut open = Body::default();
        match &choice {
            SessionChoice::Plain => {
                open.string("plain");
                open.variant_string("");
            }
            SessionChoice::Encrypted(keypair) => {
                open.string(crypto::ALGORITHM);
                open.variant_byte_array(keypair.public());
            }
        }
        let open = bus.call(
            SECRETS,
            SECRETS_PATH,
            SERVICE_IFACE,
            "OpenSession",
            "sv",
            &open,
        );
        bus.flush()?;
        let reply = bus.reply(open).map_err(service_error)?;
        let mut r = reply.reader("vo")?;
        let output = r.variant()?;
        let key = match (&choice, output.as_str()) {
            (SessionChoice::Plain, _) => {
                r.skip_value(&output)?;
                None
            }
            (SessionChoice::Encrypted(keypair), "ay") => Some(keypair.agree(r.byte_array()?)?),
            (SessionChoice::Encrypted(_), _) => {
                return Err(Malformed("an encrypted session without the service's key").into());
            }
        };
        let session = r.object_path()?;
        Ok(Self { bus, session, key })
    }

    #[cfg(test)]
    pub fn stream(&mut self) -> &mut S {
        self.bus.stream()
    }

    /// Paths of the items whose attributes include `attributes`: (unlocked, locked).
    pub fn search(&mut self, attributes: &[(&str, &str)]) -> Result<(Vec<String>, Vec<String>)> {
        let mut body = Body::default();
        body.string_dict(attributes);
        let search = self.bus.call(
            SECRETS,
            SECRETS_PATH,
            SERVICE_IFACE,
            "SearchItems",
            "a{ss}",
            &body,
        );
        self.bus.flush()?;
        let reply = self.bus.reply(search).map_err(service_error)?;
        let mut r = reply.reader("aoao")?;
        Ok((r.object_paths()?, r.object_paths()?))
    }

    /// The one item whose attributes include `attributes`, checked item by item.
    pub fn find(&mut self, attributes: &[(&str, &str)]) -> Result<Item> {
        let mut found = self.search_checked(attributes)?;
        match found.len() {
            0 => Err(Error::NotFound),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Ambiguous),
        }
    }

    /// Every item whose attributes really include `wanted`; items that vanish meanwhile are skipped.
    pub fn search_checked(&mut self, wanted: &[(&str, &str)]) -> Result<Vec<Item>> {
        let (unlocked, locked) = self.search(wanted)?;
        let candidates: Vec<(String, bool)> = unlocked
            .into_iter()
            .map(|path| (path, false))
            .chain(locked.into_iter().map(|path| (path, true)))
            .collect();
        let paths: Vec<&str> = candidates.iter().map(|(path, _)| path.as_str()).collect();
        let found = self.attributes_of(&paths)?;
        Ok(candidates
            .into_iter()
            .zip(found)
            .filter_map(|((path, locked), found)| {
                let attributes = found?;
                matches(&attributes, wanted).then_some(Item {
                    path,
                    locked,
                    attributes,
                })
            })
            .collect())
    }

    /// The attributes of each item, `None` for an item that no longer exists.
    pub fn attributes_of(&mut self, paths: &[&str]) -> Result<Vec<Option<Attributes>>> {
        let mut all = Vec::with_capacity(paths.len());
        for window in paths.chunks(WINDOW) {
            let serials: Vec<u32> = window
                .iter()
                .map(|path| self.queue_attributes(path))
                .collect();
            self.bus.flush()?;
            for serial in serials {
                match self.attributes_reply(serial) {
                    Ok(attributes) => all.push(Some(attributes)),
                    Err(e) if e.is_missing_object() => all.push(None),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(all)
    }

    /// The secret of the one item whose attributes include `attributes`; `None` when there is none.
    pub fn read(&mut self, attributes: &[(&str, &str)]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let (unlocked, locked) = self.search(attributes)?;
        if let ([item], []) = (unlocked.as_slice(), locked.as_slice()) {
            // The common case: one unlocked item, read and checked in one round trip.
            return self.read_checked(item, attributes);
        }
        if unlocked.is_empty() && locked.is_empty() {
            return Ok(None);
        }
        let item = match self.find(attributes) {
            Ok(item) => item,
            Err(Error::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if item.locked {
            self.unlock(&item.path)?;
        }
        self.secret(&item.path).map(Some)
    }

    /// The secret at `path` if that item's attributes include `attributes`;
    /// `None` when it is gone, not the item expected, or locked (search instead).
    pub fn read_at(
        &mut self,
        path: &str,
        attributes: &[(&str, &str)],
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if !super::wire::is_object_path(path) {
            return Ok(None);
        }
        match self.read_checked(path, attributes) {
            Err(Error::Bus(bus::Error::Remote { .. })) => Ok(None),
            other => other,
        }
    }

    /// Reads an item's attributes and secret together; the secret only counts if they match.
    fn read_checked(
        &mut self,
        path: &str,
        attributes: &[(&str, &str)],
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let get_attributes = self.queue_attributes(path);
        let get_secret = self.queue_secret(path);
        self.bus.flush()?;
        let found = self.attributes_reply(get_attributes);
        let secret = self.secret_reply(get_secret);
        if !matches(&found?, attributes) {
            return Ok(None);
        }
        secret.map(Some)
    }

    /// The secret of the item at `path`.
    pub fn secret(&mut self, path: &str) -> Result<Zeroizing<Vec<u8>>> {
        let get = self.queue_secret(path);
        self.bus.flush()?;
        self.secret_reply(get)
    }

    fn queue_attributes(&mut self, path: &str) -> u32 {
        let mut body = Body::default();
        body.string(ITEM_IFACE);
        body.string("Attributes");
        self.bus
            .call(SECRETS, path, PROPERTIES_IFACE, "Get", "ss", &body)
    }

    fn attributes_reply(&mut self, serial: u32) -> Result<Attributes> {
        let reply = self.bus.reply(serial)?;
        let mut r = reply.reader("v")?;
        if r.variant()? != "a{ss}" {
            return Err(Malformed("an Attributes property that is not a{ss}").into());
        }
        Ok(r.string_dict()?)
    }

    fn queue_secret(&mut self, path: &str) -> u32 {
        let mut body = Body::default();
        body.object_path(&self.session);
        self.bus
            .call(SECRETS, path, ITEM_IFACE, "GetSecret", "o", &body)
    }

    fn secret_reply(&mut self, serial: u32) -> Result<Zeroizing<Vec<u8>>> {
        let reply = self.bus.reply(serial)?;
        secret_value(&reply, self.key.as_ref())
    }

    /// Creates an item in the default collection, or replaces the one with the
    /// same attributes there; returns its path.
    pub fn create(
        &mut self,
        label: &str,
        attributes: &[(&str, &str)],
        secret: &[u8],
    ) -> Result<String> {
        let collection = self.default_collection()?;
        match self.try_create(&collection, label, attributes, secret) {
            Err(e) if e.is_locked() => {
                self.unlock(&collection)?;
                self.try_create(&collection, label, attributes, secret)
            }
            other => other,
        }
    }

    fn default_collection(&mut self) -> Result<String> {
        let mut body = Body::default();
        body.string("default");
        let read = self.bus.call(
            SECRETS,
            SECRETS_PATH,
            SERVICE_IFACE,
            "ReadAlias",
            "s",
            &body,
        );
        self.bus.flush()?;
        let reply = self.bus.reply(read).map_err(service_error)?;
        let path = reply.reader("o")?.object_path()?;
        if path == NONE {
            return Err(Error::NoDefaultCollection);
        }
        Ok(path)
    }

    fn try_create(
        &mut self,
        collection: &str,
        label: &str,
        attributes: &[(&str, &str)],
        secret: &[u8],
    ) -> Result<String> {
        let mut body = Body::default();
        body.array(8, |props| {
            props.open_struct();
            props.string("org.freedesktop.Secret.Item.Label");
            props.variant_string(label);
            props.open_struct();
            props.string("org.freedesktop.Secret.Item.Attributes");
            props.signature("a{ss}");
            props.string_dict(attributes);
        });
        body.open_struct();
        body.object_path(&self.session);
        match &self.key {
            None => {
                body.byte_array(&[]);
                body.byte_array(secret);
            }
            Some(key) => {
                let (iv, sealed) = key.encrypt(secret);
                body.byte_array(&iv);
                body.byte_array(&sealed);
            }
        }
        body.string(CONTENT_TYPE);
        body.bool(true);
        let create = self.bus.call(
            SECRETS,
            collection,
            COLLECTION_IFACE,
            "CreateItem",
            "a{sv}(oayays)b",
            &body,
        );
        drop(body);
        self.bus.flush()?;
        let reply = self.bus.reply(create)?;
        let mut r = reply.reader("oo")?;
        let (item, prompt) = (r.object_path()?, r.object_path()?);
        if item != NONE {
            return Ok(item);
        }
        if prompt == NONE {
            return Err(Malformed("a CreateItem reply with neither an item nor a prompt").into());
        }
        self.prompt(&prompt)?
            .ok_or_else(|| Malformed("a completed prompt without the new item").into())
    }

    /// Deletes the item at `path` if its attributes include `attributes`;
    /// `false` when it is gone or not the item expected (search instead).
    pub fn delete_at(&mut self, path: &str, attributes: &[(&str, &str)]) -> Result<bool> {
        if !super::wire::is_object_path(path) {
            return Ok(false);
        }
        let get_attributes = self.queue_attributes(path);
        self.bus.flush()?;
        match self.attributes_reply(get_attributes) {
            Ok(found) if matches(&found, attributes) => {}
            Ok(_) | Err(Error::Bus(bus::Error::Remote { .. })) => return Ok(false),
            Err(e) => return Err(e),
        }
        match self.delete(path) {
            Ok(()) => Ok(true),
            Err(Error::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the item at `path`, unlocking it first if the service asks.
    pub fn delete(&mut self, path: &str) -> Result<()> {
        match self.try_delete(path) {
            Err(e) if e.is_locked() => {
                self.unlock(path)?;
                self.try_delete(path)
            }
            other => other,
        }
    }

    fn try_delete(&mut self, path: &str) -> Result<()> {
        let delete = self
            .bus
            .call(SECRETS, path, ITEM_IFACE, "Delete", "", &Body::default());
        self.bus.flush()?;
        let reply = self.bus.reply(delete).map_err(|e| {
            let e = Error::from(e);
            if e.is_missing_object() {
                Error::NotFound
            } else {
                e
            }
        })?;
        let prompt = reply.reader("o")?.object_path()?;
        if prompt != NONE {
            self.prompt(&prompt)?;
        }
        Ok(())
    }

    /// Unlocks an item or collection, through the service's prompt if it asks for one.
    pub fn unlock(&mut self, path: &str) -> Result<()> {
        let mut body = Body::default();
        body.object_paths(&[path]);
        let unlock = self
            .bus
            .call(SECRETS, SECRETS_PATH, SERVICE_IFACE, "Unlock", "ao", &body);
        self.bus.flush()?;
        let reply = self.bus.reply(unlock)?;
        let mut r = reply.reader("aoo")?;
        let unlocked = r.object_paths()?;
        let prompt = r.object_path()?;
        if unlocked.iter().any(|p| p == path) || prompt == NONE {
            return Ok(());
        }
        self.prompt(&prompt).map(|_| ())
    }

    /// Runs a prompt and waits for it to complete; returns the object path it
    /// yields, if any. A dismissed prompt is [`Error::Dismissed`]. How long a
    /// person may take is bounded by the caller's deadline.
    fn prompt(&mut self, prompt: &str) -> Result<Option<String>> {
        let mut rule = Body::default();
        rule.string(&format!(
            "type='signal',interface='{PROMPT_IFACE}',member='Completed',path='{prompt}'"
        ));
        let add_match = self
            .bus
            .call(BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch", "s", &rule);
        let mut window = Body::default();
        window.string("");
        let start = self
            .bus
            .call(SECRETS, prompt, PROMPT_IFACE, "Prompt", "s", &window);
        self.bus.flush()?;
        self.bus.reply(add_match)?;
        self.bus.reply(start)?;
        let completed = self.bus.signal(prompt, PROMPT_IFACE, "Completed")?;
        prompt_result(&completed)
    }
}

/// The value of a `GetSecret` reply, decrypted when the session is encrypted.
fn secret_value(reply: &Message, key: Option<&SessionKey>) -> Result<Zeroizing<Vec<u8>>> {
    let mut r = reply.reader("(oayays)")?;
    r.open_struct()?;
    r.object_path()?;
    let parameters = r.byte_array()?;
    let value = r.byte_array()?;
    r.string()?;
    match key {
        None if parameters.is_empty() => Ok(Zeroizing::new(value.to_vec())),
        None => Err(Malformed("a secret with encryption parameters on a plain session").into()),
        Some(key) => Ok(key.decrypt(parameters, value)?),
    }
}

/// Whether a `Completed` signal says done, and the object path it carries.
fn prompt_result(completed: &Message) -> Result<Option<String>> {
    let mut r = completed.reader("bv")?;
    if r.bool()? {
        return Err(Error::Dismissed);
    }
    let result = r.variant()?;
    if result == "o" {
        let path = r.object_path()?;
        return Ok((path != NONE).then_some(path));
    }
    r.skip_value(&result)?;
    Ok(None)
}

/// Calls to the Secret Service fail this way when nothing owns its name.
fn service_error(e: bus::Error) -> Error {
    match e.remote_name() {
        Some(
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner",
        ) => Error::NoService,
        _ => Error::Bus(e),
    }
}

#[cfg(test)]
mod tests;
