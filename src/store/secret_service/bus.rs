//! One connection to the D-Bus session bus: find it, authenticate, send calls,
//! match replies.
//!
//! Calls are queued in one outgoing buffer and sent together by [`Bus::flush`],
//! so a conversation costs as few round trips as its data dependencies allow.
//! The outgoing buffer and every received message are wiped, because they
//! carry secrets. The stream is generic so the fuzzer can play the peer.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

use super::wire::{self, Body, Malformed, Message, Preamble};

/// How long closing waits for replies still owed to us.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of a message is read at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Signals kept while waiting for a reply; any beyond these are not ours.
const MAX_KEPT_SIGNALS: usize = 16;

/// What went wrong talking to the bus or the Secret Service. No variant
/// carries a secret: remote error texts come from the service, not from us.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("no D-Bus session bus to connect to ({0})")]
    NoBus(String),
    #[error("the session bus connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the session bus refused to authenticate this process")]
    Auth,
    #[error("the Secret Service sent something this client cannot read: {0}")]
    Malformed(#[from] Malformed),
    /// An error reply: its D-Bus error name and its text.
    #[error("{name}: {text}")]
    Remote { name: String, text: String },
}

impl Error {
    /// The D-Bus error name of an error reply.
    pub fn remote_name(&self) -> Option<&str> {
        match self {
            Error::Remote { name, .. } => Some(name),
            _ => None,
        }
    }

    /// True when the connection itself can no longer be trusted.
    pub fn breaks_connection(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Malformed(_) | Error::Auth)
    }
}

pub(super) type Result<T, E = Error> = std::result::Result<T, E>;

/// A byte stream the bus runs over; sockets bound their waits with a timeout.
pub(super) trait Stream: Read + Write {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()>;
}

impl<S: Stream + ?Sized> Stream for &mut S {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        (**self).set_timeout(timeout)
    }
}

impl Stream for UnixStream {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

pub(super) struct Bus<S: Stream> {
    stream: S,
    out: Zeroizing<Vec<u8>>,
    serial: u32,
    /// Calls sent whose replies have not been read.
    outstanding: Vec<u32>,
    /// Signals that arrived while a reply was awaited.
    signals: Vec<Message>,
    /// Bytes read past the authentication line (a well-behaved bus sends none).
    early: Vec<u8>,
}

impl Bus<UnixStream> {
    /// Connects to the session bus and authenticates; every wait is bounded by `timeout`.
    pub fn session(timeout: Duration) -> Result<Self> {
        let stream = match bus_socket()? {
            SocketAddress::Path(path) => UnixStream::connect(&path)
                .map_err(|e| Error::NoBus(format!("cannot connect to {}: {e}", path.display())))?,
            SocketAddress::Abstract(name) => connect_abstract(&name)
                .map_err(|e| Error::NoBus(format!("cannot connect to the bus: {e}")))?,
        };
        stream.set_timeout(timeout)?;
        Self::authenticate(stream, rustix::process::getuid().as_raw())
    }
}

impl<S: Stream> Bus<S> {
    /// Authenticates as `uid` (EXTERNAL); `BEGIN` goes out with the first calls.
    pub fn authenticate(mut stream: S, uid: u32) -> Result<Self> {
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        // The bus sends nothing after its OK line until we send BEGIN; whatever
        // else arrives with the line is kept for the first message.
        let mut line = Vec::with_capacity(128);
        let mut chunk = [0u8; 128];
        let end = loop {
            if let Some(at) = line.windows(2).position(|w| w == b"\r\n") {
                break at + 2;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 || line.len() > 512 {
                return Err(Error::Auth);
            }
            line.extend_from_slice(&chunk[..n]);
        };
        if !line.starts_with(b"OK ") {
            return Err(Error::Auth);
        }
        let early = line.split_off(end);
        let mut bus = Self {
            stream,
            out: Zeroizing::new(Vec::with_capacity(1024)),
            serial: 0,
            outstanding: Vec::new(),
            signals: Vec::new(),
            early,
        };
        bus.out.extend_from_slice(b"BEGIN\r\n");
        Ok(bus)
    }

    /// Queues a method call; returns its serial.
    pub fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        signature: &str,
        body: &Body,
    ) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.outstanding.push(self.serial);
        wire::method_call(
            &mut self.out,
            self.serial,
            destination,
            path,
            interface,
            member,
            body,
            signature,
        );
        self.serial
    }

    #[cfg(test)]
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Sends everything queued, then wipes the buffer it was queued in.
    pub fn flush(&mut self) -> Result<()> {
        let result = self.stream.write_all(&self.out);
        self.out.zeroize();
        result?;
        Ok(())
    }

    /// Reads messages until the reply to `serial`.
    pub fn reply(&mut self, serial: u32) -> Result<Message> {
        loop {
            let message = self.read_message()?;
            if message.kind == wire::SIGNAL {
                if self.signals.len() < MAX_KEPT_SIGNALS {
                    self.signals.push(message);
                }
                continue;
            }
            if message.reply_serial != Some(serial) {
                continue; // another reply, or a call to us that we do not serve
            }
            return match message.kind {
                wire::METHOD_RETURN => Ok(message),
                wire::ERROR => Err(Error::Remote {
                    name: message.error_name.clone().unwrap_or_default(),
                    text: message.error_text().unwrap_or_default(),
                }),
                _ => Err(Malformed("a reply of an unknown kind").into()),
            };
        }
    }

    /// Waits for the signal `interface.member` from the object at `path`.
    pub fn signal(&mut self, path: &str, interface: &str, member: &str) -> Result<Message> {
        let matches = |m: &Message| {
            m.kind == wire::SIGNAL
                && m.path.as_deref() == Some(path)
                && m.interface.as_deref() == Some(interface)
                && m.member.as_deref() == Some(member)
        };
        if let Some(at) = self.signals.iter().position(matches) {
            return Ok(self.signals.remove(at));
        }
        loop {
            let message = self.read_message()?;
            if matches(&message) {
                return Ok(message);
            }
        }
    }

    /// Fills `buf`, first from what arrived with the authentication line.
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let early = self.early.len().min(buf.len());
        buf[..early].copy_from_slice(&self.early[..early]);
        self.early.drain(..early);
        self.stream.read_exact(&mut buf[early..])
    }

    fn read_message(&mut self) -> Result<Message> {
        let mut fixed = [0u8; 16];
        self.read_exact(&mut fixed)?;
        let preamble = Preamble::parse(&fixed)?;
        // Room is made as the bytes arrive, not as the header claims: a peer
        // that announces megabytes and sends nothing costs nothing. (Blocks
        // outgrown on the way are wiped by the allocator.)
        let mut rest = Zeroizing::new(Vec::new());
        while rest.len() < preamble.rest_len {
            let start = rest.len();
            rest.resize(start + (preamble.rest_len - start).min(READ_CHUNK), 0);
            self.read_exact(&mut rest[start..])?;
        }
        let message = Message::parse(&preamble, rest)?;
        if let Some(serial) = message.reply_serial {
            self.outstanding.retain(|&s| s != serial);
        }
        Ok(message)
    }
}

impl<S: Stream> Drop for Bus<S> {
    /// Reads the replies still owed before hanging up. GNOME Keyring 42 can abort
    /// when a client disconnects with calls still queued (it then handles a
    /// session request for a client it has already forgotten), and a keyring
    /// that crashes takes every other client's session with it.
    fn drop(&mut self) {
        if self.outstanding.is_empty() || self.flush().is_err() {
            return;
        }
        let _ = self.stream.set_timeout(DRAIN_TIMEOUT);
        while !self.outstanding.is_empty() {
            if self.read_message().is_err() {
                break;
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SocketAddress {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// The session bus address, if it is a form this client can open.
fn bus_socket() -> Result<SocketAddress> {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) => address.split(';').find_map(parse_address).ok_or_else(|| {
            Error::NoBus(format!(
                "DBUS_SESSION_BUS_ADDRESS is {:?}, which names no Unix socket",
                crate::text::printable(&address, 100)
            ))
        }),
        Err(_) => {
            let runtime = std::env::var_os("XDG_RUNTIME_DIR").ok_or_else(|| {
                Error::NoBus("neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set".into())
            })?;
            let path = PathBuf::from(runtime).join("bus");
            if !path.exists() {
                return Err(Error::NoBus(format!(
                    "DBUS_SESSION_BUS_ADDRESS is not set and {} does not exist",
                    path.display()
                )));
            }
            Ok(SocketAddress::Path(path))
        }
    }
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

fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixStream::connect_addr(&address)
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
}
