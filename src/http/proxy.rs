//! Which proxy a request goes through, read from the environment the way
//! curl and Go read it.
//!
//! - `https://` URLs use `https_proxy` / `HTTPS_PROXY`, `http://` URLs
//!   `http_proxy` / `HTTP_PROXY`; either falls back to `all_proxy` /
//!   `ALL_PROXY`. The lower-case name wins when both are set, as in curl.
//! - `no_proxy` / `NO_PROXY` lists hosts reached directly, separated by
//!   commas or spaces: `*` (everything), a domain (`example.com` and
//!   `.example.com` both match `example.com` and every name under it), an IP
//!   address, a CIDR range (`10.0.0.0/8`, `fd00::/8`), each optionally with a
//!   `:port` that must match too. Names are not resolved to match a range.
//! - Loopback (`localhost`, 127.0.0.0/8, `::1`) is never proxied: a local
//!   OpenBao's client token must not leave the machine.
//!
//! A proxy URL may carry a user and password; they are secrets, so a proxy
//! is only ever shown as `scheme://host:port`.

use std::net::IpAddr;

use zeroize::Zeroizing;

/// A proxy setting that cannot be used; the text names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ProxyError {
    pub(crate) variable: &'static str,
    pub(crate) problem: String,
}

/// One proxy, ready for ureq, and how to name it without its credentials.
#[derive(Clone)]
pub(crate) struct Chosen {
    pub(crate) proxy: ureq::Proxy,
    /// `scheme://host:port`, for messages.
    pub(crate) shown: String,
    /// The password as written and as decoded, to scrub from error texts.
    secrets: Vec<Zeroizing<String>>,
}

impl Chosen {
    /// `text` without any of this proxy's credentials.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }
}

/// The environment's proxies and exceptions, read once.
#[derive(Clone, Default)]
pub(crate) struct Proxies {
    https: Option<Chosen>,
    http: Option<Chosen>,
    no_proxy: Vec<Exception>,
}

/// Reads a variable, lower-case name first; an empty value counts as unset.
fn variable(
    get: &dyn Fn(&str) -> Option<String>,
    names: [&'static str; 2],
) -> Option<(&'static str, Zeroizing<String>)> {
    names.into_iter().find_map(|name| {
        get(name)
            .map(Zeroizing::new)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    })
}

impl Proxies {
    /// From the process environment.
    pub(crate) fn from_env() -> Result<Self, ProxyError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// From a lookup of variables (the environment, or a table in tests).
    pub(crate) fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let all = variable(get, ["all_proxy", "ALL_PROXY"]);
        let https = variable(get, ["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
        let http = variable(get, ["http_proxy", "HTTP_PROXY"]).or(all);
        let no_proxy = variable(get, ["no_proxy", "NO_PROXY"])
            .map(|(_, list)| parse_no_proxy(&list))
            .unwrap_or_default();
        Ok(Self {
            https: https
                .map(|(name, url)| parse_proxy(name, &url))
                .transpose()?,
            http: http
                .map(|(name, url)| parse_proxy(name, &url))
                .transpose()?,
            no_proxy,
        })
    }

    /// The proxy for a request to `scheme://host:port`, or `None` to go directly.
    pub(crate) fn choose(&self, https: bool, host: &str, port: u16) -> Option<&Chosen> {
        let chosen = if https { &self.https } else { &self.http }.as_ref()?;
        let host = bare_host(host);
        if is_loopback(&host) || self.no_proxy.iter().any(|e| e.matches(&host, port)) {
            return None;
        }
        Some(chosen)
    }
}

/// A host as compared: lower case, without brackets or a trailing dot.
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// True for `localhost` and loopback addresses: 127.0.0.0/8 and `::1`
/// (also as an IPv4-mapped `::ffff:127.x.y.z`). `host` may be bracketed.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = bare_host(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

fn parse_proxy(variable: &'static str, url: &str) -> Result<Chosen, ProxyError> {
    let fail = |problem: String| ProxyError { variable, problem };
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        // curl takes a bare host:port as an HTTP proxy.
        None => ("http".to_owned(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err(fail(format!(
            "{scheme}:// proxies are not supported; use an http:// or https:// proxy"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport)
        .ok_or_else(|| fail("must be a proxy such as http://proxy.example:3128".into()))?;
    let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
    let shown = if host.contains(':') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    };
    let mut secrets = Vec::new();
    let mut full = Zeroizing::new(format!("{scheme}://"));
    if let Some(userinfo) = userinfo {
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(Zeroizing::new(password.to_owned()));
            if let Some(decoded) = percent_decode(password) {
                secrets.push(decoded);
            }
        }
        secrets.push(Zeroizing::new(userinfo.to_owned()));
        full.push_str(userinfo);
        full.push('@');
    }
    full.push_str(shown.split_once("://").map_or("", |(_, hostport)| hostport));
    let proxy = ureq::Proxy::new(&full).map_err(|_| {
        fail(format!(
            "{shown} is not a usable proxy URL (a user or password must be percent-encoded)"
        ))
    })?;
    Ok(Chosen {
        proxy,
        shown,
        secrets,
    })
}

fn percent_decode(text: &str) -> Option<Zeroizing<String>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(std::mem::take(&mut *out)).ok()?;
    Some(Zeroizing::new(text))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    if text.is_empty() {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_ascii_lowercase(), port));
    }
    if text.matches(':').count() > 1 {
        // A bare IPv6 address (with a prefix length, for a range).
        return Some((text.to_ascii_lowercase(), None));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host.to_ascii_lowercase(), Some(port.parse().ok()?))),
        None => Some((text.to_ascii_lowercase(), None)),
    }
}

/// One entry of `NO_PROXY`.
#[derive(Clone, Debug, PartialEq)]
enum Exception {
    All,
    Domain { name: String, port: Option<u16> },
    Address { ip: IpAddr, port: Option<u16> },
    Range { net: IpAddr, bits: u8 },
}

fn parse_no_proxy(list: &str) -> Vec<Exception> {
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(parse_exception)
        .collect()
}

fn parse_exception(entry: &str) -> Option<Exception> {
    if entry == "*" {
        return Some(Exception::All);
    }
    if let Some((net, bits)) = entry.split_once('/') {
        let net = bare_host(net).parse::<IpAddr>().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then_some(Exception::Range { net, bits });
    }
    let (host, port) = split_host_port(entry)?;
    let host = bare_host(&host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Exception::Address { ip, port });
    }
    let name = host
        .trim_start_matches('*')
        .trim_start_matches('.')
        .to_owned();
    (!name.is_empty()).then_some(Exception::Domain { name, port })
}

impl Exception {
    fn matches(&self, host: &str, port: u16) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|p| p == port);
        match self {
            Exception::All => true,
            Exception::Domain { name, port: want } => {
                port_ok(want)
                    && (host == name
                        || host
                            .strip_suffix(name.as_str())
                            .is_some_and(|head| head.ends_with('.')))
            }
            Exception::Address { ip, port: want } => {
                port_ok(want) && host.parse::<IpAddr>().is_ok_and(|h| same_ip(h, *ip))
            }
            Exception::Range { net, bits } => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_range(h, *net, *bits)),
        }
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip.to_canonical(), net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Proxies::from_lookup(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn via(p: &Proxies, https: bool, host: &str, port: u16) -> Option<String> {
        p.choose(https, host, port).map(|c| c.shown.clone())
    }

    #[test]
    fn each_scheme_has_its_variable_and_all_proxy_is_the_fallback() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:8080"),
        ]);
        assert_eq!(
            via(&p, true, "hub.docker.com", 443).as_deref(),
            Some("http://secure:3128")
        );
        assert_eq!(
            via(&p, false, "bao.example", 8200).as_deref(),
            Some("http://plain:8080")
        );
        let p = proxies(&[("ALL_PROXY", "http://every:1")]);
        assert_eq!(
            via(&p, true, "a.example", 443).as_deref(),
            Some("http://every:1")
        );
        assert_eq!(
            via(&p, false, "a.example", 80).as_deref(),
            Some("http://every:1")
        );
        let p = proxies(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
        ]);
        assert_eq!(
            via(&p, true, "a.example", 443).as_deref(),
            Some("http://lower:1"),
            "the lower-case name wins, as in curl"
        );
        let p = proxies(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:2")]);
        assert_eq!(
            via(&p, true, "a.example", 443).as_deref(),
            Some("http://upper:2"),
            "an empty variable counts as unset"
        );
        assert!(via(&proxies(&[]), true, "a.example", 443).is_none());
    }

    #[test]
    fn no_proxy_as_people_write_it() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "localhost, 127.0.0.1 ,.corp.example, example.com, 10.0.0.0/8,fd00::/8, [2001:db8::1], only.example:8443, *.wild.example",
            ),
        ]);
        let direct = |host: &str, port: u16| via(&p, true, host, port).is_none();
        assert!(direct("example.com", 443));
        assert!(direct("a.example.com", 443));
        assert!(direct("A.Example.COM.", 443));
        assert!(!direct("notexample.com", 443));
        assert!(direct("corp.example", 443), ".corp.example matches itself");
        assert!(direct("bao.corp.example", 8200));
        assert!(direct("10.1.2.3", 8200));
        assert!(!direct("11.1.2.3", 8200));
        assert!(direct("[fd12::5]", 8200));
        assert!(!direct("[fe80::1]", 8200));
        assert!(direct("[2001:db8::1]", 8200));
        assert!(direct("only.example", 8443));
        assert!(
            !direct("only.example", 443),
            "a port in NO_PROXY must match"
        );
        assert!(direct("x.wild.example", 443));
        assert!(!direct("hub.docker.com", 443));
        let star = proxies(&[("https_proxy", "http://proxy:3128"), ("no_proxy", "*")]);
        assert!(via(&star, true, "hub.docker.com", 443).is_none());
    }

    #[test]
    fn loopback_is_never_proxied() {
        let p = proxies(&[("ALL_PROXY", "http://proxy:3128"), ("NO_PROXY", "")]);
        for host in [
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
            "::1",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(via(&p, false, host, 8200).is_none(), "{host}");
            assert!(via(&p, true, host, 8200).is_none(), "{host}");
        }
        assert!(via(&p, true, "128.0.0.1", 8200).is_some());
        assert!(via(&p, true, "localhost.example", 8200).is_some());
    }

    #[test]
    fn credentials_are_never_shown_and_are_scrubbed_from_texts() {
        let p = proxies(&[("HTTPS_PROXY", "http://bob:s3cr%40t@proxy.example:3128")]);
        let chosen = p.choose(true, "hub.docker.com", 443).unwrap();
        assert_eq!(chosen.shown, "http://proxy.example:3128");
        assert_eq!(chosen.proxy.username(), Some("bob"));
        assert_eq!(chosen.proxy.password(), Some("s3cr@t"));
        assert_eq!(
            chosen.scrub("proxy said s3cr@t and s3cr%40t"),
            "proxy said *** and ***"
        );
        let error = Proxies::from_lookup(&|name| {
            (name == "HTTPS_PROXY").then(|| "socks5://u:pw@proxy:1080".to_owned())
        })
        .err()
        .unwrap();
        let text = error.to_string();
        assert!(text.starts_with("HTTPS_PROXY: socks5://"), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }

    #[test]
    fn ranges_and_addresses_match_exactly() {
        let e = parse_no_proxy("192.168.0.0/16 ::1 0.0.0.0/0");
        assert_eq!(e.len(), 3);
        assert!(e[0].matches("192.168.255.1", 1));
        assert!(!e[0].matches("192.169.0.1", 1));
        assert!(e[2].matches("8.8.8.8", 1));
        assert!(!e[2].matches("example.com", 1), "names are not resolved");
        assert!(parse_exception("10.0.0.0/33").is_none());
    }
}
