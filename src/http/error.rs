//! What can go wrong on the way to a server, said so that people and callers
//! can tell a request that cannot have arrived from one that may have.

use std::path::PathBuf;
use std::time::Duration;

use super::proxy::{self, ProxyError};
use super::{MAX_BODY, is_loopback};

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

pub(super) fn classify(
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

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
