//! Requests to the server: one deadline per operation, failover across the
//! configured addresses, and the client token.
//!
//! An address that refuses the connection, does not answer in its share of
//! the deadline, is sealed, or answers like a standby in the middle of an
//! election or catching up (429, 5xx, 400, and even 404: a Raft standby
//! says "not found" for a secret it has not caught up with yet) is not taken
//! as the final word: the next address is asked, and while some node is still
//! electing the round is tried again until the deadline. 2xx, 403 and a
//! check-and-set refusal are final at once; a 404 or 400 stands only when no
//! other address knows better.
//!
//! That holds for reads. A write (POST, PATCH, DELETE) goes to the next
//! address only when it cannot have reached the first: the connection was
//! refused or not made in time, the node is sealed, or it said it is not the
//! active node. When it may have been carried out (a timeout after sending, a
//! connection cut, another 5xx), sending it again could do it twice, so the
//! caller gets [`OpenBaoError::Unknown`] and reads the state back to decide.
//!
//! Every request carries the client token ([`super::token`]); when the server
//! refuses it (403, and a lookup of the token itself fails too), a login's
//! token is dropped and the helper logs in again once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::OpenBaoError;
use super::settings::Resolved;
use crate::http::{HttpClient, Method, Request, Trust};

/// The pause between two rounds over the addresses while a node is electing.
const ROUND_PAUSE: Duration = Duration::from_millis(150);

/// A server's answer that was taken as final.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Zeroizing<Vec<u8>>,
    pub(crate) address: String,
}

impl Answer {
    /// The server's error texts, joined on one line.
    pub(crate) fn message(&self) -> String {
        errors_of(&self.body)
    }
}

fn errors_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    let text = serde_json::from_slice::<Errors>(body)
        .map(|e| {
            e.errors
                .iter()
                .map(|e| unlisted(e))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let text = crate::text::printable(&text, 300);
    if text.is_empty() {
        "no error text".into()
    } else {
        text
    }
}

/// The items of a Go multierror ("1 error occurred:\n\t* permission denied\n\n"),
/// so that a one-line message shows them and not its layout.
fn unlisted(error: &str) -> String {
    let items: Vec<&str> = error
        .lines()
        .filter_map(|line| line.trim().strip_prefix("* "))
        .map(str::trim)
        .collect();
    if error.contains(" occurred:") && !items.is_empty() {
        items.join("; ")
    } else {
        error.trim().to_owned()
    }
}

/// How one node's answer counts.
enum Verdict {
    Final,
    Sealed,
    /// A standby may say this while it catches up; another node may know better.
    NotYet,
    /// An election or a restart is under way; worth another round.
    Busy,
}

fn judge(status: u16, body: &[u8]) -> Verdict {
    match status {
        200..=299 | 403 => Verdict::Final,
        400 if errors_of(body).contains("check-and-set") => Verdict::Final,
        // KV on a node still catching up after an upgrade or an election.
        400 if errors_of(body).contains("will resume service") => Verdict::Busy,
        300..=399 | 400 | 404 => Verdict::NotYet,
        503 if errors_of(body).contains("sealed") => Verdict::Sealed,
        412 | 429 | 500..=599 => Verdict::Busy,
        _ => Verdict::Final,
    }
}

/// True when an answer says the node did not carry the request out: it is
/// sealed, a standby that could not forward it, or not ready. Any other 5xx
/// may come after the work was done.
fn not_acted(status: u16, body: &[u8]) -> bool {
    if matches!(status, 412 | 429) {
        return true;
    }
    if !(status == 400 || (500..=599).contains(&status)) {
        return false;
    }
    let text = errors_of(body);
    [
        "sealed",
        "local node not active",
        "active cluster node not found",
        "will resume service",
        "standby",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Where the client token in use came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A variable or a file the person gave; it cannot be renewed here.
    Given,
    /// The kernel keyring, from an earlier login.
    Cached,
    /// A login made by this process.
    Fresh,
}

pub(super) struct Held {
    pub(super) token: Zeroizing<String>,
    pub(super) origin: Origin,
}

pub(crate) struct Client {
    http: HttpClient,
    pub(crate) settings: Resolved,
    // One operation's deadline; a `Client` may be shared between threads.
    deadline: Mutex<Instant>,
    /// The address that answered last; tried first next time.
    preferred: AtomicUsize,
    /// Some address answered during this operation: a timeout now is slowness.
    heard: AtomicBool,
    pub(super) token: RwLock<Option<Held>>,
}

impl Client {
    pub(crate) fn new(settings: Resolved) -> Result<Self, OpenBaoError> {
        let http = HttpClient::new(&Trust {
            ca_file: settings.ca_file.clone(),
        })?;
        let deadline = Instant::now() + settings.timeout;
        Ok(Self {
            http,
            settings,
            deadline: Mutex::new(deadline),
            preferred: AtomicUsize::new(0),
            heard: AtomicBool::new(false),
            token: RwLock::new(None),
        })
    }

    /// Starts an operation: everything until the next `start` shares one deadline.
    pub(crate) fn start(&self) {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) =
            Instant::now() + self.settings.timeout;
        self.heard.store(false, Ordering::Relaxed);
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_duration_since(Instant::now())
    }

    /// A request with the client token, logging in first when needed.
    pub(crate) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, &[u8])>,
    ) -> Result<Answer, OpenBaoError> {
        self.ensure_token()?;
        let answer = self.with_token(|token| self.send(method, path, Some(token), body))?;
        if answer.status != 403 {
            return Ok(answer);
        }
        let origin = self.held().as_ref().map(|h| h.origin);
        if origin == Some(Origin::Fresh) {
            return Ok(answer);
        }
        // A 403 is the policy's answer or a dead token; only the token's own lookup tells.
        let lookup = self.with_token(|token| {
            self.send(Method::Get, "auth/token/lookup-self", Some(token), None)
        })?;
        if lookup.status == 200 {
            return Ok(answer);
        }
        if origin == Some(Origin::Given) {
            return Err(self.token_refused(&lookup.message()));
        }
        self.forget_token();
        self.ensure_token()?;
        self.with_token(|token| self.send(method, path, Some(token), body))
    }

    /// One address on its own, for doctor: every answer comes back, whatever it says.
    pub(crate) fn probe(&self, address: &str, path: &str) -> Result<Answer, OpenBaoError> {
        let url = format!("{address}/v1/{path}");
        let mut request = Request::new(
            Method::Get,
            &url,
            self.remaining().max(Duration::from_millis(200)),
        );
        if let Some(namespace) = &self.settings.namespace {
            request = request.header("x-vault-namespace", namespace);
        }
        let response = self.http.send(request)?;
        Ok(Answer {
            status: response.status,
            body: response.body,
            address: address.to_owned(),
        })
    }

    /// Sends one request to the first address that gives a final answer.
    pub(super) fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&'static str, &[u8])>,
    ) -> Result<Answer, OpenBaoError> {
        let addresses = &self.settings.addresses;
        let count = addresses.len();
        // A read may be asked again anywhere; a write only where it cannot have landed.
        let repeatable = matches!(method, Method::Get | Method::List);
        let mut unreachable: Option<String> = None;
        // Every address that failed here did so by running out of time.
        let mut only_timeouts = true;
        let mut busy: Option<Answer> = None;
        let mut not_yet: Option<Answer> = None;
        let mut sealed: Vec<String> = Vec::new();
        loop {
            let mut electing = false;
            let mut answered = None;
            sealed.clear();
            for k in 0..count {
                let remaining = self.remaining();
                if remaining.is_zero() {
                    break;
                }
                let i = (self.preferred.load(Ordering::Relaxed) + k) % count;
                // Each address gets a fair share of what is left, so a hung one cannot take it all.
                let share = (remaining / (count - k) as u32)
                    .max(Duration::from_millis(250))
                    .min(remaining);
                let url = format!("{}/v1/{path}", addresses[i]);
                let mut request = Request::new(method, &url, share);
                if let Some(token) = token {
                    request = request.header("x-vault-token", token);
                }
                if let Some(namespace) = &self.settings.namespace {
                    request = request.header("x-vault-namespace", namespace);
                }
                if let Some((content_type, bytes)) = body {
                    request = request.body(content_type, bytes);
                }
                let response = match self.http.send(request) {
                    Ok(response) => response,
                    Err(e) if !repeatable && e.is_unreachable() && !e.nothing_sent() => {
                        return Err(OpenBaoError::Unknown {
                            address: addresses[i].clone(),
                            path: path.to_owned(),
                            detail: self.transport_detail(&e),
                        });
                    }
                    Err(e) if e.is_unreachable() => {
                        // A connection cut mid-way is worth another try while time is left.
                        electing |= repeatable && !e.is_timeout() && !e.nothing_sent();
                        only_timeouts &= e.is_timeout();
                        unreachable = Some(self.transport_detail(&e));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                self.heard.store(true, Ordering::Relaxed);
                let answer = Answer {
                    status: response.status,
                    body: response.body,
                    address: addresses[i].clone(),
                };
                if answered.is_none() {
                    answered = Some(i);
                }
                let verdict = judge(answer.status, &answer.body);
                if !repeatable
                    && matches!(verdict, Verdict::Busy)
                    && !not_acted(answer.status, &answer.body)
                {
                    return Err(OpenBaoError::Unknown {
                        address: answer.address.clone(),
                        path: path.to_owned(),
                        detail: format!("it answered {} ({})", answer.status, answer.message()),
                    });
                }
                match verdict {
                    Verdict::Final => {
                        self.preferred.store(i, Ordering::Relaxed);
                        return Ok(answer);
                    }
                    Verdict::Sealed => sealed.push(answer.address),
                    // The first address in line is the likeliest to be the active node.
                    Verdict::NotYet => {
                        not_yet.get_or_insert(answer);
                    }
                    Verdict::Busy => {
                        electing = true;
                        busy = Some(answer);
                    }
                }
            }
            // Next time, start where someone answered rather than at a node that is down.
            if let Some(i) = answered {
                self.preferred.store(i, Ordering::Relaxed);
            }
            if !electing || self.remaining() < ROUND_PAUSE {
                break;
            }
            std::thread::sleep(ROUND_PAUSE);
        }
        if let Some(answer) = not_yet {
            return Ok(answer);
        }
        if let Some(answer) = busy {
            let message = answer.message();
            return Err(OpenBaoError::Server {
                status: answer.status,
                message,
                address: answer.address,
                path: path.to_owned(),
            });
        }
        if !sealed.is_empty() {
            return Err(OpenBaoError::Sealed {
                addresses: sealed.join(", "),
            });
        }
        if only_timeouts && self.heard.load(Ordering::Relaxed) {
            return Err(OpenBaoError::OutOfTime {
                addresses: addresses.join(", "),
                timeout: crate::http::shown_duration(self.settings.timeout),
                path: path.to_owned(),
            });
        }
        Err(OpenBaoError::Unreachable {
            addresses: addresses.join(", "),
            timeout: crate::http::shown_duration(self.settings.timeout),
            detail: unreachable.unwrap_or_else(|| "no time left".into()),
        })
    }

    /// A transport failure in a few words; a timeout is the operation's, as configured.
    pub(super) fn transport_detail(&self, e: &crate::http::HttpError) -> String {
        match e {
            crate::http::HttpError::TimedOut { url, .. } => format!("{url} did not answer in time"),
            crate::http::HttpError::ConnectTimedOut { url, via, .. } => {
                format!("no connection to {url}{via} in time")
            }
            e => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multierror_reads_as_its_items() {
        let body = br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#;
        assert_eq!(errors_of(body), "permission denied");
        let body = br#"{"errors":["2 errors occurred:\n\t* one\n\t* two\n\n","plain"]}"#;
        assert_eq!(errors_of(body), "one; two; plain");
        assert_eq!(errors_of(b"{}"), "no error text");
    }

    #[test]
    fn not_found_waits_for_the_other_nodes_and_check_and_set_does_not() {
        assert!(matches!(judge(404, b"{\"errors\":[]}"), Verdict::NotYet));
        assert!(matches!(
            judge(404, b"{\"errors\":[\"no handler for route\"]}"),
            Verdict::NotYet
        ));
        assert!(matches!(
            judge(
                400,
                b"{\"errors\":[\"check-and-set parameter did not match the current version\"]}"
            ),
            Verdict::Final
        ));
        assert!(matches!(
            judge(503, b"{\"errors\":[\"Vault is sealed\"]}"),
            Verdict::Sealed
        ));
        assert!(matches!(
            judge(500, b"{\"errors\":[\"local node not active\"]}"),
            Verdict::Busy
        ));
        assert!(matches!(
            judge(403, b"{\"errors\":[\"permission denied\"]}"),
            Verdict::Final
        ));
    }

    #[test]
    fn only_a_node_that_says_it_did_nothing_may_be_asked_the_same_change_again() {
        for (status, body) in [
            (503, &b"{\"errors\":[\"Vault is sealed\"]}"[..]),
            (
                500,
                b"{\"errors\":[\"local node not active but active cluster node not found\"]}",
            ),
            (429, b"{}"),
            (412, b"{}"),
        ] {
            assert!(not_acted(status, body), "{status}");
        }
        for (status, body) in [
            (500, &b"{\"errors\":[\"internal error\"]}"[..]),
            (502, b""),
            (503, b"{\"errors\":[\"injected 503\"]}"),
            (504, b"{}"),
        ] {
            assert!(!not_acted(status, body), "{status}");
        }
    }
}
