//! The client's unit tests, against the Secret Service played in memory (`peer`).

use super::super::peer::{COLLECTION, FakeItem, Keyring, Peer};
use super::*;

const KEY: [(&str, &str); 2] = [("service", "docker-credential-pat"), ("username", "item1")];

fn open(keyring: Keyring, encrypted: bool) -> Client<Peer> {
    let bus = Bus::authenticate(Peer::new(keyring), 1000).unwrap();
    let choice = if encrypted {
        SessionChoice::Encrypted(Keypair::from_private(&[0x21; 32]))
    } else {
        SessionChoice::Plain
    };
    Client::open(bus, choice).unwrap()
}

fn item(n: u32, username: &str, secret: &str) -> FakeItem {
    FakeItem {
        path: format!("{COLLECTION}/{n}"),
        label: String::new(),
        attributes: vec![
            ("service".into(), "docker-credential-pat".into()),
            ("username".into(), username.into()),
        ],
        secret: secret.as_bytes().to_vec(),
    }
}

fn read(client: &mut Client<Peer>) -> Option<String> {
    client
        .read(&KEY)
        .unwrap()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
}

#[test]
fn items_are_created_read_replaced_and_deleted_on_both_session_kinds() {
    for encrypted in [false, true] {
        let mut client = open(Keyring::default(), encrypted);
        let attributes = [KEY[0], KEY[1], ("registry", "ghcr.io")];
        let path = client.create("label", &attributes, b"first").unwrap();
        assert_eq!(read(&mut client).as_deref(), Some("first"));
        let again = client.create("label", &attributes, b"second").unwrap();
        assert_eq!(again, path, "replaced in place");
        assert_eq!(client.stream().keyring.items.len(), 1);
        let item = &client.stream().keyring.items[0];
        assert_eq!(
            item.secret, b"second",
            "the service decrypted what was sent"
        );
        assert_eq!(item.label, "label");
        assert_eq!(
            client
                .read_at(&path, &KEY)
                .unwrap()
                .as_deref()
                .map(Vec::as_slice),
            Some(&b"second"[..])
        );
        let found = client.find(&KEY).unwrap();
        assert!(matches(&found.attributes, &attributes));
        client.delete(&found.path).unwrap();
        assert_eq!(read(&mut client), None);
        assert!(matches!(client.find(&KEY), Err(Error::NotFound)));
    }
}

#[test]
fn a_search_result_that_does_not_match_is_never_read() {
    let mut keyring = Keyring {
        search_returns_everything: true,
        ..Keyring::default()
    };
    keyring.items.push(item(1, "someone-else", "not-ours"));
    let mut client = open(keyring, false);
    assert_eq!(read(&mut client), None, "the only result is not ours");
    assert!(matches!(client.find(&KEY), Err(Error::NotFound)));
    client.stream().keyring.items.push(item(2, "item1", "ours"));
    assert_eq!(read(&mut client).as_deref(), Some("ours"));
    assert_eq!(client.search_checked(&KEY).unwrap().len(), 1);
}

#[test]
fn two_items_with_one_name_are_ambiguous() {
    let mut keyring = Keyring::default();
    keyring.items.push(item(1, "item1", "a"));
    keyring.items.push(item(2, "item1", "b"));
    let mut client = open(keyring, false);
    assert!(matches!(client.read(&KEY), Err(Error::Ambiguous)));
    assert!(matches!(client.find(&KEY), Err(Error::Ambiguous)));
}

#[test]
fn a_remembered_path_is_used_only_for_the_item_expected() {
    let mut keyring = Keyring::default();
    keyring.items.push(item(1, "reused-path", "not-ours"));
    let mut client = open(keyring, false);
    let path = format!("{COLLECTION}/1");
    assert!(client.read_at(&path, &KEY).unwrap().is_none());
    assert!(
        client
            .read_at(&format!("{COLLECTION}/9"), &KEY)
            .unwrap()
            .is_none()
    );
    assert!(client.read_at("not a path", &KEY).unwrap().is_none());
}

#[test]
fn a_remembered_path_is_deleted_only_when_it_holds_the_item_expected() {
    let mut keyring = Keyring::default();
    keyring.items.push(item(1, "reused-path", "not-ours"));
    keyring.items.push(item(2, "item1", "ours"));
    let mut client = open(keyring, false);
    let (theirs, ours) = (format!("{COLLECTION}/1"), format!("{COLLECTION}/2"));
    assert!(!client.delete_at(&theirs, &KEY).unwrap());
    assert!(!client.delete_at(&format!("{COLLECTION}/9"), &KEY).unwrap());
    assert!(!client.delete_at("not a path", &KEY).unwrap());
    assert_eq!(
        client.stream().keyring.items.len(),
        2,
        "nothing deleted yet"
    );
    assert!(client.delete_at(&ours, &KEY).unwrap());
    let left: Vec<&str> = client
        .stream()
        .keyring
        .items
        .iter()
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(left, [theirs.as_str()]);
    assert!(!client.delete_at(&ours, &KEY).unwrap(), "already gone");
    assert!(
        !client.stream().calls.contains(&"SearchItems".to_owned()),
        "no search: {:?}",
        client.stream().calls
    );
}

#[test]
fn a_locked_keyring_is_unlocked_through_its_prompt() {
    let mut keyring = Keyring {
        locked: true,
        ..Keyring::default()
    };
    keyring.items.push(item(1, "item1", "locked-secret"));
    let mut client = open(keyring, false);
    assert_eq!(read(&mut client).as_deref(), Some("locked-secret"));
    assert!(client.stream().calls.contains(&"Prompt".to_owned()));
    client.stream().keyring.locked = true;
    client.create("label", &KEY, b"new").unwrap();
    assert!(!client.stream().keyring.locked);
}

#[test]
fn a_dismissed_prompt_is_a_clear_error() {
    let keyring = Keyring {
        locked: true,
        dismiss_prompts: true,
        ..Keyring::default()
    };
    let mut client = open(keyring, true);
    let err = client.create("label", &KEY, b"s").err().unwrap();
    assert!(matches!(err, Error::Dismissed), "{err}");
    assert!(err.to_string().contains("unlock it"), "{err}");
    client.stream().keyring.items.push(item(1, "item1", "s"));
    assert!(matches!(client.read(&KEY), Err(Error::Dismissed)));
}

#[test]
fn no_default_keyring_is_reported() {
    let keyring = Keyring {
        no_default: true,
        ..Keyring::default()
    };
    let mut client = open(keyring, false);
    assert!(matches!(
        client.create("label", &KEY, b"s"),
        Err(Error::NoDefaultCollection)
    ));
}
