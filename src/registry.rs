//! Registry addresses: every spelling a client may use, reduced to one canonical key.
//!
//! The Docker CLI, skopeo and people write the same registry many ways
//! (`https://index.docker.io/v1/`, `docker.io`, `HTTP://Host:5000/`). The index
//! keys everything by the canonical form so all of them reach one entry, while
//! `get` still echoes whatever address it was asked for.

use std::fmt;

/// The key the Docker CLI uses for Docker Hub, and the address `list` reports for it.
pub const DOCKER_HUB_ADDRESS: &str = "https://index.docker.io/v1/";
const HUB_ACCESS_TOKEN_ADDRESS: &str = "https://index.docker.io/v1/access-token";
const HUB_REFRESH_TOKEN_ADDRESS: &str = "https://index.docker.io/v1/refresh-token";
const HUB_HOSTS: [&str; 3] = ["index.docker.io", "docker.io", "registry-1.docker.io"];
const MAX_ADDRESS_LEN: usize = 1024;

/// A registry in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Registry {
    DockerHub,
    /// The JWT Docker's web login keeps beside the Hub entry.
    HubAccessToken,
    /// The refresh token Docker's web login keeps beside the Hub entry.
    HubRefreshToken,
    /// Any other registry: lower-case `host[:port]`.
    Host(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("no credentials server URL")]
    Empty,
    #[error("registry address is longer than {MAX_ADDRESS_LEN} bytes")]
    TooLong,
    #[error("registry address contains a control character or whitespace")]
    ControlCharacter,
    #[error(
        "registry address is not ASCII; write an internationalised host in its xn-- (punycode) form"
    )]
    NotAscii,
    #[error("registry address must not contain user information (user@host)")]
    UserInfo,
    #[error("registry address must not contain a query (?) or fragment (#)")]
    QueryOrFragment,
    #[error("registry address uses an unsupported scheme; use host[:port], http:// or https://")]
    Scheme,
    #[error("registry address has no host")]
    NoHost,
    #[error("registry address has an invalid host")]
    BadHost,
    #[error("registry address has an invalid port; use a number from 1 to 65535")]
    BadPort,
}

impl Registry {
    /// Parses any address form a client may send.
    pub fn parse(address: &str) -> Result<Self, AddressError> {
        if address.is_empty() {
            return Err(AddressError::Empty);
        }
        if address.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        if !address.is_ascii() {
            return Err(AddressError::NotAscii);
        }
        if address.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(AddressError::ControlCharacter);
        }
        if address.contains('@') {
            return Err(AddressError::UserInfo);
        }
        if address.contains(['?', '#']) {
            return Err(AddressError::QueryOrFragment);
        }
        let rest = strip_scheme(address)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let authority = parse_authority(authority)?;
        if HUB_HOSTS.contains(&authority.as_str()) {
            return Ok(match path.trim_end_matches('/') {
                "/v1/access-token" | "/access-token" => Registry::HubAccessToken,
                "/v1/refresh-token" | "/refresh-token" => Registry::HubRefreshToken,
                _ => Registry::DockerHub,
            });
        }
        // Like the Docker CLI, a path on any other registry does not change which one it is.
        Ok(Registry::Host(authority))
    }

    /// The registry whose canonical key is exactly `key`, or `None` when `key`
    /// is not a canonical key. What `parse(key)` would give when its key is
    /// `key`, in one pass: `list` checks every key of the index with it.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "docker.io" => return Some(Registry::DockerHub),
            "docker.io/access-token" => return Some(Registry::HubAccessToken),
            "docker.io/refresh-token" => return Some(Registry::HubRefreshToken),
            _ => {}
        }
        let (host, port) = match key.strip_prefix('[') {
            Some(v6) => {
                let end = v6.find(']')?;
                let inner = &v6[..end];
                let valid = !inner.is_empty()
                    && inner
                        .bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'a'..=b'f' | b':' | b'.'));
                if !valid {
                    return None;
                }
                match &v6[end + 1..] {
                    "" => (&key[..end + 2], None),
                    after => (&key[..end + 2], Some(after.strip_prefix(':')?)),
                }
            }
            None => match key.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (key, None),
            },
        };
        let host_ok = host.starts_with('[')
            || (!host.is_empty()
                && !host.starts_with(['.', '-'])
                && host.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
                })
                && !HUB_HOSTS.contains(&host));
        let port_ok = port.is_none_or(|p| {
            !p.is_empty()
                && p.len() <= 5
                && !p.starts_with('0')
                && p.bytes().all(|b| b.is_ascii_digit())
                && matches!(p.parse::<u32>(), Ok(1..=65535))
        });
        (host_ok && port_ok && key.len() <= MAX_ADDRESS_LEN).then(|| Registry::Host(key.to_owned()))
    }

    /// The canonical key: `docker.io`, `docker.io/access-token`, or `host[:port]`.
    pub fn key(&self) -> &str {
        match self {
            Registry::DockerHub => "docker.io",
            Registry::HubAccessToken => "docker.io/access-token",
            Registry::HubRefreshToken => "docker.io/refresh-token",
            Registry::Host(host) => host,
        }
    }

    /// The address `list` reports: Docker's own key for Hub entries, otherwise the address as stored.
    pub fn list_address<'a>(&'a self, stored: &'a str) -> &'a str {
        match self {
            Registry::DockerHub => DOCKER_HUB_ADDRESS,
            Registry::HubAccessToken => HUB_ACCESS_TOKEN_ADDRESS,
            Registry::HubRefreshToken => HUB_REFRESH_TOKEN_ADDRESS,
            Registry::Host(_) => stored,
        }
    }

    /// True for Docker Hub and the entries Docker's web login keeps beside it.
    pub fn is_docker_hub(&self) -> bool {
        !matches!(self, Registry::Host(_))
    }

    /// The address to record when a person names the registry on the command line.
    pub fn default_address(&self) -> &str {
        self.list_address(self.key())
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

fn strip_scheme(address: &str) -> Result<&str, AddressError> {
    for scheme in ["https://", "http://"] {
        if address.len() >= scheme.len() && address[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Ok(&address[scheme.len()..]);
        }
    }
    if address.contains("://") {
        return Err(AddressError::Scheme);
    }
    Ok(address)
}

/// Validates `host[:port]` (or `[v6]:port`) and lower-cases the host.
fn parse_authority(authority: &str) -> Result<String, AddressError> {
    if authority.is_empty() {
        return Err(AddressError::NoHost);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or(AddressError::BadHost)?;
        let (inner, after) = (&v6[..end], &v6[end + 1..]);
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(AddressError::BadHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(AddressError::BadHost)?),
        };
        (&authority[..end + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_name = |h: &str| {
        !h.is_empty()
            && !h.starts_with(['.', '-'])
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if !host.starts_with('[') && !valid_name(host) {
        return Err(if host.is_empty() {
            AddressError::NoHost
        } else {
            AddressError::BadHost
        });
    }
    let mut canonical = host.to_ascii_lowercase();
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && matches!(port.parse::<u32>(), Ok(1..=65535));
        if !valid {
            return Err(AddressError::BadPort);
        }
        canonical.push(':');
        canonical.push_str(port.trim_start_matches('0'));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> String {
        Registry::parse(address).unwrap().key().to_owned()
    }

    #[test]
    fn every_docker_hub_spelling_reaches_one_entry() {
        for address in [
            "https://index.docker.io/v1/",
            "https://index.docker.io/v1",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "https://docker.io",
            "http://registry-1.docker.io/",
            "HTTPS://Index.Docker.IO/v1/",
        ] {
            assert_eq!(key(address), "docker.io", "{address}");
        }
    }

    /// What podman, buildah, skopeo, nerdctl and BuildKit send for one registry
    /// reaches the token `docker login` stored for it.
    #[test]
    fn every_client_spelling_reaches_the_right_token() {
        for (address, expected) in [
            ("index.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("https://registry-1.docker.io/v2/", "docker.io"),
            ("quay.io/org", "quay.io"),
            ("quay.io/org/image", "quay.io"),
            ("https://quay.io/v2/org/image", "quay.io"),
            ("ghcr.io/owner", "ghcr.io"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
            ("localhost:5000/team", "localhost:5000"),
        ] {
            assert_eq!(key(address), expected, "{address}");
        }
    }

    #[test]
    fn hub_web_login_entries_are_separate() {
        assert_eq!(
            key("https://index.docker.io/v1/access-token"),
            "docker.io/access-token"
        );
        assert_eq!(
            key("https://index.docker.io/v1/refresh-token"),
            "docker.io/refresh-token"
        );
        assert_eq!(key("docker.io/refresh-token"), "docker.io/refresh-token");
        assert_eq!(
            Registry::HubRefreshToken.list_address("x"),
            "https://index.docker.io/v1/refresh-token"
        );
    }

    #[test]
    fn other_registries_ignore_scheme_slash_and_case() {
        for address in [
            "127.0.0.1:5000",
            "http://127.0.0.1:5000",
            "https://127.0.0.1:5000/",
            "127.0.0.1:5000/v2/",
        ] {
            assert_eq!(key(address), "127.0.0.1:5000", "{address}");
        }
        assert_eq!(key("GHCR.io"), "ghcr.io");
        assert_eq!(
            key("https://Registry.Example.COM:443/"),
            "registry.example.com:443"
        );
        assert_eq!(key("[::1]:5000"), "[::1]:5000");
        assert_eq!(key("localhost:05000"), "localhost:5000");
    }

    #[test]
    fn hostile_addresses_are_rejected() {
        let cases = [
            ("", AddressError::Empty),
            ("https://user:pw@ghcr.io", AddressError::UserInfo),
            ("ghcr.io?x=1", AddressError::QueryOrFragment),
            ("ghcr.io#frag", AddressError::QueryOrFragment),
            ("gh\u{0}cr.io", AddressError::ControlCharacter),
            ("ghcr.io\n", AddressError::ControlCharacter),
            ("bücher.example", AddressError::NotAscii),
            ("ftp://ghcr.io", AddressError::Scheme),
            ("ghcr.io:0", AddressError::BadPort),
            ("ghcr.io:70000", AddressError::BadPort),
            ("ghcr.io:", AddressError::BadPort),
            ("https://", AddressError::NoHost),
            (":5000", AddressError::NoHost),
            ("-bad.example", AddressError::BadHost),
            ("[zz]:1", AddressError::BadHost),
        ];
        for (address, expected) in cases {
            assert_eq!(Registry::parse(address), Err(expected), "{address:?}");
        }
        assert_eq!(
            Registry::parse(&"a".repeat(2000)),
            Err(AddressError::TooLong)
        );
    }

    /// Whatever parses has a canonical key that parses back to itself.
    fn check_address(address: &str) {
        let Ok(registry) = Registry::parse(address) else {
            return;
        };
        let again = Registry::parse(registry.key()).expect("a canonical key parses");
        assert_eq!(again, registry, "{address:?}");
        assert_eq!(again.key(), registry.key());
        assert_eq!(
            Registry::parse(registry.default_address()).unwrap(),
            registry
        );
        assert_eq!(
            Registry::parse(registry.list_address(address)).unwrap(),
            registry
        );
        assert!(!registry.key().bytes().any(|b| b.is_ascii_uppercase()));
    }

    #[test]
    fn seed_corpus_keeps_its_verdicts() {
        for (name, bytes) in crate::corpus::inputs("address") {
            let text = String::from_utf8_lossy(&bytes);
            check_address(&text);
            let parsed = Registry::parse(&text);
            if name.starts_with("valid.txt") {
                assert!(parsed.is_ok(), "{name}: {text:?} {parsed:?}");
            } else {
                assert!(parsed.is_err(), "{name}: {text:?} {parsed:?}");
            }
        }
    }

    /// `from_key` agrees with `parse` on which keys are canonical.
    fn check_from_key(key: &str) {
        let expected = Registry::parse(key).ok().filter(|r| r.key() == key);
        assert_eq!(Registry::from_key(key), expected, "{key:?}");
    }

    #[test]
    fn from_key_takes_exactly_the_canonical_keys() {
        for key in [
            "docker.io",
            "docker.io/access-token",
            "index.docker.io",
            "Docker.io",
            "ghcr.io",
            "GHCR.io",
            "ghcr.io:443",
            "ghcr.io:0443",
            "ghcr.io:0",
            "ghcr.io:65536",
            "ghcr.io:",
            "127.0.0.1:5000",
            "[::1]:5000",
            "[::1]",
            "[::A]",
            "[]",
            "[::1]x",
            "-a.io",
            ".a.io",
            "a_b.io",
            "https://ghcr.io",
            "ghcr.io/x",
            "",
            ":5000",
            "registry-1.docker.io",
            "a@b",
        ] {
            check_from_key(key);
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::corpus::proptest_config())]

        #[test]
        fn from_key_agrees_with_parse(key in "(\\[[0-9a-fA-F:.]{0,6}\\]|[a-zA-Z0-9._@/:-]{0,12})(:[0-9]{0,6})?") {
            check_from_key(&key);
        }

        #[test]
        fn any_text_parses_to_a_stable_key_or_is_refused(address in proptest::prelude::any::<String>()) {
            check_address(&address);
        }

        #[test]
        fn address_like_text_parses_to_a_stable_key_or_is_refused(
            address in r"(https?://|HTTPS?://|ftp://)?[a-zA-Z0-9.:_@?#\[\]-]{0,40}(/[a-z0-9./-]{0,12})?"
        ) {
            check_address(&address);
        }

        #[test]
        fn host_port_and_path_reduce_to_lower_case_host_and_port(
            scheme in "(|http://|https://|HTTPS://)",
            host in "[a-zA-Z0-9][a-zA-Z0-9_-]{0,15}(\\.[a-zA-Z0-9][a-zA-Z0-9_-]{0,15}){0,3}",
            port in proptest::option::of(1u32..=65535),
            zeros in 0usize..3,
            path in "(/[a-z0-9._-]{0,8}){0,3}/?",
        ) {
            let mut address = format!("{scheme}{host}");
            if let Some(port) = port {
                address.push_str(&format!(":{}{port}", "0".repeat(zeros)));
            }
            address.push_str(&path);
            let registry = Registry::parse(&address);
            let lower = host.to_ascii_lowercase();
            if HUB_HOSTS.contains(&lower.as_str()) {
                return Ok(());
            }
            let port_text = port.map(|p| p.to_string());
            let too_long_port = port_text.as_ref().is_some_and(|p| p.len() + zeros > 5);
            if too_long_port {
                proptest::prop_assert_eq!(registry, Err(AddressError::BadPort));
            } else {
                let expected = match port_text {
                    Some(p) => format!("{lower}:{p}"),
                    None => lower,
                };
                let registry = registry.unwrap();
                proptest::prop_assert_eq!(registry.key(), expected.as_str());
            }
            check_address(&address);
        }
    }

    #[test]
    fn list_address_is_docker_key_for_hub_and_stored_form_otherwise() {
        assert_eq!(
            Registry::DockerHub.list_address("docker.io"),
            DOCKER_HUB_ADDRESS
        );
        let host = Registry::parse("https://ghcr.io/").unwrap();
        assert_eq!(host.list_address("https://ghcr.io/"), "https://ghcr.io/");
    }
}
