//! The HTTP side that every API double (Docker Hub, GitLab, GitHub) shares,
//! so that each double is only its registry's rules.
//!
//! [`Server`] is a small HTTP/1.1 server on loopback that hands each call to
//! an [`Api`] and writes its [`Answer`]. Around the double it adds what a test
//! orders ([`Fault`]: an error status, a delay, an answer dropped after the
//! double acted, a throttled answer, each on the Nth call or on the next call
//! to a route) and keeps a log of the calls ([`Event`]: method, path, what
//! authenticated the call, the status), with no secret in it: query values
//! that look like secrets are masked, bodies are not kept, and a double names
//! a token by its id, never by its secret.
//!
//! The registry's token service (the path a double's [`Api::is_registry_call`]
//! names) is logged but never faulted: faults are for the API a client drives.
//!
//! [`request`] is a bare client for poking at a double's strictness with
//! exactly the bytes a test wants.
//!
//! ```text
//! gitlab.http().fault_call(1, Fault::Status(503));          // the next call fails, nothing done
//! gitlab.http().fault_route("POST", "/rotate", Fault::Drop); // the rotation happens, the answer is lost
//! gitlab.http().throttle(2);                                 // the next two calls get the 429
//! let events = gitlab.http().events();                       // method, path, who, status, fault
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

/// Prefixes of the secrets the doubles hand out; a query value starting with
/// one is masked in the log.
const SECRET_PREFIXES: [&str; 7] = [
    "dckr_",
    "glpat-",
    "ghp_",
    "github_pat_",
    "gho_",
    "ghu_",
    "ghr_",
];
/// Query keys whose values are always masked in the log.
const SECRET_KEYS: [&str; 5] = [
    "private_token",
    "access_token",
    "password",
    "secret",
    "token",
];

/// One HTTP/1.1 request, as read off the socket.
pub struct Incoming {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The path, still percent-encoded (so that `group%2Fapp` stays one segment).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The path's segments after the leading `/`, each percent-decoded.
    pub fn segments(&self) -> Vec<String> {
        self.path()
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect()
    }

    /// Every value of the query parameter `key`, decoded.
    pub fn query(&self, key: &str) -> Vec<String> {
        self.query_pairs()
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// Every query parameter, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        form_pairs(query)
    }

    /// The media type of the body, without parameters, in lower case.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// `a=1&b=2` decoded into pairs (`+` is a space, as in forms).
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters, for building URLs.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads one request: headers, then a body by `Content-Length` or chunked.
fn read_request(stream: &TcpStream) -> Option<Incoming> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        if headers.len() > 100 {
            return None;
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if length > 1 << 20 {
            return None;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Incoming {
        method,
        target,
        headers,
        body,
    })
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
        if body.len() + size > 1 << 20 {
            return None;
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// What an answer carries after its headers.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    Text(String),
}

/// One answer: status, headers beyond the framing ones, and a body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Answer {
    pub fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Json(value),
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Text(text.to_owned()),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A double's answer to one call, and what authenticated the call: a token's
/// id or an account's name, never a secret.
pub struct Handled {
    pub answer: Answer,
    pub who: Option<String>,
}

impl From<Answer> for Handled {
    fn from(answer: Answer) -> Self {
        Self { answer, who: None }
    }
}

/// A registry's API, as a double plays it.
pub trait Api: Send + Sync + 'static {
    /// Acts on one call; `base` is the double's own URL (`http://127.0.0.1:PORT`).
    fn handle(&self, call: &Incoming, base: &str) -> Handled;
    /// The registry's documented answer to a throttled call.
    fn throttled(&self) -> Answer;
    /// The registry's answer when it fails with `status` (500, 503…).
    fn failure(&self, status: u16) -> Answer;
    /// True for calls to the registry's token service, which are never faulted.
    fn is_registry_call(&self, call: &Incoming) -> bool;
}

/// What a test can make a double do to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (the double's own error body) without acting.
    Status(u16),
    /// Answer with this status and this raw body (sent as JSON) without acting.
    Reply(u16, String),
    /// Wait this long, then act and answer: a slow server.
    Delay(Duration),
    /// Act, then wait this long before answering: a client that gives up
    /// meanwhile has lost an answer to something that happened.
    LateAnswer(Duration),
    /// Act, then close the connection without answering.
    Drop,
    /// Answer with the registry's documented throttled answer, without acting.
    Throttle,
}

/// One call as a double saw it. Never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub method: String,
    /// The path, and the query with secret-looking values masked.
    pub target: String,
    /// What authenticated the call (a token id, an account), if anything did.
    pub who: Option<String>,
    /// The status answered; `None` when the answer was dropped.
    pub status: Option<u16>,
    /// The fault a test ordered for this call, if any.
    pub fault: Option<Fault>,
    /// True for a call to the registry's token service.
    pub registry: bool,
}

impl Event {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

enum When {
    /// The API call with this number (1 = the first the double ever got).
    Call(usize),
    /// The next API call with this method whose path contains this text.
    Matching { method: String, path: String },
}

#[derive(Default)]
struct Control {
    /// API calls so far (registry calls not counted).
    calls: usize,
    plan: Vec<(When, Fault)>,
    /// This many more API calls are throttled.
    throttle: usize,
    /// Every connection waits this long before it is read further.
    delay_all: Duration,
    events: Vec<Event>,
}

impl Control {
    /// Counts one API call and takes the fault planned for it, if any.
    fn take_fault(&mut self, call: &Incoming) -> Option<Fault> {
        self.calls += 1;
        if self.throttle > 0 {
            self.throttle -= 1;
            return Some(Fault::Throttle);
        }
        let number = self.calls;
        let found = self.plan.iter().position(|(when, _)| match when {
            When::Call(n) => *n == number,
            When::Matching { method, path } => {
                call.method.eq_ignore_ascii_case(method) && call.path().contains(path.as_str())
            }
        })?;
        Some(self.plan.remove(found).1)
    }
}

/// A double's HTTP server on `127.0.0.1`, stopped when dropped.
pub struct Server {
    pub url: String,
    port: u16,
    control: Arc<Mutex<Control>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(api: Arc<dyn Api>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let control = Arc::new(Mutex::new(Control::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (control, stop, url) = (control.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (api, control, url) = (api.clone(), control.clone(), url.clone());
                    std::thread::spawn(move || serve(stream, api.as_ref(), &control, &url));
                }
            })
        };
        Self {
            url,
            port,
            control,
            stop,
            thread: Some(thread),
        }
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `n`th API call from now (1: the next one) meets `fault`.
    pub fn fault_call(&self, n: usize, fault: Fault) {
        assert!(n >= 1, "calls are counted from 1");
        let mut control = self.control();
        let at = control.calls + n;
        control.plan.push((When::Call(at), fault));
    }

    /// The next API call with `method` whose path contains `path` meets `fault`.
    pub fn fault_route(&self, method: &str, path: &str, fault: Fault) {
        self.control().plan.push((
            When::Matching {
                method: method.into(),
                path: path.into(),
            },
            fault,
        ));
    }

    /// The next `calls` API calls get the registry's throttled answer.
    pub fn throttle(&self, calls: usize) {
        self.control().throttle = calls;
    }

    /// Forgets every planned fault and throttle.
    pub fn clear_faults(&self) {
        let mut control = self.control();
        control.plan.clear();
        control.throttle = 0;
    }

    /// Every connection, the registry's included, waits this long before it is handled.
    pub fn delay_every_call(&self, by: Duration) {
        self.control().delay_all = by;
    }

    /// How many API calls (registry calls not counted) the double has received.
    pub fn calls(&self) -> usize {
        self.control().calls
    }

    /// Every call so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.control().events.clone()
    }

    /// A raw request: (status, raw head, JSON body or null).
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, Value) {
        request(self.port, method, target, headers, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, api: &dyn Api, control: &Mutex<Control>, url: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(incoming) = read_request(&stream) else {
        return;
    };
    let delay = control.lock().unwrap().delay_all;
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let registry = api.is_registry_call(&incoming);
    let fault = if registry {
        None
    } else {
        control.lock().unwrap().take_fault(&incoming)
    };
    let handled = match &fault {
        None | Some(Fault::Drop) => api.handle(&incoming, url),
        Some(Fault::Status(status)) => api.failure(*status).into(),
        Some(Fault::Reply(status, body)) => {
            let mut answer = Answer::text(*status, body);
            if body.is_empty() {
                answer.body = Body::Empty;
            }
            answer
                .with_header("Content-Type", "application/json")
                .into()
        }
        Some(Fault::Throttle) => api.throttled().into(),
        Some(Fault::Delay(by)) => {
            std::thread::sleep(*by);
            api.handle(&incoming, url)
        }
        Some(Fault::LateAnswer(_)) => api.handle(&incoming, url),
    };
    let dropped = fault == Some(Fault::Drop);
    // Logged once the double has acted, before a late answer is sent.
    control.lock().unwrap().events.push(Event {
        method: incoming.method.clone(),
        target: masked(&incoming.target),
        who: handled.who,
        status: (!dropped).then_some(handled.answer.status),
        fault: fault.clone(),
        registry,
    });
    if let Some(Fault::LateAnswer(by)) = fault {
        std::thread::sleep(by);
    }
    if dropped {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    write_answer(&stream, handled.answer);
}

fn write_answer(mut stream: &TcpStream, answer: Answer) {
    let (bytes, media) = match answer.body {
        Body::Empty => (Vec::new(), None),
        Body::Json(value) => (value.to_string().into_bytes(), Some("application/json")),
        Body::Text(text) => (text.into_bytes(), Some("text/plain; charset=utf-8")),
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        reason(answer.status),
        bytes.len()
    );
    let typed = answer
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if let (Some(media), false) = (media, typed) {
        head.push_str(&format!("Content-Type: {media}\r\n"));
    }
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&bytes);
    let _ = stream.flush();
}

/// The target with secret-looking query values masked.
fn masked(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decode(value);
            let secret = SECRET_KEYS.contains(&percent_decode(key).to_ascii_lowercase().as_str())
                || SECRET_PREFIXES.iter().any(|p| decoded.contains(p));
            if secret {
                format!("{key}=[masked]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Other",
    }
}

/// One HTTP request to `127.0.0.1:port`: (status, raw head, JSON body or
/// null). Status 0 when the server closed the connection without answering.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// `n` random characters of `[A-Za-z0-9_-]`, as the registries' token bodies.
pub fn random_token_body(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    random_bytes(n)
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % 64] as char)
        .collect()
}

/// `n` random alphanumeric characters (`[A-Za-z0-9]`), as GitHub's token bodies.
pub fn random_alphanumeric(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < n {
        for b in random_bytes(n) {
            // Rejection sampling keeps the characters uniform.
            if usize::from(b) < 4 * ALPHABET.len() && out.len() < n {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

pub fn new_uuid() -> String {
    let hex: String = random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
