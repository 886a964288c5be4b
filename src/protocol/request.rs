//! Reading what the Docker CLI sends on stdin, without leaving copies of the secret behind.
//!
//! The whole request is read into one pre-sized zeroizing buffer and parsed
//! with `serde_json::from_slice`; the secret is copied straight into a
//! [`Secret`]. Error messages describe where the JSON went wrong but never
//! quote it, because the offending text could be the secret itself.

use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Larger requests are refused: a real one is a few hundred bytes.
pub const MAX_INPUT: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("input is larger than 1 MiB")]
    TooLarge,
    #[error("input is not valid UTF-8")]
    NotUtf8,
    #[error("cannot read standard input: {0}")]
    Read(String),
    #[error("malformed credentials JSON at line {line}, column {column}")]
    Syntax { line: usize, column: usize },
    #[error(
        "invalid credentials JSON at line {line}, column {column}: expected an object whose ServerURL, Username and Secret are strings"
    )]
    Shape { line: usize, column: usize },
}

/// Reads all of stdin (up to [`MAX_INPUT`]) into a zeroizing buffer.
///
/// The buffer grows by doubling, and each outgrown buffer is wiped before it is
/// freed, so no copy of a secret is left behind. (Reserving the full limit up
/// front would cost a megabyte of page faults and wiping on every `get`.)
pub fn read_input(mut input: impl Read) -> Result<Zeroizing<Vec<u8>>, RequestError> {
    let mut buf = Zeroizing::new(vec![0u8; 4096]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len > MAX_INPUT {
                return Err(RequestError::TooLarge);
            }
            let mut bigger = Zeroizing::new(vec![0u8; (len * 2).min(MAX_INPUT + 1)]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match input.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RequestError::Read(e.to_string())),
        }
    }
    if len > MAX_INPUT {
        return Err(RequestError::TooLarge);
    }
    buf.truncate(len);
    Ok(buf)
}

/// The server address of a `get` or `erase`, trimmed as the reference helpers do.
pub fn parse_address(input: &[u8]) -> Result<&str, RequestError> {
    let text = std::str::from_utf8(input).map_err(|_| RequestError::NotUtf8)?;
    Ok(text.trim())
}

/// A `store` request.
pub struct StoreRequest {
    pub server_url: String,
    pub username: String,
    pub secret: Secret,
}

/// Parses a `store` request the way Go's decoder would: field names match
/// case-insensitively, unknown fields are ignored, `null` leaves a field empty.
pub fn parse_store(input: &[u8]) -> Result<StoreRequest, RequestError> {
    std::str::from_utf8(input).map_err(|_| RequestError::NotUtf8)?;
    serde_json::from_slice::<StoreRequest>(input).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => RequestError::Shape { line, column },
            _ => RequestError::Syntax { line, column },
        }
    })
}

enum Field {
    ServerUrl,
    Username,
    Secret,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(if name.eq_ignore_ascii_case("serverurl") {
                    Field::ServerUrl
                } else if name.eq_ignore_ascii_case("username") {
                    Field::Username
                } else if name.eq_ignore_ascii_case("secret") {
                    Field::Secret
                } else {
                    Field::Other
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// A JSON string copied straight into a zeroizing buffer. It is taken raw from
/// the request (which is itself in a wiped buffer) and unescaped here into a
/// buffer sized for it up front, so it never passes through serde_json's
/// scratch space or a growing allocation.
struct SecretField(Secret);

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(deserializer)?;
        unescape(raw.get())
            .map(|text| SecretField(Secret::new(text)))
            .ok_or_else(|| {
                de::Error::invalid_type(de::Unexpected::Other("a non-string"), &"a string")
            })
    }
}

/// The text of a JSON string literal, or `None` if `raw` is not a valid one.
fn unescape(raw: &str) -> Option<Zeroizing<String>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // An escape never decodes to more bytes than it takes, so this never grows.
    let mut out = Zeroizing::new(String::with_capacity(inner.len()));
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {}
            '"' | '\u{0}'..='\u{1f}' => return None,
            c => {
                out.push(c);
                continue;
            }
        }
        let decoded = match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let unit = hex4(&mut chars)?;
                match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate must be followed by an escaped low one.
                        if (chars.next()?, chars.next()?) != ('\\', 'u') {
                            return None;
                        }
                        let low = hex4(&mut chars)?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))?
                    }
                    0xdc00..=0xdfff => return None,
                    unit => char::from_u32(unit)?,
                }
            }
            _ => return None,
        };
        out.push(decoded);
    }
    Some(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

impl<'de> Deserialize<'de> for StoreRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor;
        impl<'de> Visitor<'de> for RequestVisitor {
            type Value = StoreRequest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("credentials")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoreRequest, A::Error> {
                let mut request = StoreRequest {
                    server_url: String::new(),
                    username: String::new(),
                    secret: Secret::from_str_copy(""),
                };
                // As in Go, a later duplicate key wins and null leaves the field as it was.
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::ServerUrl => {
                            if let Some(v) = map.next_value::<Option<String>>()? {
                                request.server_url = v;
                            }
                        }
                        Field::Username => {
                            if let Some(v) = map.next_value::<Option<String>>()? {
                                request.username = v;
                            }
                        }
                        Field::Secret => {
                            if let Some(SecretField(v)) = map.next_value::<Option<SecretField>>()? {
                                request.secret = v;
                            }
                        }
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(request)
            }
        }
        deserializer.deserialize_map(RequestVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_case_insensitively_and_unknown_fields_are_ignored() {
        let request = parse_store(
            br#"{"serverurl":"docker.io","USERNAME":"alice","Secret":"s3","Extra":{"a":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(request.server_url, "docker.io");
        assert_eq!(request.username, "alice");
        assert_eq!(request.secret.expose(), "s3");
    }

    #[test]
    fn escapes_and_trailing_newline_are_accepted() {
        let request =
            parse_store(b"{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"a\\\"b\\u00e9\"}\n")
                .unwrap();
        assert_eq!(request.secret.expose(), "a\"b\u{e9}");
    }

    #[test]
    fn secrets_unescape_as_serde_json_does_without_growing() {
        for text in [
            "",
            "plain",
            "a\\\"b\\\\c\\/\\b\\f\\n\\r\\t",
            "\\u00e9\\u2028\\ud83d\\ude00\\u0000",
            "é😀",
        ] {
            let raw = format!("\"{text}\"");
            let ours = unescape(&raw).unwrap();
            let theirs: String = serde_json::from_str(&raw).unwrap();
            assert_eq!(*ours, theirs, "{raw}");
            assert_eq!(ours.capacity(), text.len(), "sized once: {raw}");
        }
        for bad in [
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\nb\"",
            "\"a",
            "5",
            "[\"a\"]",
        ] {
            assert!(unescape(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn null_leaves_a_field_empty() {
        let request = parse_store(br#"{"ServerURL":null,"Username":"u","Secret":"s"}"#).unwrap();
        assert!(request.server_url.is_empty());
    }

    #[test]
    fn errors_never_quote_the_input() {
        let secret = "dckr_pat_SUPERSECRETVALUE0123456789";
        for input in [
            format!("\"{secret}\""),
            format!("{{\"Secret\":[\"{secret}\"]}}"),
            format!("{{\"Secret\":\"{secret}\"}} trailing"),
            format!("{{\"Username\":5,\"Secret\":\"{secret}\"}}"),
        ] {
            let err = parse_store(input.as_bytes()).err().expect(&input);
            assert!(!err.to_string().contains("SUPERSECRET"), "{err}");
        }
    }

    #[test]
    fn hostile_inputs_are_one_line_errors() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for input in [
            deep.as_bytes(),
            b"",
            b"{",
            b"{\"ServerURL\":1}",
            b"[]",
            &[0xff, 0xfe],
        ] {
            let err = parse_store(input).err().unwrap();
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b' '; MAX_INPUT + 10];
        assert_eq!(read_input(&big[..]).err(), Some(RequestError::TooLarge));
        let exact = vec![b' '; MAX_INPUT];
        assert_eq!(read_input(&exact[..]).unwrap().len(), MAX_INPUT);
    }

    /// Any input either parses or gives a one-line error; never a panic.
    fn check_store_input(input: &[u8]) {
        if let Err(e) = parse_store(input) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        if let Ok(address) = parse_address(input) {
            assert_eq!(address, address.trim());
        }
    }

    #[test]
    fn seed_corpus_parses_or_fails_cleanly() {
        for (name, bytes) in crate::corpus::inputs("store") {
            check_store_input(&bytes);
            let expect_ok = [
                "docker-cli.json",
                "case-and-unknown-fields.json",
                "go-escapes.json",
                "nulls.json",
                "duplicate-keys.json",
                "nul-username.json",
                "deep-unknown-field.json",
            ];
            assert_eq!(
                parse_store(&bytes).is_ok(),
                expect_ok.contains(&name.as_str()),
                "{name}"
            );
        }
        let request =
            parse_store(br#"{"ServerURL":"a","ServerURL":"b","Username":"u","Secret":"s"}"#)
                .unwrap();
        assert_eq!(request.server_url, "b", "a later duplicate wins, as in Go");
    }

    proptest::proptest! {
        #![proptest_config(crate::corpus::proptest_config())]
        #[test]
        fn store_parser_survives_any_bytes(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            check_store_input(&input);
        }

        #[test]
        fn store_parser_survives_json_like_text(input in r#"[{}\[\]":,\\ a-zA-Z0-9.\-]{0,256}"#) {
            check_store_input(input.as_bytes());
        }

        #[test]
        fn go_encoded_requests_parse_back_exactly(
            server in proptest::prelude::any::<String>(),
            user in proptest::prelude::any::<String>(),
            secret in proptest::prelude::any::<String>(),
        ) {
            let mut body = b"{\"ServerURL\":".to_vec();
            crate::protocol::push_json_string(&mut body, &server);
            body.extend_from_slice(b",\"Username\":");
            crate::protocol::push_json_string(&mut body, &user);
            body.extend_from_slice(b",\"Secret\":");
            crate::protocol::push_json_string(&mut body, &secret);
            body.extend_from_slice(b"}\n");
            let request = parse_store(&body).unwrap();
            proptest::prop_assert_eq!(request.server_url, server);
            proptest::prop_assert_eq!(request.username, user);
            proptest::prop_assert_eq!(request.secret.expose(), secret.as_str());
        }

        #[test]
        fn errors_never_quote_the_secret(
            before in r#"[{}\[\]":, 0-9a-z]{0,12}"#,
            after in r#"[{}\[\]":, 0-9a-z]{0,12}"#,
        ) {
            let input = format!("{before}\"Secret\":\"dckr_pat_QUOTEDMARKER\"{after}");
            if let Err(e) = parse_store(input.as_bytes()) {
                proptest::prop_assert!(!e.to_string().contains("QUOTEDMARKER"));
            }
        }

        #[test]
        fn input_is_read_whole(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20_000)) {
            proptest::prop_assert_eq!(&read_input(&input[..]).unwrap()[..], &input[..]);
        }
    }

    #[test]
    fn addresses_are_trimmed() {
        assert_eq!(parse_address(b"  docker.io\n").unwrap(), "docker.io");
        assert_eq!(parse_address(&[0xc3]).err(), Some(RequestError::NotUtf8));
    }
}
