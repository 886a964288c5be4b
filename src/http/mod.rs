//! The one HTTP client, shared by everything that talks to a server (Docker Hub, OpenBao).
//!
//! - Blocking: `get` must not start an async runtime.
//! - TLS by rustls. The roots are the operating system's trust store
//!   (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace it where set), or a CA file
//!   the user names instead.
//! - Plain `http://` only to loopback ([`check_cleartext`]): tokens, passwords
//!   and client tokens never cross a network in clear.
//! - Proxies from the environment, as curl reads them ([`proxy`]).
//! - Every call has a deadline covering connect, send and the whole body, so
//!   Docker never waits on a server that stopped answering. A failure says
//!   whether the request can have reached the server: only one that cannot
//!   may be sent again elsewhere.
//! - Redirects are never followed: a token header must not travel to a host
//!   it was not sent to. A redirect comes back to the caller as a status.
//! - Bodies are read into buffers wiped on drop; copies held inside ureq and
//!   rustls are wiped when freed (see [`crate::alloc`]).
//! - Every status comes back as a [`Response`]; what a status means is the
//!   caller's business. Only transport failures are errors here.

use std::io::Read;
use std::time::Duration;

use ureq::http;
use zeroize::Zeroizing;

mod error;
mod proxy;
mod tls;

pub use error::HttpError;
use error::classify;
pub(crate) use error::{check_cleartext, shown_duration};
pub(crate) use proxy::is_loopback;
pub(crate) use tls::Trust;
use tls::root_certs;

/// The largest body read from any server; a token listing is far smaller.
const MAX_BODY: usize = 8 * 1024 * 1024;
const USER_AGENT: &str = concat!("docker-credential-pat/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
    Delete,
    /// OpenBao's and Vault's method for listing keys.
    List,
}

impl Method {
    fn as_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
            Method::List => http::Method::from_bytes(b"LIST").expect("LIST is a valid token"),
        }
    }
}

/// One request. Header values may be secrets (a bearer token): they are copied
/// only into the request, which is freed (and so wiped) when the call ends.
pub(crate) struct Request<'a> {
    method: Method,
    url: &'a str,
    headers: Vec<(&'static str, &'a str)>,
    body: Option<&'a [u8]>,
    timeout: Duration,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, url: &'a str, timeout: Duration) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A JSON body; a body holding a secret should live in a wiped buffer.
    pub(crate) fn json(self, body: &'a [u8]) -> Self {
        self.body("application/json", body)
    }

    /// A body of another type (`application/merge-patch+json`…), under the same rule.
    pub(crate) fn body(mut self, content_type: &'static str, body: &'a [u8]) -> Self {
        self.headers.push(("content-type", content_type));
        self.body = Some(body);
        self
    }
}

/// A server's answer, whatever its status.
pub(crate) struct Response {
    pub(crate) status: u16,
    headers: http::HeaderMap,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A response as a server might send it, for the callers' unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Self {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                *name,
                http::HeaderValue::from_str(value).expect("a valid header"),
            );
        }
        Self {
            status,
            headers: map,
            body: Zeroizing::new(body.to_vec()),
        }
    }
}

/// Where the client's trust comes from.
pub(crate) struct HttpClient {
    agent: ureq::Agent,
    proxies: proxy::Proxies,
}

impl HttpClient {
    pub(crate) fn new(trust: &Trust) -> Result<Self, HttpError> {
        let roots = root_certs(trust)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .allow_non_standard_methods(true)
            .user_agent(USER_AGENT)
            .accept_encoding("identity")
            // Every answer here is small. ureq's 128 KiB buffers are fresh pages
            // for every connection, all touched again when freed and wiped.
            .input_buffer_size(BUFFER)
            .output_buffer_size(BUFFER)
            .max_response_header_size(BUFFER)
            // Chosen per request by `proxy`, never by ureq's own reading of the environment.
            .proxy(None)
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build();
        let connector = ureq::unversioned::transport::DefaultConnector::new();
        Ok(Self {
            agent: ureq::Agent::with_parts(config, connector, Literal::default()),
            proxies: proxy::Proxies::from_env()?,
        })
    }

    /// Sends `request` and reads the whole answer within the request's timeout.
    pub(crate) fn send(&self, request: Request<'_>) -> Result<Response, HttpError> {
        let url = request.url;
        let Some((https, host, port)) = target(url) else {
            return Err(HttpError::BadUrl { url: url.into() });
        };
        if check_cleartext(url).is_err() {
            return Err(HttpError::Cleartext { url: url.into() });
        }
        let via = self.proxies.choose(https, &host, port);
        let fail = |e: ureq::Error| classify(url, request.timeout, via, e);
        let mut builder = http::Request::builder()
            .method(request.method.as_http())
            .uri(url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, *value);
        }
        let body: &[u8] = request.body.unwrap_or_default();
        let built = builder
            .body(body)
            .map_err(|_| HttpError::BadUrl { url: url.into() })?;
        // A connection not made within the timeout is reported as such (nothing
        // was sent); the whole exchange gets a hair more, so that a timeout
        // while connecting is never taken for one after sending.
        let built = self
            .agent
            .configure_request(built)
            .proxy(via.map(|c| c.proxy.clone()))
            .timeout_connect(Some(request.timeout))
            .timeout_global(Some(request.timeout + CONNECT_MARGIN))
            .build();
        let mut response = self.agent.run(built).map_err(fail)?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let expected = response
            .body()
            .content_length()
            .map_or(0, |n| usize::try_from(n).unwrap_or(MAX_BODY));
        let mut body = Zeroizing::new(Vec::with_capacity(expected.min(MAX_BODY)));
        let reader = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY as u64 + 1)
            .reader();
        read_wiped(reader, &mut body).map_err(|e| match e.downcast::<ureq::Error>() {
            Ok(e) => fail(e),
            Err(e) => classify(url, request.timeout, via, ureq::Error::Io(e)),
        })?;
        if body.len() > MAX_BODY {
            return Err(HttpError::TooLarge { url: url.into() });
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// ureq's resolver, except that an address that is already an IP address
/// (a server on loopback, a cluster listed by address) is used as it is.
/// ureq starts a thread for every lookup, to bound it by the timeout, and a
/// thread costs `get` a noticeable part of its time.
#[derive(Debug, Default)]
struct Literal(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for Literal {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        if let (Ok(ip), Some(port)) = (host.parse::<std::net::IpAddr>(), port) {
            let mut addresses = self.empty();
            addresses.push(std::net::SocketAddr::new(ip, port));
            return Ok(addresses);
        }
        self.0.resolve(uri, config, timeout)
    }
}

/// The size of each connection's read and write buffers, and the most an
/// answer's headers may take.
const BUFFER: usize = 16 * 1024;

/// How much longer than the connect timeout a whole exchange may take.
const CONNECT_MARGIN: Duration = Duration::from_millis(20);

/// `(https, host, port)` of an `http(s)://` URL; the host without brackets.
fn target(url: &str) -> Option<(bool, String, u16)> {
    let (https, rest) = match url.split_once("://")? {
        ("https", rest) => (true, rest),
        ("http", rest) => (false, rest),
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, default),
        }
    };
    (!host.is_empty()).then(|| (https, host.to_owned(), port))
}

/// Reads to the end in fixed steps straight into `out`, whose earlier copies
/// (left behind when it grows) are wiped by the allocator.
fn read_wiped(mut reader: impl Read, out: &mut Zeroizing<Vec<u8>>) -> std::io::Result<()> {
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = reader.read(&mut chunk[..])?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > MAX_BODY {
            return Ok(());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
