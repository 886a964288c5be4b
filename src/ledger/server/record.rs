//! A token's record on the server, mapped generically through serde.
//!
//! The secret and the fields an admin writes by hand (`username`,
//! `server_url`, `description`) are the KV data; every other field of
//! [`TokenRecord`] travels as one custom-metadata string, so a field added to
//! the record later reaches the server without a change here. Strings are
//! kept as they are unless they would read back as another JSON value (`true`,
//! `12`), in which case they are written as JSON strings; every other value is
//! written as JSON.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::index::{SecretRef, TokenRecord};
use crate::secret::Secret;

/// The data fields besides the secret.
const DATA_FIELDS: [&str; 3] = ["username", "server_url", "description"];
/// A data field and a custom-metadata key with the same random value, new
/// whenever a secret is written by `put`. When they differ (the secret was
/// replaced after its record was written, by a change cut off half-way or by
/// hand with `bao kv put`) the record describes another secret.
pub(crate) const GENERATION: &str = "generation";
/// What a record says about its secret in particular, set aside when the
/// record describes another one.
const ABOUT_THE_SECRET: [&str; 5] = ["hub", "remote", "seen", "expires_at", "kind"];
/// Fields that say where the local index keeps a secret; meaningless on the server.
const LOCAL_ONLY: [&str; 1] = ["secret"];

/// A token's KV data as read; any other data field is ignored.
#[derive(Deserialize)]
pub(crate) struct TokenData {
    #[serde(default)]
    pub(crate) username: Option<String>,
    #[serde(default)]
    pub(crate) secret: Option<Secret>,
    #[serde(default)]
    pub(crate) server_url: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) generation: Option<String>,
}

/// True when the custom metadata was written for another secret than the
/// data holds now. A record written before generations existed has none and
/// is taken as it is.
pub(crate) fn describes_another_secret(
    data: &TokenData,
    custom: &BTreeMap<String, String>,
) -> bool {
    custom
        .get(GENERATION)
        .is_some_and(|g| data.generation.as_ref() != Some(g))
}

/// The record as the server keeps it: data fields (without the secret) and custom metadata.
pub(crate) struct ServerFields {
    pub(crate) data: Map<String, Value>,
    pub(crate) custom: BTreeMap<String, String>,
}

pub(crate) fn to_server(record: &TokenRecord) -> ServerFields {
    let Value::Object(fields) = serde_json::to_value(record).expect("a record serialises") else {
        unreachable!("a record is a JSON object")
    };
    let mut data = Map::new();
    let mut custom = BTreeMap::new();
    for (key, value) in fields {
        if LOCAL_ONLY.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        if DATA_FIELDS.contains(&key.as_str()) {
            data.insert(key, value);
        } else {
            custom.insert(key, encode(value));
        }
    }
    ServerFields { data, custom }
}

/// What the server does not say about a token someone put there by hand.
pub(crate) struct Defaults {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) kind: crate::policy::SecretKind,
    /// How `list` names the registry when no address was stored.
    pub(crate) server_url: String,
}

/// The record from a token's data and custom metadata. `place` is where the
/// secret is, for the record's `secret` field.
pub(crate) fn from_server(
    data: &TokenData,
    custom: &BTreeMap<String, String>,
    place: SecretRef,
    defaults: Defaults,
) -> Result<TokenRecord, String> {
    let stale = describes_another_secret(data, custom);
    let mut fields: Map<String, Value> = custom
        .iter()
        .filter(|(key, _)| key.as_str() != GENERATION)
        .filter(|(key, _)| !(stale && ABOUT_THE_SECRET.contains(&key.as_str())))
        .map(|(key, text)| (key.clone(), decode(text)))
        .collect();
    let text = |value: &Option<String>| value.clone().map_or(Value::Null, Value::String);
    let username = data.username.clone().ok_or("it has no username field")?;
    fields.insert("username".into(), Value::String(username));
    fields.insert(
        "server_url".into(),
        Value::String(data.server_url.clone().unwrap_or(defaults.server_url)),
    );
    fields.insert("description".into(), text(&data.description));
    fields.insert(
        "secret".into(),
        serde_json::to_value(place).expect("a place serialises"),
    );
    let mut fill = |key: &str, value: Value| {
        fields.entry(key).or_insert(value);
    };
    fill("id", Value::String(defaults.id));
    fill("created_at", Value::String(defaults.created_at.clone()));
    fill("rotated_at", Value::String(defaults.created_at));
    fill("active", Value::Bool(true));
    fill(
        "kind",
        serde_json::to_value(defaults.kind).expect("a kind serialises"),
    );
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("its metadata does not read as a token ({e})"))
}

/// The metadata changes that make the record `new` over what the server
/// holds (`old`), leaving keys that are not the record's (an admin's own) alone.
pub(crate) fn record_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut changes = custom_changes(old, new);
    changes.retain(|key, value| value.is_some() || ABOUT_THE_SECRET.contains(&key.as_str()));
    changes
}

/// The metadata changes that turn `old` into `new`: changed keys, and removed ones as `None`.
pub(crate) fn custom_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut changes: BTreeMap<String, Option<String>> = new
        .iter()
        .filter(|(key, value)| old.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        changes.insert(key.clone(), None);
    }
    changes
}

fn encode(value: Value) -> String {
    match value {
        Value::String(text) if parse_json(&text).is_none() => text,
        other => other.to_string(),
    }
}

fn decode(text: &str) -> Value {
    parse_json(text).unwrap_or_else(|| Value::String(text.to_owned()))
}

/// `text` as a JSON value, if it is one. Most metadata values are plain
/// words and dates; they are told apart without a failed parse, whose error
/// costs `get` more than the parse itself (its position is computed).
fn parse_json(text: &str) -> Option<Value> {
    let could_be = match text.as_bytes().first() {
        Some(b'{' | b'[' | b'"') => true,
        Some(b'-' | b'0'..=b'9') => text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')),
        _ => matches!(text, "true" | "false" | "null"),
    };
    could_be.then(|| serde_json::from_str(text).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SecretKind;
    use crate::store::BackendKind;

    fn place() -> SecretRef {
        SecretRef {
            backend: BackendKind::OpenBao,
            item: "ghcr.io/ci".into(),
            hint: None,
        }
    }

    fn data(fields: &ServerFields) -> TokenData {
        serde_json::from_value(Value::Object(fields.data.clone())).unwrap()
    }

    #[test]
    fn a_record_round_trips_through_data_and_metadata() {
        let now = chrono::Utc::now();
        let record = TokenRecord {
            id: "123".into(),
            secret: place(),
            username: "bot".into(),
            server_url: "https://ghcr.io".into(),
            description: Some("true".into()),
            created_at: now,
            rotated_at: now,
            active: false,
            kind: SecretKind::Password,
            expires_at: None,
            hub: None,
            remote: None,
            seen: None,
        };
        let fields = to_server(&record);
        assert_eq!(
            fields.data.keys().collect::<Vec<_>>(),
            ["username", "server_url", "description"]
        );
        assert_eq!(fields.custom["active"], "false");
        assert_eq!(
            fields.custom["id"], "\"123\"",
            "a number-like string stays a string"
        );
        assert_eq!(fields.custom["kind"], "password");
        assert!(!fields.custom.contains_key("secret"));
        let back = from_server(
            &data(&fields),
            &fields.custom,
            place(),
            Defaults {
                id: "x".into(),
                created_at: "2020-01-01T00:00:00Z".into(),
                kind: SecretKind::Token,
                server_url: "ghcr.io".into(),
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&record).unwrap()
        );
    }

    #[test]
    fn expiry_and_the_hub_link_travel_in_metadata_and_go_when_cleared() {
        let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let mut record = TokenRecord {
            id: "i".into(),
            secret: place(),
            username: "alice".into(),
            server_url: "docker.io".into(),
            description: None,
            created_at: at("2026-01-01T00:00:00Z"),
            rotated_at: at("2026-01-01T00:00:00Z"),
            active: true,
            kind: SecretKind::Token,
            expires_at: Some(at("2027-03-01T00:00:00Z")),
            hub: Some(crate::index::HubLink {
                uuid: "0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab".into(),
                scopes: vec!["repo:read".into(), "repo:write".into()],
                retiring: Some(crate::index::Retiring {
                    uuid: "1c3f9c1e-1d2a-4c3b-9e8f-1234567890ab".into(),
                    delete: true,
                }),
                used_before_link: Some(at("2026-02-01T12:30:00Z")),
                // An organisation token's owner and resources travel too.
                org: Some("acme".into()),
                resources: vec![crate::index::HubResource {
                    kind: "TYPE_REPO".into(),
                    path: "acme/*".into(),
                    scopes: vec!["scope-image-pull".into()],
                }],
            }),
            remote: Some(crate::index::RemoteLink {
                api: "gitlab".into(),
                id: "42".into(),
                owner: crate::index::RemoteOwner::Project("team/app".into()),
                scopes: vec!["read_registry".into()],
                rotating: Some(crate::index::Rotating {
                    id: "42".into(),
                    started_at: at("2026-03-01T00:00:00Z"),
                }),
                used_before_link: None,
            }),
            seen: Some(crate::index::RemoteView {
                state: "active".into(),
                scopes: vec!["read_registry".into()],
                expires_at: Some(at("2027-03-01T00:00:00Z")),
                last_used_at: None,
                seen_at: at("2026-03-01T00:00:00Z"),
            }),
        };
        let fields = to_server(&record);
        assert_eq!(fields.custom["expires_at"], "2027-03-01T00:00:00Z");
        assert!(
            fields.custom["hub"].starts_with('{'),
            "{}",
            fields.custom["hub"]
        );
        // KV v2 keeps a custom-metadata value to 512 bytes.
        assert!(fields.custom.values().all(|v| v.len() <= 512));
        let defaults = || Defaults {
            id: "x".into(),
            created_at: "2020-01-01T00:00:00Z".into(),
            kind: SecretKind::Token,
            server_url: "docker.io".into(),
        };
        let back = from_server(&data(&fields), &fields.custom, place(), defaults()).unwrap();
        assert_eq!(back.expires_at, record.expires_at);
        assert_eq!(back.hub, record.hub);
        assert_eq!(
            back.remote, record.remote,
            "a GitLab link and its rotation under way"
        );
        assert_eq!(back.seen, record.seen);

        let before = fields.custom.clone();
        record.hub = None;
        record.expires_at = None;
        let after = to_server(&record).custom;
        let changes = custom_changes(&before, &after);
        assert_eq!(changes.get("hub"), Some(&None));
        assert_eq!(changes.get("expires_at"), Some(&None));
        let back = from_server(&data(&fields), &after, place(), defaults()).unwrap();
        assert!(back.hub.is_none() && back.expires_at.is_none());
    }

    #[test]
    fn a_token_put_there_by_hand_gets_defaults() {
        let data: TokenData =
            serde_json::from_str(r#"{"username":"bot","secret":"ghp_x"}"#).unwrap();
        let record = from_server(
            &data,
            &BTreeMap::new(),
            place(),
            Defaults {
                id: "abc".into(),
                created_at: "2024-05-01T10:00:00.5Z".into(),
                kind: SecretKind::Token,
                server_url: "ghcr.io".into(),
            },
        )
        .unwrap();
        assert!(record.active);
        assert_eq!(record.id, "abc");
        assert_eq!(record.server_url, "ghcr.io");
        let missing: TokenData = serde_json::from_str(r#"{"secret":"x"}"#).unwrap();
        assert!(
            from_server(
                &missing,
                &BTreeMap::new(),
                place(),
                Defaults {
                    id: "a".into(),
                    created_at: "2024-05-01T10:00:00Z".into(),
                    kind: SecretKind::Token,
                    server_url: "ghcr.io".into(),
                }
            )
            .is_err()
        );
    }

    #[test]
    fn a_record_written_for_another_secret_keeps_nothing_about_the_secret() {
        let mut custom = BTreeMap::from([
            ("id".to_owned(), "\"7\"".to_owned()),
            ("active".to_owned(), "false".to_owned()),
            ("expires_at".to_owned(), "2027-03-01T00:00:00Z".to_owned()),
            ("kind".to_owned(), "password".to_owned()),
            (
                "hub".to_owned(),
                r#"{"uuid":"0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab"}"#.to_owned(),
            ),
            (GENERATION.to_owned(), "g1".to_owned()),
        ]);
        let defaults = || Defaults {
            id: "x".into(),
            created_at: "2020-01-01T00:00:00Z".into(),
            kind: SecretKind::Token,
            server_url: "docker.io".into(),
        };
        let data = |generation: Option<&str>| TokenData {
            username: Some("alice".into()),
            secret: None,
            server_url: None,
            description: None,
            generation: generation.map(str::to_owned),
        };
        let same = from_server(&data(Some("g1")), &custom, place(), defaults()).unwrap();
        assert!(same.hub.is_some() && same.expires_at.is_some());
        assert_eq!(same.kind, SecretKind::Password);
        for other in [Some("g2"), None] {
            let record = from_server(&data(other), &custom, place(), defaults()).unwrap();
            assert!(
                record.hub.is_none() && record.expires_at.is_none(),
                "{other:?}"
            );
            assert_eq!(record.kind, SecretKind::Token);
            assert_eq!(record.id, "7", "the token stays the same token");
            assert!(!record.active, "and stays inactive");
        }
        custom.remove(GENERATION);
        let legacy = from_server(&data(None), &custom, place(), defaults()).unwrap();
        assert!(
            legacy.hub.is_some(),
            "a record from before generations is taken as it is"
        );
    }

    #[test]
    fn a_new_record_leaves_keys_that_are_not_the_records_alone() {
        let old = BTreeMap::from([
            ("owner".to_owned(), "team-x".to_owned()),
            ("hub".to_owned(), "{}".to_owned()),
            ("active".to_owned(), "true".to_owned()),
        ]);
        let new = BTreeMap::from([("active".to_owned(), "false".to_owned())]);
        assert_eq!(
            record_changes(&old, &new),
            BTreeMap::from([
                ("active".to_owned(), Some("false".to_owned())),
                ("hub".to_owned(), None),
            ])
        );
    }

    #[test]
    fn words_dates_and_json_values_round_trip() {
        for text in [
            "password",
            "2027-03-01T00:00:00Z",
            "0b2f9c1e-1d2a",
            "12abc",
            "-",
            "",
        ] {
            assert_eq!(decode(text), Value::String(text.to_owned()), "{text}");
            assert_eq!(encode(Value::String(text.to_owned())), text);
        }
        for (text, value) in [
            ("true", Value::Bool(true)),
            ("12", serde_json::json!(12)),
            ("-1.5e3", serde_json::json!(-1500.0)),
            ("{\"uuid\":\"x\"}", serde_json::json!({"uuid": "x"})),
            ("\"12\"", Value::String("12".into())),
        ] {
            assert_eq!(decode(text), value, "{text}");
        }
        assert_eq!(encode(Value::String("12".into())), "\"12\"");
        assert_eq!(encode(Value::String("null".into())), "\"null\"");
    }

    #[test]
    fn changes_set_what_differs_and_remove_what_is_gone() {
        let old = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let new = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("c".to_owned(), "3".to_owned()),
        ]);
        let changes = custom_changes(&old, &new);
        assert_eq!(
            changes,
            BTreeMap::from([
                ("b".to_owned(), None),
                ("c".to_owned(), Some("3".to_owned()))
            ])
        );
    }
}
