//! What every registry client shares on the wire: JSON bodies in wiped
//! buffers, secrets read straight out of answers into [`Secret`]s, a
//! registry's own words made one printable line, and listing pages followed
//! only on the server they came from.

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer, Visitor};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// How much of a registry's own explanation of an error is kept.
const MAX_DETAIL: usize = 300;

/// A request body in a wiped buffer: it may carry a password, code or token.
pub(crate) fn json_body(value: &impl Serialize) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *body, value).expect("request bodies always serialise");
    body
}

/// Reads a JSON string straight into a [`Secret`].
pub(crate) fn wiped<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    struct Wiped;
    impl Visitor<'_> for Wiped {
        type Value = Secret;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
            Ok(Secret::from_str_copy(value))
        }
        fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Secret, E> {
            Ok(Secret::new(Zeroizing::new(value)))
        }
    }
    deserializer.deserialize_str(Wiped)
}

/// An optional JSON string read straight into a [`Secret`].
pub(crate) fn wiped_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Field(#[serde(deserialize_with = "wiped")] Secret);
    Ok(Option::<Field>::deserialize(deserializer)?.map(|f| f.0))
}

/// The host (and port) of an API's base URL, for messages: `gitlab.example.com`.
pub(crate) fn host_of(base: &str) -> &str {
    base.split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
}

/// A registry's words on one printable line, cut to a sane length.
pub(crate) fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::printable(&joined, MAX_DETAIL)
}

/// A registry's field errors (`{"name": ["is too long"], …}`) as
/// `name{sep}is too long`, each field's problems joined with `; `.
pub(crate) fn field_problems(
    fields: &serde_json::Map<String, serde_json::Value>,
    sep: &str,
) -> Vec<String> {
    fields
        .iter()
        .map(|(field, problems)| {
            let problems = match problems {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            format!("{field}{sep}{problems}")
        })
        .collect()
}

/// `next` (a page of a listing) as a URL on the server at `base`, so a
/// credential goes nowhere else: a path is taken on `base`'s origin, a full
/// URL only when it starts with `base`. `None` for anything else.
pub(crate) fn same_origin(base: &str, next: &str) -> Option<String> {
    if next.starts_with('/') && !next.starts_with("//") {
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let origin_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        return Some(format!("{}{next}", &base[..origin_end]));
    }
    next.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with(['/', '?']))
        .then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_followed_only_on_the_same_server() {
        assert_eq!(
            same_origin(
                "https://gitlab.example/api/v4",
                "/api/v4/projects/1/access_tokens?page=2"
            )
            .unwrap(),
            "https://gitlab.example/api/v4/projects/1/access_tokens?page=2"
        );
        assert!(
            same_origin(
                "https://gitlab.example/api/v4",
                "https://gitlab.example/api/v4/x"
            )
            .is_some()
        );
        for foreign in [
            "https://gitlab.example.evil/api/v4/x",
            "https://gitlab.example/api/v44/x",
            "//evil.example/api",
            "http://gitlab.example/api/v4/x",
        ] {
            assert!(
                same_origin("https://gitlab.example/api/v4", foreign).is_none(),
                "{foreign}"
            );
        }
    }
}
