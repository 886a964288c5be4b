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
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http;
use zeroize::Zeroizing;

mod proxy;

pub use proxy::ProxyError;
pub(crate) use proxy::is_loopback;

/// The largest body read from any server; a token listing is far smaller.
const MAX_BODY: usize = 8 * 1024 * 1024;
const USER_AGENT: &str = concat!("docker-credential-pat/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer in time, after the request may have been sent.
    #[error("{url} did not answer within {}", shown_duration(*.after))]
    TimedOut { url: String, after: Duration },
    /// No connection in time: nothing was sent.
    #[error("cannot connect to {url} within {}{via}", shown_duration(*.after))]
    ConnectTimedOut {
        url: String,
        after: Duration,
        via: String,
    },
    /// Nothing was sent.
    #[error("cannot connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    /// The connection failed after the request may have been sent.
    #[error("the connection to {url} broke before the answer came ({cause})")]
    Broken { url: String, cause: String },
    #[error(
        "TLS with {url} failed: {cause} (a private CA's certificate can be trusted with SSL_CERT_FILE)"
    )]
    Tls { url: String, cause: String },
    #[error("{url} answered with more than {MAX_BODY} bytes")]
    TooLarge { url: String },
    #[error("{url} is not a valid http(s) URL")]
    BadUrl { url: String },
    #[error("refusing to send to {url} in clear: {}", CLEARTEXT_RULE)]
    Cleartext { url: String },
    #[error("cannot read the CA file {path}: {cause}")]
    CaFile { path: PathBuf, cause: String },
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    #[error("request to {url} failed: {cause}")]
    Other { url: String, cause: String },
}

/// Why plain http is refused, said the same way for every setting.
const CLEARTEXT_RULE: &str =
    "http:// is only for a loopback address (127.0.0.1, ::1, localhost); use https://";

/// The one rule for plain HTTP, checked where a URL is configured (so the
/// error names the setting) and again before every request: `http://` only
/// to a loopback address. `Err` holds the reason, without the URL.
pub(crate) fn check_cleartext(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if !authority.contains('@') && is_loopback(host) {
        Ok(())
    } else {
        Err(CLEARTEXT_RULE.to_owned())
    }
}

/// A duration as people read it: `5 s`, `1.5 s`, `250 ms`.
pub(crate) fn shown_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl HttpError {
    /// True when the server could not be reached or did not answer in time,
    /// so another address of the same service may still answer.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(
            self,
            HttpError::TimedOut { .. }
                | HttpError::ConnectTimedOut { .. }
                | HttpError::Connect { .. }
                | HttpError::Broken { .. }
                | HttpError::Other { .. }
        )
    }

    /// True when the request cannot have reached the server (no connection
    /// was made), so sending it again, here or elsewhere, cannot repeat it.
    pub(crate) fn nothing_sent(&self) -> bool {
        matches!(
            self,
            HttpError::ConnectTimedOut { .. } | HttpError::Connect { .. }
        )
    }

    /// True for a deadline passed, whatever the phase.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(
            self,
            HttpError::TimedOut { .. } | HttpError::ConnectTimedOut { .. }
        )
    }
}

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
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    /// PEM certificates to trust instead of the system's roots.
    pub(crate) ca_file: Option<PathBuf>,
}

pub(crate) struct HttpClient {
    agent: ureq::Agent,
    proxies: proxy::Proxies,
}

/// The roots a client trusts: the CA file when one is named, else the
/// system's trust store through rustls-platform-verifier (which reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` on Linux and the BSDs).
fn root_certs(trust: &Trust) -> Result<ureq::tls::RootCerts, HttpError> {
    if let Some(path) = &trust.ca_file {
        return Ok(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
            read_ca_file(path)?,
        )));
    }
    Ok(platform_roots())
}

/// macOS and Windows verify against their own stores, which know nothing of
/// `SSL_CERT_FILE`: when it or `SSL_CERT_DIR` is set, their certificates
/// are loaded (by rustls-native-certs, as on Linux) and trusted instead.
#[cfg(any(windows, target_vendor = "apple"))]
fn platform_roots() -> ureq::tls::RootCerts {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("SSL_CERT_FILE") || set("SSL_CERT_DIR") {
        let loaded = rustls_native_certs::load_native_certs();
        let certificates: Vec<_> = loaded
            .certs
            .into_iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if !certificates.is_empty() {
            return ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates));
        }
    }
    ureq::tls::RootCerts::PlatformVerifier
}

#[cfg(not(any(windows, target_vendor = "apple")))]
fn platform_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::PlatformVerifier
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
/// ureq starts a thread for every lookup, to bound it by the timeout; `get`
/// makes two requests at once, and two threads more cost it a tenth of its time.
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

fn classify(
    url: &str,
    timeout: Duration,
    via: Option<&proxy::Chosen>,
    error: ureq::Error,
) -> HttpError {
    use std::io::ErrorKind;
    let url = url.to_owned();
    let through = via.map_or(String::new(), |p| format!(" through the proxy {}", p.shown));
    // Whatever a proxy or a library says, the proxy's password is not repeated.
    let text = |e: &dyn std::fmt::Display| {
        let text = one_line(&e.to_string());
        via.map_or(text.clone(), |p| p.scrub(&text))
    };
    match error {
        // The handshake's own failure, carried inside an I/O error.
        ureq::Error::Io(ref e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            HttpError::Tls {
                url,
                cause: text(e.get_ref().expect("checked above")),
            }
        }
        // The resolver's failure, as the standard library words it.
        ureq::Error::Io(ref e) if e.to_string().contains("failed to lookup address") => {
            HttpError::Connect {
                url,
                cause: format!("host not found{through}"),
            }
        }
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            HttpError::ConnectTimedOut {
                url,
                after: timeout,
                via: through,
            }
        }
        ureq::Error::Timeout(_) => HttpError::TimedOut {
            url,
            after: timeout,
        },
        ureq::Error::Io(e) if e.kind() == ErrorKind::TimedOut => HttpError::TimedOut {
            url,
            after: timeout,
        },
        ureq::Error::HostNotFound => HttpError::Connect {
            url,
            cause: format!("host not found{through}"),
        },
        ureq::Error::ConnectionFailed => HttpError::Connect {
            url,
            cause: format!("connection failed{through}"),
        },
        ureq::Error::ConnectProxyFailed(ref why) => HttpError::Connect {
            url,
            cause: format!(
                "the proxy {} refused to connect ({})",
                via.map_or("", |p| p.shown.as_str()),
                text(why)
            ),
        },
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
            ) =>
        {
            HttpError::Connect {
                url,
                cause: format!("{}{through}", e.kind()),
            }
        }
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected
            ) =>
        {
            HttpError::Broken {
                url,
                cause: e.kind().to_string(),
            }
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => HttpError::BadUrl { url },
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { url },
        ref e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_)) => {
            HttpError::Tls {
                url,
                cause: text(e),
            }
        }
        ref e => HttpError::Other {
            url,
            cause: text(e),
        },
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read_ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, HttpError> {
    let error = |cause: String| HttpError::CaFile {
        path: path.to_owned(),
        cause,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(certificate) =
            item.map_err(|e| error(one_line(&e.to_string())))?
        {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(error("it holds no PEM certificate".into()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// A one-connection server that answers with `reply` and returns the request it saw.
    fn serve_once(reply: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
                request.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            request.push_str(&String::from_utf8(body).unwrap());
            (&stream).write_all(reply).unwrap();
            request
        });
        (url, handle)
    }

    fn client() -> HttpClient {
        HttpClient::new(&Trust::default()).unwrap()
    }

    #[test]
    fn every_status_comes_back_with_headers_and_body() {
        let (url, server) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\nX-Thing: 7\r\n\r\n{\"errors\":[]}",
        );
        let target = format!("{url}/v1/secret/data/x");
        let response = client()
            .send(
                Request::new(Method::Post, &target, Duration::from_secs(5))
                    .header("x-vault-token", "s.abc")
                    .json(b"{\"a\":1}"),
            )
            .unwrap();
        assert_eq!(response.status, 404);
        assert!(!response.is_success());
        assert_eq!(response.header("x-thing"), Some("7"));
        assert_eq!(&response.body[..], b"{\"errors\":[]}");
        let seen = server.join().unwrap();
        assert!(
            seen.starts_with("POST /v1/secret/data/x HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(seen.contains("x-vault-token: s.abc\r\n"), "{seen}");
        assert!(seen.ends_with("{\"a\":1}"), "{seen}");
    }

    #[test]
    fn list_is_sent_as_its_own_method() {
        let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        let target = format!("{url}/v1/secret/metadata/");
        let response = client()
            .send(Request::new(Method::List, &target, Duration::from_secs(5)))
            .unwrap();
        assert_eq!(response.status, 200);
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("LIST /v1/secret/metadata/ ")
        );
    }

    #[test]
    fn redirects_are_not_followed() {
        let (url, server) = serve_once(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://192.0.2.1/\r\nContent-Length: 0\r\n\r\n",
        );
        let response = client()
            .send(Request::new(Method::Get, &url, Duration::from_secs(5)))
            .unwrap();
        assert_eq!(response.status, 307);
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_never_answers_times_out_on_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let started = Instant::now();
        let error = client()
            .send(Request::new(Method::Get, &url, Duration::from_millis(500)))
            .err()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(matches!(error, HttpError::TimedOut { .. }), "{error}");
        assert!(error.is_unreachable());
        drop(listener);
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let error = client()
            .send(Request::new(Method::Get, &url, Duration::from_secs(2)))
            .err()
            .unwrap();
        assert!(matches!(error, HttpError::Connect { .. }), "{error}");
        assert!(error.to_string().contains(&url));
    }

    #[test]
    fn plain_http_goes_only_to_loopback() {
        for url in [
            "http://127.0.0.1:8200/v1/x",
            "http://127.1.2.3/",
            "http://[::1]:80/",
            "http://localhost:5000",
            "https://bao.example:8200/v1/x",
            "https://10.0.0.1/",
        ] {
            assert!(check_cleartext(url).is_ok(), "{url}");
        }
        for url in [
            "http://bao.example:8200/v1/x",
            "http://10.0.0.1/",
            "http://[fd00::1]:8200/",
            "http://localhost.evil.example/",
            "http://127.0.0.1@evil.example/",
            "http://0.0.0.0:8200/",
        ] {
            assert!(check_cleartext(url).is_err(), "{url}");
        }
        // And at the last moment, whatever a caller checked before.
        let error = client()
            .send(Request::new(
                Method::Get,
                "http://192.0.2.1:8200/v1/x",
                Duration::from_secs(1),
            ))
            .err()
            .unwrap();
        assert!(matches!(error, HttpError::Cleartext { .. }), "{error}");
    }

    #[test]
    fn the_hub_url_setting_follows_the_same_rule() {
        assert!(crate::config::check_hub_url("http://127.0.0.1:8080/").is_ok());
        assert!(crate::config::check_hub_url("https://hub.docker.com").is_ok());
        let message = crate::config::check_hub_url("http://hub.example").unwrap_err();
        assert!(message.contains("loopback"), "{message}");
    }

    #[test]
    fn durations_are_shown_as_configured() {
        assert_eq!(shown_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(shown_duration(Duration::from_millis(4999)), "5.0 s");
        assert_eq!(shown_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(shown_duration(Duration::from_millis(250)), "250 ms");
        let error = HttpError::TimedOut {
            url: "https://hub.docker.com/v2/x".into(),
            after: Duration::from_secs(5),
        };
        assert_eq!(
            error.to_string(),
            "https://hub.docker.com/v2/x did not answer within 5 s"
        );
    }

    #[test]
    fn a_connection_cut_after_the_request_is_not_taken_for_nothing_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            // Closed with unread bytes pending is a reset; a plain close is an end of file.
            drop(stream);
        });
        let error = client()
            .send(Request::new(Method::Post, &url, Duration::from_secs(5)).json(b"{}"))
            .err()
            .unwrap();
        server.join().unwrap();
        assert!(error.is_unreachable(), "{error}");
        assert!(!error.nothing_sent(), "{error:?}");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = client()
            .send(Request::new(
                Method::Post,
                &format!("http://127.0.0.1:{port}/"),
                Duration::from_secs(2),
            ))
            .err()
            .unwrap();
        assert!(error.nothing_sent(), "{error:?}");
    }

    #[test]
    fn a_timeout_after_sending_may_have_reached_the_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let error = client()
            .send(Request::new(Method::Post, &url, Duration::from_millis(300)))
            .err()
            .unwrap();
        assert!(matches!(error, HttpError::TimedOut { .. }), "{error:?}");
        assert!(!error.nothing_sent());
        assert!(error.to_string().ends_with("within 300 ms"), "{error}");
        drop(listener);
    }

    #[test]
    fn bad_urls_and_ca_files_are_clear_errors() {
        let error = client()
            .send(Request::new(
                Method::Get,
                "ftp://x/",
                Duration::from_secs(1),
            ))
            .err()
            .unwrap();
        assert!(matches!(error, HttpError::BadUrl { .. }));
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let error = HttpClient::new(&Trust {
            ca_file: Some(ca.clone()),
        })
        .err()
        .unwrap();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let error = HttpClient::new(&Trust {
            ca_file: Some(dir.path().join("missing.pem")),
        })
        .err()
        .unwrap();
        assert!(matches!(error, HttpError::CaFile { .. }));
    }
}
