//! Writing replies exactly as docker-credential-helpers (Go's `encoding/json`) does.
//!
//! The Docker CLI reads our stdout, and people diff it against the reference
//! helpers, so strings are escaped the Go way: `<`, `>` and `&` as `\u003c`…,
//! U+2028/U+2029 escaped, and short escapes for `\b \f \n \r \t`.

use zeroize::Zeroizing;

use crate::secret::Secret;

/// Appends `text` as a JSON string literal, escaped as Go's encoder does.
pub fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    // Most text needs no escape: copy up to the first byte that might, in one go.
    // 0xE2 starts U+2028 and U+2029.
    let plain = text
        .bytes()
        .position(|b| matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xe2) || b < 0x20)
        .unwrap_or(text.len());
    out.extend_from_slice(&text.as_bytes()[..plain]);
    for c in text[plain..].chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The reply to `get`, built in one zeroizing buffer.
pub fn credentials(server_url: &str, username: &str, secret: &Secret) -> Zeroizing<Vec<u8>> {
    // Worst case every byte becomes a 6-byte escape; sizing up front avoids reallocating.
    let capacity = 48 + 6 * (server_url.len() + username.len() + secret.len());
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    out.extend_from_slice(b"{\"ServerURL\":");
    push_json_string(&mut out, server_url);
    out.extend_from_slice(b",\"Username\":");
    push_json_string(&mut out, username);
    out.extend_from_slice(b",\"Secret\":");
    push_json_string(&mut out, secret.expose());
    out.extend_from_slice(b"}\n");
    out
}

/// The reply to `list`: keys in byte order, as Go sorts map keys.
pub fn listing(entries: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::with_capacity(2 + entries.len() * 64);
    out.push(b'{');
    for (i, (address, username)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, address);
        out.push(b':');
        push_json_string(&mut out, username);
    }
    out.extend_from_slice(b"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> String {
        let mut out = Vec::new();
        push_json_string(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(encoded("<token>"), r#""\u003ctoken\u003e""#);
        assert_eq!(encoded("a&b"), r#""a\u0026b""#);
        assert_eq!(encoded("q\"\\"), r#""q\"\\""#);
        assert_eq!(
            encoded("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            r#""\n\r\t\b\f\u0001\u001f""#
        );
        assert_eq!(encoded("é\u{2028}\u{2029}"), "\"é\\u2028\\u2029\"");
        assert_eq!(encoded("\u{7f}"), "\"\u{7f}\"");
    }

    proptest::proptest! {
        #![proptest_config(crate::corpus::proptest_config())]
        #[test]
        fn escaped_strings_parse_back_and_hold_no_raw_controls(text in proptest::prelude::any::<String>()) {
            let out = encoded(&text);
            let back: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(&back, &text);
            let raw = out.chars().any(|c| {
                c.is_ascii_control() || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}')
            });
            proptest::prop_assert!(!raw, "unescaped character in {}", out);
        }

        #[test]
        fn listings_are_valid_sorted_json(
            entries in proptest::collection::btree_map(proptest::prelude::any::<String>(), proptest::prelude::any::<String>(), 0..8)
        ) {
            let list: Vec<(String, String)> = entries.clone().into_iter().rev().collect();
            let out = listing(&list);
            let back: std::collections::BTreeMap<String, String> = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(back, entries);
        }
    }

    #[test]
    fn get_reply_matches_the_reference_bytes() {
        let secret = Secret::from_str_copy("dckr_pat_x");
        let reply = credentials("https://index.docker.io/v1/", "alice", &secret);
        assert_eq!(
            std::str::from_utf8(&reply).unwrap(),
            "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"alice\",\"Secret\":\"dckr_pat_x\"}\n"
        );
    }

    #[test]
    fn list_reply_is_sorted_and_empty_is_braces() {
        assert_eq!(listing(&[]), b"{}\n");
        let entries = vec![
            ("b".to_owned(), "u2".to_owned()),
            ("a".to_owned(), "u1".to_owned()),
        ];
        assert_eq!(listing(&entries), b"{\"a\":\"u1\",\"b\":\"u2\"}\n");
    }
}
