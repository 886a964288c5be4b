//! Hub's words as people type them: scopes, token labels, token ids.

/// Hub's longest token label.
pub(crate) const MAX_LABEL: usize = 100;

/// The four scopes, strongest first, with the names people use for them.
const SCOPES: [(&str, &str, &str); 4] = [
    ("repo:admin", "admin", "read, write, delete"),
    ("repo:write", "write", "read, write"),
    ("repo:read", "read", "read-only"),
    (
        "repo:public_read",
        "public_read",
        "public repositories, read-only",
    ),
];

/// `admin`, `write`, `read`, `public_read` or their `repo:` forms, one or a
/// comma-separated list, as Hub's scope names.
pub(crate) fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let mut scopes = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let found = SCOPES
            .iter()
            .find(|(full, short, _)| {
                word.eq_ignore_ascii_case(full) || word.eq_ignore_ascii_case(short)
            })
            .ok_or_else(|| {
                format!(
                    "unknown scope {:?}: use admin, write, read or public_read",
                    crate::text::printable(word, 40)
                )
            })?;
        if !scopes.iter().any(|s| s == found.0) {
            scopes.push(found.0.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err("no scope given: use admin, write, read or public_read".into());
    }
    Ok(scopes)
}

/// Scopes as the tables show them: `read`, `write`… (unknown ones as Hub wrote them).
pub(crate) fn short_scopes(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "-".into();
    }
    scopes
        .iter()
        .map(|scope| known(scope).map_or(scope.as_str(), |(_, short, _)| short))
        .collect::<Vec<_>>()
        .join(",")
}

/// What the scopes allow, in words.
pub(crate) fn describe_scopes(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|scope| known(scope).map_or(scope.as_str(), |(_, _, words)| words))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The table's row for a scope as Hub names it.
fn known(scope: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    SCOPES.iter().find(|(full, _, _)| *full == scope)
}

/// The label Hub shows for a token: `INTEGRATION@HOST`, then the description,
/// cut to Hub's 100 characters.
pub(crate) fn label(integration: &str, host: &str, description: Option<&str>) -> String {
    let mut label = format!("{integration}@{host}");
    if let Some(description) = description.filter(|d| !d.is_empty()) {
        label.push_str(": ");
        label.push_str(description);
    }
    let label = crate::text::printable(&label, MAX_LABEL);
    // `printable` marks a cut with an ellipsis, one character past the limit.
    label.chars().take(MAX_LABEL).collect()
}

/// This machine's name, for labels.
pub(crate) fn host_name() -> String {
    let name = platform::host_name();
    let name = name.trim();
    if name.is_empty() {
        "this-machine".into()
    } else {
        name.to_owned()
    }
}

#[cfg(unix)]
mod platform {
    pub fn host_name() -> String {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(not(unix))]
mod platform {
    pub fn host_name() -> String {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

/// A token id as Hub writes them: a UUID.
pub(crate) use crate::policy::is_uuid;

/// The beginning of a token id, as tables show it: 8 or more hex digits (and dashes).
pub(crate) fn is_id_prefix(text: &str) -> bool {
    (8..36).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && text.bytes().filter(u8::is_ascii_hexdigit).count() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_take_short_and_hub_names() {
        assert_eq!(parse_scopes("read").unwrap(), ["repo:read"]);
        assert_eq!(parse_scopes("repo:admin").unwrap(), ["repo:admin"]);
        assert_eq!(
            parse_scopes("Write, public_read,write").unwrap(),
            ["repo:write", "repo:public_read"]
        );
        assert!(parse_scopes("delete").is_err());
        assert!(parse_scopes(" , ").is_err());
        assert_eq!(short_scopes(&["repo:public_read".into()]), "public_read");
        assert_eq!(short_scopes(&[]), "-");
    }

    #[test]
    fn labels_are_cut_to_hubs_limit() {
        assert_eq!(label("ci", "build-01", None), "ci@build-01");
        assert_eq!(
            label("ci", "build-01", Some("GitHub runner")),
            "ci@build-01: GitHub runner"
        );
        let long = label("ci", "h", Some(&"é".repeat(200)));
        assert_eq!(long.chars().count(), MAX_LABEL);
        assert!(!long.contains('…'));
        assert!(!host_name().is_empty());
    }

    #[test]
    fn token_ids_are_uuids() {
        assert!(is_uuid("0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab"));
        assert!(!is_uuid("0b2f9c1e-1d2a-4c3b-9e8f-1234567890a"));
        assert!(!is_uuid("../../v2/users"));
        assert!(is_id_prefix("0b2f9c1e") && is_id_prefix("0b2f9c1e-1d2a"));
        assert!(!is_id_prefix("0b2f9c1") && !is_id_prefix("deadbeef@docker.io"));
    }
}
