//! The client against a peer that only replays bytes: how the fuzzer drives
//! the whole conversation (authentication, every reply and signal) with
//! input nobody vouches for, and how its seed corpus is checked.

use std::io::{self, Read, Write};
use std::sync::OnceLock;
use std::time::Duration;

use super::bus::{Bus, Stream};
use super::client::{Client, SessionChoice};
use super::crypto::Keypair;

/// Which conversation to hold; the first input byte chooses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conversation {
    Read,
    ReadAt,
    Create,
    Delete,
    List,
    Unlock,
}

const CONVERSATIONS: [Conversation; 6] = [
    Conversation::Read,
    Conversation::ReadAt,
    Conversation::Create,
    Conversation::Delete,
    Conversation::List,
    Conversation::Unlock,
];

pub(super) const KEY: [(&str, &str); 2] =
    [("service", "docker-credential-pat"), ("username", "item1")];
pub(super) const PATH: &str = "/org/freedesktop/secrets/collection/login/1";

/// The fuzzer's own keypair: fixed, so a replayed encrypted session decrypts,
/// and with an exponent below 2^64 (see `EXPONENT_BITS` in [`super::crypto`]).
fn keypair() -> Keypair {
    static KEYPAIR: OnceLock<Keypair> = OnceLock::new();
    KEYPAIR
        .get_or_init(|| {
            let mut private = [0u8; 32];
            private[24..].fill(0x21);
            Keypair::from_private(&private)
        })
        .clone()
}

/// The first input byte for a conversation on a session kind.
#[cfg(test)]
pub(super) fn selector(conversation: Conversation, encrypted: bool) -> u8 {
    let index = CONVERSATIONS
        .iter()
        .position(|c| *c == conversation)
        .unwrap_or(0);
    index as u8 * 2 + u8::from(encrypted)
}

pub(super) fn session(encrypted: bool) -> SessionChoice {
    if encrypted {
        SessionChoice::Encrypted(keypair())
    } else {
        SessionChoice::Plain
    }
}

/// Holds one conversation over `stream`; true when it went through.
pub(super) fn hold<S: Stream>(stream: S, conversation: Conversation, encrypted: bool) -> bool {
    let Ok(bus) = Bus::authenticate(stream, 1000) else {
        return false;
    };
    let Ok(mut client) = Client::open(bus, session(encrypted)) else {
        return false;
    };
    let attributes = [KEY[0], KEY[1], ("registry", "ghcr.io")];
    match conversation {
        Conversation::Read => client.read(&KEY).is_ok_and(|s| s.is_some()),
        Conversation::ReadAt => client.read_at(PATH, &KEY).is_ok_and(|s| s.is_some()),
        Conversation::Create => client
            .create("label", &attributes, b"dckr_pat_fuzz")
            .is_ok(),
        Conversation::Delete => client
            .find(&KEY)
            .and_then(|item| client.delete(&item.path))
            .is_ok(),
        Conversation::List => client
            .search_checked(&KEY[..1])
            .is_ok_and(|l| !l.is_empty()),
        Conversation::Unlock => client.unlock(PATH).is_ok(),
    }
}

/// Runs the conversation the first byte of `data` names, the service's side
/// being the rest of `data`; true when it went through.
pub(crate) fn replay(data: &[u8]) -> bool {
    let Some((&first, rest)) = data.split_first() else {
        return false;
    };
    let conversation = CONVERSATIONS[usize::from(first / 2) % CONVERSATIONS.len()];
    hold(Replay(rest), conversation, first % 2 == 1)
}

/// Reads come from the recording; writes go nowhere.
struct Replay<'a>(&'a [u8]);

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Replay<'_> {
    fn set_timeout(&self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::peer::{FakeItem, Keyring, Peer};
    use super::*;

    fn keyring(conversation: Conversation) -> Keyring {
        let mut keyring = Keyring {
            locked: conversation == Conversation::Unlock,
            ..Keyring::default()
        };
        if conversation != Conversation::Create {
            keyring.items.push(FakeItem {
                path: PATH.into(),
                label: "label".into(),
                attributes: vec![
                    ("service".into(), "docker-credential-pat".into()),
                    ("username".into(), "item1".into()),
                    ("registry".into(), "ghcr.io".into()),
                ],
                secret: b"dckr_pat_seed".to_vec(),
            });
        }
        keyring
    }

    /// The seed corpus: each conversation, both session kinds, as the
    /// in-memory service holds it. Set PAT_WRITE_CORPUS=1 to write them to
    /// tests/corpus/dbus/ (the encrypted ones differ each time: fresh IVs).
    #[test]
    fn recorded_conversations_replay_to_the_same_end() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/dbus");
        let write = std::env::var_os("PAT_WRITE_CORPUS").is_some();
        for conversation in CONVERSATIONS {
            for encrypted in [false, true] {
                let mut peer = Peer::new(keyring(conversation));
                let ok = hold(&mut peer, conversation, encrypted);
                assert!(
                    ok,
                    "{conversation:?} (encrypted: {encrypted}) against the fake service"
                );
                let mut recorded = vec![selector(conversation, encrypted)];
                recorded.extend_from_slice(&peer.transcript);
                assert!(
                    replay(&recorded),
                    "{conversation:?} (encrypted: {encrypted}) replayed"
                );
                if write {
                    let kind = if encrypted { "encrypted" } else { "plain" };
                    let name = format!("{conversation:?}-{kind}.bin").to_lowercase();
                    std::fs::write(dir.join(name), &recorded).unwrap();
                }
            }
        }
    }

    /// Recorded conversations go through; anything else (inputs the fuzzer
    /// once found interesting) must simply not panic.
    #[test]
    fn seed_corpus_replays() {
        for (name, bytes) in crate::corpus::inputs("dbus") {
            let went_through = replay(&bytes);
            if name.ends_with("-plain.bin") || name.ends_with("-encrypted.bin") {
                assert!(went_through, "{name}");
            }
        }
    }
}
