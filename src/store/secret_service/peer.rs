//! A Secret Service played in memory, for the client's unit tests and the
//! fuzzer's seed corpus. It reads the calls the client writes and answers
//! them from a small model keyring, which can be told to misbehave the ways
//! real providers have: search results that do not match, a locked
//! collection, a prompt that is dismissed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

use super::bus::Stream;
use super::crypto::{Keypair, SessionKey};
use super::wire::{self, Body, Message, Preamble, Reader};

pub(super) const COLLECTION: &str = "/org/freedesktop/secrets/collection/login";
const SESSION: &str = "/org/freedesktop/secrets/session/s1";
const PROMPT: &str = "/org/freedesktop/secrets/prompt/p1";
/// The service's own Diffie-Hellman exponent (fixed: tests need no randomness).
const SERVICE_PRIVATE: [u8; 32] = [0x5a; 32];

pub(super) struct FakeItem {
    pub path: String,
    pub label: String,
    pub attributes: Vec<(String, String)>,
    pub secret: Vec<u8>,
}

#[derive(Default)]
pub(super) struct Keyring {
    pub items: Vec<FakeItem>,
    /// The default collection (and so every item in it) is locked.
    pub locked: bool,
    /// An unlock prompt is dismissed rather than completed.
    pub dismiss_prompts: bool,
    /// Search answers every item, matching or not.
    pub search_returns_everything: bool,
    /// There is no default collection.
    pub no_default: bool,
    pub(super) key: Option<SessionKey>,
    pub(super) created: u32,
}

pub(super) struct Peer {
    pub keyring: Keyring,
    input: Vec<u8>,
    output: VecDeque<u8>,
    authenticated: bool,
    serial: u32,
    /// The members called, in order.
    pub calls: Vec<String>,
    /// Every byte sent to the client.
    pub transcript: Vec<u8>,
}

impl Peer {
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring,
            input: Vec::new(),
            output: VecDeque::new(),
            authenticated: false,
            serial: 0,
            calls: Vec::new(),
            transcript: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.output.extend(bytes);
        self.transcript.extend_from_slice(bytes);
    }

    fn next_serial(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    fn reply(&mut self, to: u32, signature: &str, body: &Body) {
        let mut fields = Body::default();
        fields.header_field_u32(5, to);
        if !signature.is_empty() {
            fields.header_field(8, "g", signature);
        }
        let mut out = Vec::new();
        let serial = self.next_serial();
        wire::message(&mut out, wire::METHOD_RETURN, serial, &fields, body);
        self.send(&out);
    }

    fn error(&mut self, to: u32, name: &str) {
        let mut fields = Body::default();
        fields.header_field(4, "s", name);
        fields.header_field_u32(5, to);
        fields.header_field(8, "g", "s");
        let mut body = Body::default();
        body.string("refused by the test keyring");
        let mut out = Vec::new();
        let serial = self.next_serial();
        wire::message(&mut out, wire::ERROR, serial, &fields, &body);
        self.send(&out);
    }

    fn completed(&mut self, dismissed: bool, unlocked: &[&str]) {
        let mut fields = Body::default();
        fields.header_field(1, "o", PROMPT);
        fields.header_field(2, "s", "org.freedesktop.Secret.Prompt");
        fields.header_field(3, "s", "Completed");
        fields.header_field(8, "g", "bv");
        let mut body = Body::default();
        body.bool(dismissed);
        body.signature("ao");
        body.object_paths(unlocked);
        let mut out = Vec::new();
        let serial = self.next_serial();
        wire::message(&mut out, wire::SIGNAL, serial, &fields, &body);
        self.send(&out);
    }

    /// Handles every whole message in the input.
    fn serve(&mut self) {
        if !self.authenticated {
            let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            self.input.drain(..end + 2);
            self.authenticated = true;
            self.send(b"OK 0123456789abcdef0123456789abcdef\r\n");
        }
        if self.input.starts_with(b"BEGIN\r\n") {
            self.input.drain(..7);
        }
        while self.input.len() >= 16 {
            let fixed: [u8; 16] = self.input[..16].try_into().unwrap();
            let preamble = Preamble::parse(&fixed).unwrap();
            if self.input.len() < 16 + preamble.rest_len {
                return;
            }
            let serial = u32::from_le_bytes(fixed[8..12].try_into().unwrap());
            let rest = zeroize::Zeroizing::new(self.input[16..16 + preamble.rest_len].to_vec());
            self.input.drain(..16 + preamble.rest_len);
            let call = Message::parse(&preamble, rest).unwrap();
            self.answer(serial, &call);
        }
    }

    fn answer(&mut self, serial: u32, call: &Message) {
        let member = call.member.clone().unwrap_or_default();
        let path = call.path.clone().unwrap_or_default();
        self.calls.push(member.clone());
        let mut r = Reader::new(&call.body, false);
        let mut body = Body::default();
        match member.as_str() {
            "Hello" => {
                body.string(":1.42");
                self.reply(serial, "s", &body);
            }
            "AddMatch" | "Ping" => self.reply(serial, "", &body),
            "OpenSession" => {
                let algorithm = r.string().unwrap();
                let _ = r.variant().unwrap();
                if algorithm == "plain" {
                    body.variant_string("");
                } else {
                    let theirs = r.byte_array().unwrap();
                    let ours = Keypair::from_private(&SERVICE_PRIVATE);
                    self.keyring.key = Some(ours.agree(theirs).unwrap());
                    body.variant_byte_array(ours.public());
                }
                body.object_path(SESSION);
                self.reply(serial, "vo", &body);
            }
            "SearchItems" => {
                let wanted = r.string_dict().unwrap();
                let wanted: Vec<(&str, &str)> = wanted
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let everything = self.keyring.search_returns_everything;
                let found: Vec<&str> = self
                    .keyring
                    .items
                    .iter()
                    .filter(|item| everything || super::client::matches(&item.attributes, &wanted))
                    .map(|item| item.path.as_str())
                    .collect();
                let (unlocked, locked) = if self.keyring.locked {
                    (Vec::new(), found)
                } else {
                    (found, Vec::new())
                };
                body.object_paths(&unlocked);
                body.object_paths(&locked);
                self.reply(serial, "aoao", &body);
            }
            "Get" => match self.keyring.items.iter().find(|i| i.path == path) {
                Some(item) => {
                    let attributes: Vec<(&str, &str)> = item
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    body.signature("a{ss}");
                    body.string_dict(&attributes);
                    self.reply(serial, "v", &body);
                }
                None => self.error(serial, "org.freedesktop.Secret.Error.NoSuchObject"),
            },
            "GetSecret" => {
                let Some(item) = self.keyring.items.iter().find(|i| i.path == path) else {
                    return self.error(serial, "org.freedesktop.Secret.Error.NoSuchObject");
                };
                if self.keyring.locked {
                    return self.error(serial, "org.freedesktop.Secret.Error.IsLocked");
                }
                body.open_struct();
                body.object_path(SESSION);
                match &self.keyring.key {
                    None => {
                        body.byte_array(&[]);
                        body.byte_array(&item.secret);
                    }
                    Some(key) => {
                        let (iv, sealed) = key.encrypt(&item.secret);
                        body.byte_array(&iv);
                        body.byte_array(&sealed);
                    }
                }
                body.string("text/plain");
                self.reply(serial, "(oayays)", &body);
            }
            "ReadAlias" => {
                body.object_path(if self.keyring.no_default {
                    "/"
                } else {
                    COLLECTION
                });
                self.reply(serial, "o", &body);
            }
            "CreateItem" => {
                if self.keyring.locked {
                    return self.error(serial, "org.freedesktop.Secret.Error.IsLocked");
                }
                let (mut label, mut attributes) = (String::new(), Vec::new());
                r.array(8, |r| {
                    r.open_struct()?;
                    let key = r.string()?;
                    match (key.as_str(), r.variant()?.as_str()) {
                        ("org.freedesktop.Secret.Item.Label", "s") => label = r.string()?,
                        ("org.freedesktop.Secret.Item.Attributes", "a{ss}") => {
                            attributes = r.string_dict()?
                        }
                        (_, other) => r.skip_value(other)?,
                    }
                    Ok(())
                })
                .unwrap();
                r.open_struct().unwrap();
                r.object_path().unwrap();
                let parameters = r.byte_array().unwrap().to_vec();
                let value = r.byte_array().unwrap().to_vec();
                r.string().unwrap();
                let replace = r.bool().unwrap();
                let secret = match &self.keyring.key {
                    None => value,
                    Some(key) => key.decrypt(&parameters, &value).unwrap().to_vec(),
                };
                let existing = self
                    .keyring
                    .items
                    .iter()
                    .position(|i| replace && i.attributes == attributes);
                let item_path = match existing {
                    Some(at) => {
                        let item = &mut self.keyring.items[at];
                        item.secret = secret;
                        item.label = label;
                        item.path.clone()
                    }
                    None => {
                        self.keyring.created += 1;
                        let path = format!("{COLLECTION}/{}", self.keyring.created);
                        self.keyring.items.push(FakeItem {
                            path: path.clone(),
                            label,
                            attributes,
                            secret,
                        });
                        path
                    }
                };
                body.object_path(&item_path);
                body.object_path("/");
                self.reply(serial, "oo", &body);
            }
            "Delete" => {
                if self.keyring.locked {
                    return self.error(serial, "org.freedesktop.Secret.Error.IsLocked");
                }
                let before = self.keyring.items.len();
                self.keyring.items.retain(|i| i.path != path);
                if self.keyring.items.len() == before {
                    return self.error(serial, "org.freedesktop.Secret.Error.NoSuchObject");
                }
                body.object_path("/");
                self.reply(serial, "o", &body);
            }
            "Unlock" => {
                let paths = r.object_paths().unwrap();
                let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                if self.keyring.locked {
                    body.object_paths(&[]);
                    body.object_path(PROMPT);
                } else {
                    body.object_paths(&paths);
                    body.object_path("/");
                }
                self.reply(serial, "aoo", &body);
            }
            "Prompt" => {
                self.reply(serial, "", &body);
                let dismissed = self.keyring.dismiss_prompts;
                if !dismissed {
                    self.keyring.locked = false;
                }
                self.completed(dismissed, if dismissed { &[] } else { &[COLLECTION] });
            }
            _ => self.error(serial, "org.freedesktop.DBus.Error.UnknownMethod"),
        }
    }
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.output.is_empty() {
            // Nothing owed to the client: a real peer would leave it waiting.
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = buf.len().min(self.output.len());
        for (slot, byte) in buf.iter_mut().zip(self.output.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.input.extend_from_slice(buf);
        self.serve();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Peer {
    fn set_timeout(&self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}
