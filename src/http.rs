//! The one HTTP client, shared by everything that talks to a server (Docker Hub, OpenBao).
//!
//! - Blocking: `get` must not start an async runtime.
//! - TLS by rustls, with Mozilla's roots or a CA file the user names.
//! - Every call has a deadline covering connect, send and the whole body, so
//!   Docker never waits on a server that stopped answering.
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

/// The largest body read from any server; a token listing is far smaller.
const MAX_BODY: usize = 8 * 1024 * 1024;
const USER_AGENT: &str = concat!("docker-credential-pat/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url} did not answer within {seconds} s")]
    TimedOut { url: String, seconds: u64 },
    #[error("cannot connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("TLS with {url} failed: {cause}")]
    Tls { url: String, cause: String },
    #[error("{url} answered with more than {MAX_BODY} bytes")]
    TooLarge { url: String },
    #[error("{url} is not a valid http(s) URL")]
    BadUrl { url: String },
    #[error("cannot read the CA file {path}: {cause}")]
    CaFile { path: PathBuf, cause: String },
    #[error("request to {url} failed: {cause}")]
    Other { url: String, cause: String },
}

impl HttpError {
    /// True when the server could not be reached or did not answer in time,
    /// so another address of the same service may still answer.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(
            self,
            HttpError::TimedOut { .. } | HttpError::Connect { .. } | HttpError::Other { .. }
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
    /// PEM certificates to trust instead of Mozilla's roots.
    pub(crate) ca_file: Option<PathBuf>,
}

pub(crate) struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    pub(crate) fn new(trust: &Trust) -> Result<Self, HttpError> {
        let roots = match &trust.ca_file {
            Some(path) => ureq::tls::RootCerts::Specific(std::sync::Arc::new(read_ca_file(path)?)),
            None => ureq::tls::RootCerts::WebPki,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .allow_non_standard_methods(true)
            .user_agent(USER_AGENT)
            .accept_encoding("identity")
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build();
        Ok(Self {
            agent: config.new_agent(),
        })
    }

    /// Sends `request` and reads the whole answer within the request's timeout.
    pub(crate) fn send(&self, request: Request<'_>) -> Result<Response, HttpError> {
        let url = request.url;
        let seconds = request.timeout.as_secs().max(1);
        let fail = |e: ureq::Error| classify(url, seconds, e);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(HttpError::BadUrl { url: url.into() });
        }
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
        let built = self
            .agent
            .configure_request(built)
            .timeout_global(Some(request.timeout))
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
            Err(e) => HttpError::Other {
                url: url.into(),
                cause: e.to_string(),
            },
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

fn classify(url: &str, seconds: u64, error: ureq::Error) -> HttpError {
    let url = url.to_owned();
    match error {
        ureq::Error::Timeout(_) => HttpError::TimedOut { url, seconds },
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            HttpError::TimedOut { url, seconds }
        }
        ureq::Error::HostNotFound => HttpError::Connect {
            url,
            cause: "host not found".into(),
        },
        ureq::Error::ConnectionFailed => HttpError::Connect {
            url,
            cause: "connection failed".into(),
        },
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::NotConnected
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::HostUnreachable
            ) =>
        {
            HttpError::Connect {
                url,
                cause: e.kind().to_string(),
            }
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => HttpError::BadUrl { url },
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { url },
        e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_)) => {
            HttpError::Tls {
                url,
                cause: one_line(&e.to_string()),
            }
        }
        e => HttpError::Other {
            url,
            cause: one_line(&e.to_string()),
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
