//! The read path to the Secret Service in a few blocking socket round trips.
//!
//! `get` runs on every `docker pull` and only ever needs one item's secret.
//! The general client (zbus with its async runtime) costs a few milliseconds
//! of thread and executor set-up per process, more than the whole budget of
//! a `get`. This module speaks just enough D-Bus for the read: authenticate,
//! `Hello`, `OpenSession("plain")`, `SearchItems`, `GetSecret`, on one blocking
//! Unix socket. `Hello` and `OpenSession` travel together; the rest wait for
//! the session, because GNOME Keyring mishandles a new client whose first calls
//! arrive before it has finished registering that client. Anything unusual (a
//! locked item, an error reply, an address form it does not know) is reported
//! as [`Outcome::Fallback`] and the caller uses the general client instead.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

const BUS_NAME: &str = "org.freedesktop.DBus";
const SECRETS: &str = "org.freedesktop.secrets";
const SECRETS_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
const ITEM_IFACE: &str = "org.freedesktop.Secret.Item";
const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
/// Replies larger than this are not ours to read.
const MAX_MESSAGE: usize = 1 << 20;

/// What the quick read found.
pub enum Outcome {
    /// The item's secret, in a wiped-on-drop buffer.
    Found(Zeroizing<Vec<u8>>),
    /// The Secret Service answered and holds no such item.
    Missing,
    /// Something this path does not handle; use the general client.
    Fallback,
}

/// Reads the secret of the item whose attributes are exactly `attributes`.
pub fn read_secret(attributes: &[(&str, &str)], timeout: Duration) -> Outcome {
    match try_read(attributes, timeout) {
        Ok(outcome) => outcome,
        Err(Unhandled) => Outcome::Fallback,
    }
}

/// Any condition this path leaves to the general client.
struct Unhandled;

impl From<std::io::Error> for Unhandled {
    fn from(_: std::io::Error) -> Self {
        Unhandled
    }
}

/// Reads the secret of the item at `path`, a location remembered from when the
/// item was created, if that item's attributes include all of `attributes`.
/// This skips the search, whose cost grows with every item in the keyring.
/// Anything else, including an item that is gone or is not the one expected
/// (its path reused), is [`Outcome::Fallback`]: the caller then searches.
pub fn read_secret_at(path: &str, attributes: &[(&str, &str)], timeout: Duration) -> Outcome {
    match try_read_at(path, attributes, timeout) {
        Ok(secret) => Outcome::Found(secret),
        Err(Unhandled) => Outcome::Fallback,
    }
}

fn try_read_at(
    path: &str,
    attributes: &[(&str, &str)],
    timeout: Duration,
) -> Result<Zeroizing<Vec<u8>>, Unhandled> {
    if !is_object_path(path) {
        return Err(Unhandled);
    }
    let (mut bus, hello, open) = Bus::start_session(timeout)?;
    bus.flush()?;
    bus.reply(hello)?;
    let session = session_path(&mut bus, open)?;
    // Both calls at once: the attributes decide whether the secret is used.
    let mut get_attributes = Body::default();
    get_attributes.string(ITEM_IFACE);
    get_attributes.string("Attributes");
    let get_attributes = bus.send_call(
        SECRETS,
        path,
        PROPERTIES_IFACE,
        "Get",
        "ss",
        &get_attributes.bytes,
    );
    let get = get_secret_call(&mut bus, path, &session);
    bus.flush()?;
    let found = {
        let reply = bus.reply(get_attributes)?;
        let mut r = reply.reader("v")?;
        if r.signature()? != "a{ss}" {
            return Err(Unhandled);
        }
        r.string_dict()?
    };
    let secret = secret_value(&mut bus, get)?;
    let matches = attributes
        .iter()
        .all(|(key, value)| found.iter().any(|(k, v)| k == key && v == value));
    if !matches {
        return Err(Unhandled);
    }
    Ok(secret)
}

/// D-Bus object paths: `/`, or `/`-separated non-empty elements of `[A-Za-z0-9_]`.
fn is_object_path(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && path[1..].split('/').all(|e| {
                !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }))
}

fn session_path(bus: &mut Bus, open: u32) -> Result<String, Unhandled> {
    let reply = bus.reply(open)?;
    let mut r = reply.reader("vo")?;
    r.skip_variant()?;
    r.object_path()
}

fn get_secret_call(bus: &mut Bus, item: &str, session: &str) -> u32 {
    let mut get = Body::default();
    get.object_path(session);
    bus.send_call(SECRETS, item, ITEM_IFACE, "GetSecret", "o", &get.bytes)
}

/// The value of a `GetSecret` reply on a plain session.
fn secret_value(bus: &mut Bus, get: u32) -> Result<Zeroizing<Vec<u8>>, Unhandled> {
    let reply = bus.reply(get)?;
    let mut r = reply.reader("(oayays)")?;
    r.align(8)?;
    r.object_path()?;
    let parameters = r.byte_array()?;
    if !parameters.is_empty() {
        return Err(Unhandled); // not a plain session after all
    }
    let value = r.byte_array()?;
    Ok(Zeroizing::new(value.to_vec()))
}

fn try_read(attributes: &[(&str, &str)], timeout: Duration) -> Result<Outcome, Unhandled> {
    let (mut bus, hello, open) = Bus::start_session(timeout)?;
    bus.flush()?;
    bus.reply(hello)?;
    let session = session_path(&mut bus, open)?;
    let mut search = Body::default();
    search.string_dict(attributes);
    let search = bus.send_call(
        SECRETS,
        SECRETS_PATH,
        SERVICE_IFACE,
        "SearchItems",
        "a{ss}",
        &search.bytes,
    );
    bus.flush()?;
    let (unlocked, locked) = {
        let reply = bus.reply(search)?;
        let mut r = reply.reader("aoao")?;
        (r.object_paths()?, r.object_paths()?)
    };
    let item = match (unlocked.as_slice(), locked.as_slice()) {
        ([], []) => return Ok(Outcome::Missing),
        ([item], []) => item.clone(),
        // Locked items need an unlock prompt; several matches need the general client's checks.
        _ => return Err(Unhandled),
    };
    let get = get_secret_call(&mut bus, &item, &session);
    bus.flush()?;
    Ok(Outcome::Found(secret_value(&mut bus, get)?))
}

/// The session bus address, if it is a form this path can open.
fn bus_socket() -> Option<SocketAddress> {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) => address.split(';').find_map(parse_address),
        Err(_) => {
            let runtime = std::env::var_os("XDG_RUNTIME_DIR")?;
            let path = PathBuf::from(runtime).join("bus");
            path.exists().then_some(SocketAddress::Path(path))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SocketAddress {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

fn parse_address(address: &str) -> Option<SocketAddress> {
    let params = address.strip_prefix("unix:")?;
    let mut result = None;
    for pair in params.split(',') {
        let (key, value) = pair.split_once('=')?;
        let value = unescape(value)?;
        match key {
            "path" => {
                result = Some(SocketAddress::Path(PathBuf::from(
                    String::from_utf8(value).ok()?,
                )))
            }
            "abstract" => result = Some(SocketAddress::Abstract(value)),
            "guid" => {}
            _ => return None,
        }
    }
    result
}

/// D-Bus addresses escape bytes as `%xx`.
fn unescape(value: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

struct Bus {
    stream: UnixStream,
    out: Vec<u8>,
    serial: u32,
    /// Calls sent whose replies have not been read.
    outstanding: Vec<u32>,
}

/// How long closing waits for replies still owed to us.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

impl Drop for Bus {
    /// Reads the replies still owed before hanging up. GNOME Keyring 42 can abort
    /// when a client disconnects with calls still queued (it then handles a
    /// session request for a client it has already forgotten), and a keyring
    /// that crashes takes every other client's session with it.
    fn drop(&mut self) {
        if self.outstanding.is_empty() || self.flush().is_err() {
            return;
        }
        let _ = self.stream.set_read_timeout(Some(DRAIN_TIMEOUT));
        while !self.outstanding.is_empty() {
            if self.read_message().is_err() {
                break;
            }
        }
    }
}

impl Bus {
    /// Connects and queues `Hello` and `OpenSession("plain")`; returns their serials.
    fn start_session(timeout: Duration) -> Result<(Self, u32, u32), Unhandled> {
        let mut bus = Self::connect(timeout)?;
        let hello = bus.send_call(
            BUS_NAME,
            "/org/freedesktop/DBus",
            BUS_NAME,
            "Hello",
            "",
            &[],
        );
        let mut open = Body::default();
        open.string("plain");
        open.variant_string("");
        let open = bus.send_call(
            SECRETS,
            SECRETS_PATH,
            SERVICE_IFACE,
            "OpenSession",
            "sv",
            &open.bytes,
        );
        Ok((bus, hello, open))
    }

    fn connect(timeout: Duration) -> Result<Self, Unhandled> {
        let stream = match bus_socket().ok_or(Unhandled)? {
            SocketAddress::Path(path) => UnixStream::connect(path)?,
            SocketAddress::Abstract(name) => connect_abstract(&name)?,
        };
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut bus = Self {
            stream,
            out: Vec::with_capacity(1024),
            serial: 0,
            outstanding: Vec::new(),
        };
        bus.authenticate()?;
        Ok(bus)
    }

    fn authenticate(&mut self) -> Result<(), Unhandled> {
        let uid = rustix::process::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.stream
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        // The bus sends nothing after its OK line until we send BEGIN, so reading
        // whole chunks cannot swallow the start of a message.
        let mut line = Vec::with_capacity(128);
        let mut chunk = [0u8; 128];
        while !line.ends_with(b"\r\n") {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 || line.len() > 512 {
                return Err(Unhandled);
            }
            line.extend_from_slice(&chunk[..n]);
        }
        if !line.starts_with(b"OK ") {
            return Err(Unhandled);
        }
        self.out.extend_from_slice(b"BEGIN\r\n");
        Ok(())
    }

    /// Queues a method call; returns its serial.
    fn send_call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        signature: &str,
        body: &[u8],
    ) -> u32 {
        self.serial += 1;
        self.outstanding.push(self.serial);
        let mut fields = Body::default();
        fields.header_field(1, "o", path);
        fields.header_field(2, "s", interface);
        fields.header_field(3, "s", member);
        fields.header_field(6, "s", destination);
        if !signature.is_empty() {
            fields.header_field(8, "g", signature);
        }
        let start = self.out.len();
        self.out.extend_from_slice(&[b'l', 1, 0, 1]);
        self.out
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&self.serial.to_le_bytes());
        self.out
            .extend_from_slice(&(fields.bytes.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&fields.bytes);
        while !(self.out.len() - start).is_multiple_of(8) {
            self.out.push(0);
        }
        self.out.extend_from_slice(body);
        self.serial
    }

    fn flush(&mut self) -> Result<(), Unhandled> {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Reads messages until the reply to `serial`; an error reply is unhandled.
    fn reply(&mut self, serial: u32) -> Result<Message, Unhandled> {
        loop {
            let message = self.read_message()?;
            if message.reply_serial != Some(serial) {
                continue; // a signal such as NameAcquired, or another reply
            }
            return if message.kind == 2 {
                Ok(message)
            } else {
                Err(Unhandled)
            };
        }
    }

    fn read_message(&mut self) -> Result<Message, Unhandled> {
        let mut fixed = [0u8; 16];
        self.stream.read_exact(&mut fixed)?;
        if fixed[0] != b'l' {
            return Err(Unhandled); // big-endian peers are left to the general client
        }
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().map_err(|_| Unhandled)?) as usize;
        let fields_len =
            u32::from_le_bytes(fixed[12..16].try_into().map_err(|_| Unhandled)?) as usize;
        let header_len = (16 + fields_len).div_ceil(8) * 8;
        if header_len + body_len > MAX_MESSAGE {
            return Err(Unhandled);
        }
        let mut rest = Zeroizing::new(vec![0u8; header_len - 16 + body_len]);
        self.stream.read_exact(&mut rest)?;
        let mut header = Vec::with_capacity(header_len);
        header.extend_from_slice(&fixed);
        header.extend_from_slice(&rest[..header_len - 16]);
        let fields = parse_header_fields(&header[16..16 + fields_len])?;
        if let Some(serial) = fields.reply_serial {
            self.outstanding.retain(|&s| s != serial);
        }
        Ok(Message {
            kind: fixed[1],
            reply_serial: fields.reply_serial,
            signature: fields.signature.unwrap_or_default(),
            body: Zeroizing::new(rest[header_len - 16..].to_vec()),
        })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn connect_abstract(name: &[u8]) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixStream::connect_addr(&address)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn connect_abstract(_name: &[u8]) -> std::io::Result<UnixStream> {
    Err(std::io::ErrorKind::Unsupported.into())
}

struct Message {
    kind: u8,
    reply_serial: Option<u32>,
    signature: String,
    body: Zeroizing<Vec<u8>>,
}

impl Message {
    fn reader(&self, expected: &str) -> Result<Reader<'_>, Unhandled> {
        if self.signature != expected {
            return Err(Unhandled);
        }
        Ok(Reader {
            data: &self.body,
            pos: 0,
        })
    }
}

#[derive(Default)]
struct HeaderFields {
    reply_serial: Option<u32>,
    signature: Option<String>,
}

fn parse_header_fields(data: &[u8]) -> Result<HeaderFields, Unhandled> {
    // Field offsets are relative to the message start; the array begins at 16, a multiple of 8.
    let mut r = Reader { data, pos: 0 };
    let mut fields = HeaderFields::default();
    while r.pos < data.len() {
        r.align(8)?;
        let code = r.byte()?;
        let signature = r.signature()?;
        match (code, signature.as_str()) {
            (5, "u") => fields.reply_serial = Some(r.u32()?),
            (8, "g") => fields.signature = Some(r.signature()?),
            (_, "s" | "o") => {
                r.string()?;
            }
            (_, "g") => {
                r.signature()?;
            }
            (_, "u") => {
                r.u32()?;
            }
            _ => return Err(Unhandled),
        }
    }
    Ok(fields)
}

/// Builds a message body (or the header field array) with D-Bus alignment.
#[derive(Default)]
struct Body {
    bytes: Vec<u8>,
}

impl Body {
    fn pad(&mut self, to: usize) {
        while !self.bytes.len().is_multiple_of(to) {
            self.bytes.push(0);
        }
    }

    fn u32(&mut self, value: u32) {
        self.pad(4);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    fn string(&mut self, text: &str) {
        self.u32(text.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.push(0);
    }

    fn object_path(&mut self, path: &str) {
        self.string(path);
    }

    fn signature(&mut self, signature: &str) {
        self.bytes.push(signature.len() as u8);
        self.bytes.extend_from_slice(signature.as_bytes());
        self.bytes.push(0);
    }

    fn variant_string(&mut self, text: &str) {
        self.signature("s");
        self.string(text);
    }

    fn header_field(&mut self, code: u8, signature: &str, value: &str) {
        self.pad(8);
        self.bytes.push(code);
        self.signature(signature);
        if signature == "g" {
            self.signature(value);
        } else {
            self.string(value);
        }
    }

    /// `a{ss}`
    fn string_dict(&mut self, entries: &[(&str, &str)]) {
        self.pad(4);
        let length_at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        self.pad(8);
        let start = self.bytes.len();
        for (key, value) in entries {
            self.pad(8);
            self.string(key);
            self.string(value);
        }
        let length = (self.bytes.len() - start) as u32;
        self.bytes[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }
}

/// Reads a message body; every read is bounds-checked, so hostile replies fall back.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unhandled> {
        let end = self.pos.checked_add(n).ok_or(Unhandled)?;
        let slice = self.data.get(self.pos..end).ok_or(Unhandled)?;
        self.pos = end;
        Ok(slice)
    }

    fn align(&mut self, to: usize) -> Result<(), Unhandled> {
        let padding = (to - self.pos % to) % to;
        self.take(padding).map(|_| ())
    }

    fn byte(&mut self) -> Result<u8, Unhandled> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Unhandled> {
        self.align(4)?;
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| Unhandled)?,
        ))
    }

    fn string(&mut self) -> Result<String, Unhandled> {
        let len = self.u32()? as usize;
        let text = self.take(len)?.to_vec();
        self.take(1)?;
        String::from_utf8(text).map_err(|_| Unhandled)
    }

    fn object_path(&mut self) -> Result<String, Unhandled> {
        self.string()
    }

    fn signature(&mut self) -> Result<String, Unhandled> {
        let len = self.byte()? as usize;
        let text = self.take(len)?.to_vec();
        self.take(1)?;
        String::from_utf8(text).map_err(|_| Unhandled)
    }

    /// Skips a variant whose value is a string, object path or byte array (OpenSession's output).
    fn skip_variant(&mut self) -> Result<(), Unhandled> {
        match self.signature()?.as_str() {
            "s" | "o" => self.string().map(|_| ()),
            "ay" => self.byte_array().map(|_| ()),
            _ => Err(Unhandled),
        }
    }

    fn byte_array(&mut self) -> Result<&'a [u8], Unhandled> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// `a{ss}`, as an item's `Attributes` property holds.
    fn string_dict(&mut self) -> Result<Vec<(String, String)>, Unhandled> {
        let len = self.u32()? as usize;
        self.align(8)?;
        let end = self.pos.checked_add(len).ok_or(Unhandled)?;
        let mut entries = Vec::new();
        while self.pos < end {
            self.align(8)?;
            entries.push((self.string()?, self.string()?));
        }
        if self.pos != end {
            return Err(Unhandled);
        }
        Ok(entries)
    }

    fn object_paths(&mut self) -> Result<Vec<String>, Unhandled> {
        let len = self.u32()? as usize;
        let end = self.pos.checked_add(len).ok_or(Unhandled)?;
        let mut paths = Vec::new();
        while self.pos < end {
            paths.push(self.object_path()?);
        }
        if self.pos != end {
            return Err(Unhandled);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_addresses_are_parsed_with_escapes() {
        assert_eq!(
            parse_address("unix:path=/run/user/1000/bus"),
            Some(SocketAddress::Path("/run/user/1000/bus".into()))
        );
        assert_eq!(
            parse_address("unix:abstract=/tmp/dbus-x%2cy,guid=abc"),
            Some(SocketAddress::Abstract(b"/tmp/dbus-x,y".to_vec()))
        );
        assert_eq!(parse_address("tcp:host=localhost,port=1"), None);
        assert_eq!(parse_address("unix:path=/a%zz"), None);
        assert_eq!(parse_address("unix:tmpdir=/tmp"), None);
    }

    #[test]
    fn string_dict_is_marshalled_with_alignment() {
        let mut body = Body::default();
        body.string_dict(&[("a", "b")]);
        // length 4, pad to 8, entry: "a" (4+1+1), pad to 4, "b" (4+1+1)
        assert_eq!(
            body.bytes,
            [
                14, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, b'a', 0, 0, 0, 1, 0, 0, 0, b'b', 0
            ]
        );
    }

    #[test]
    fn string_dicts_read_back_what_was_written() {
        let mut body = Body::default();
        body.string_dict(&[("service", "docker-credential-pat"), ("username", "abc")]);
        let mut r = Reader {
            data: &body.bytes,
            pos: 0,
        };
        assert_eq!(
            r.string_dict().ok().unwrap(),
            [
                ("service".to_owned(), "docker-credential-pat".to_owned()),
                ("username".to_owned(), "abc".to_owned())
            ]
        );
    }

    #[test]
    fn only_well_formed_object_paths_are_called() {
        assert!(is_object_path(
            "/org/freedesktop/secrets/collection/login/12"
        ));
        assert!(is_object_path("/"));
        for bad in ["", "org", "/a//b", "/a/", "/a-b", "/a/b\0", "/ä"] {
            assert!(!is_object_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn hostile_bodies_never_panic() {
        let samples: [&[u8]; 5] = [
            &[],
            &[0xff; 3],
            &[0xff, 0xff, 0xff, 0xff, 1],
            &[200, 0, 0, 0],
            &[4, 0, 0, 0, 1, 2],
        ];
        for data in samples {
            let mut r = Reader { data, pos: 0 };
            let _ = r.object_paths();
            let mut r = Reader { data, pos: 0 };
            let _ = r.skip_variant();
            let mut r = Reader { data, pos: 0 };
            let _ = r.string_dict();
            let _ = parse_header_fields(data);
        }
    }
}
