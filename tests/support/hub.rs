//! A stateful Docker Hub for the tests, since the real one cannot be reached.
//!
//! It follows the documented API (see the Hub API reference notes) strictly:
//! request bodies are validated (required fields, label 1–100 characters, the
//! four scopes, RFC 3339 `expires_at`), accounts with a second factor sign in
//! in two steps, every token call needs a live bearer (401 otherwise), lists
//! are paged at the requested `page_size` with `next` URLs, every answer
//! carries `X-RateLimit-*` headers, and a switch makes it answer 429 with
//! `X-Retry-After`. `POST /v2/auth/token` with a token updates its
//! `last_used`, as Hub does.
//!
//! It also plays Hub's registry token service (what `auth.docker.io` is to
//! `registry-1.docker.io`): [`HubDouble::start_registry`] runs Debian's
//! `docker-registry` with token auth pointed here, so the registry accepts
//! exactly the tokens active here, old and new side by side during a
//! rotation, and each pull counts as a use. (An htpasswd file holds one
//! password per user, so it could not.) Its bearer tokens are RS256 JWTs
//! signed with `openssl`.
//!
//! Tests reach into the state directly: to add accounts, read what Hub holds,
//! flip the switches, or move Hub's clock.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Registry, base64};

const SCOPES: [&str; 4] = ["repo:admin", "repo:write", "repo:read", "repo:public_read"];
/// Calls allowed per minute unless a test sets another limit.
const RATE_LIMIT: u32 = 600;
const SECOND_FACTOR_DETAIL: &str = "Require secondary authentication on MFA enabled account";
/// What the double's registry token service calls itself and its registry.
const ISSUER: &str = "hub-double";
const SERVICE: &str = "registry-double";

/// A token as the double holds it.
#[derive(Debug, Clone)]
pub struct HubToken {
    pub uuid: String,
    pub user: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub secret: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl HubToken {
    fn usable(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.expires_at.is_none_or(|at| at > now)
    }
}

struct User {
    name: String,
    password: String,
    /// The code the second factor expects, when two-factor authentication is on.
    otp: Option<String>,
}

/// One request as the double saw it: method, path with query, and the body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    users: Vec<User>,
    tokens: Vec<HubToken>,
    /// Bearer → (user, expiry).
    sessions: BTreeMap<String, (String, DateTime<Utc>)>,
    /// `login_2fa_token` → (user, expiry).
    challenges: BTreeMap<String, (String, DateTime<Utc>)>,
    rate_limited: bool,
    /// Calls allowed per minute (`RATE_LIMIT` unless set).
    limit: Option<u32>,
    used_in_window: u32,
    window_start: Option<DateTime<Utc>>,
    clock_offset: chrono::Duration,
    /// After this many more calls, one answered with this status and body.
    fail_next: Option<(usize, u16, String)>,
    /// Seconds before a connection is answered, to play a Hub that hangs.
    delay: u64,
    seen: Vec<Seen>,
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    fn user(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// The user a `user:secret` pair authenticates (password, or an active token);
    /// a token used this way gets its `last_used` updated.
    fn authenticate(&mut self, name: &str, secret: &str) -> Option<(String, Vec<String>)> {
        let now = self.now();
        let user = self.user(name)?.name.clone();
        if let Some(token) = self
            .tokens
            .iter_mut()
            .find(|t| t.user == user && t.secret == secret && t.usable(now))
        {
            token.last_used = Some(now);
            return Some((user, token.scopes.clone()));
        }
        let password_ok = self
            .user(&user)
            .is_some_and(|u| u.password == secret && u.otp.is_none());
        password_ok.then(|| (user, SCOPES.iter().map(|s| s.to_string()).collect()))
    }
}

pub struct HubDouble {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
    keys: Arc<Mutex<Option<Signer>>>,
}

impl HubDouble {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let keys: Arc<Mutex<Option<Signer>>> = Arc::new(Mutex::new(None));
        let thread = {
            let (state, stop, keys, url) = (state.clone(), stop.clone(), keys.clone(), url.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, keys, url) = (state.clone(), keys.clone(), url.clone());
                    std::thread::spawn(move || serve(stream, &state, &keys, &url));
                }
            })
        };
        Self {
            url,
            state,
            stop,
            port,
            thread: Some(thread),
            keys,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// An account that signs in with its password alone.
    pub fn add_user(&self, name: &str, password: &str) {
        self.state().users.push(User {
            name: name.into(),
            password: password.into(),
            otp: None,
        });
    }

    /// An account with two-factor authentication: sign-in also needs `code`.
    pub fn add_user_with_second_factor(&self, name: &str, password: &str, code: &str) {
        self.state().users.push(User {
            name: name.into(),
            password: password.into(),
            otp: Some(code.into()),
        });
    }

    /// A token created on Hub's own page, not through the helper; returns (uuid, secret).
    pub fn add_token(&self, user: &str, label: &str, scopes: &[&str]) -> (String, String) {
        let mut state = self.state();
        let token = HubToken {
            uuid: new_uuid(),
            user: user.into(),
            label: label.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            secret: new_secret(),
            is_active: true,
            created_at: state.now(),
            last_used: None,
            expires_at: None,
        };
        let ids = (token.uuid.clone(), token.secret.clone());
        state.tokens.push(token);
        ids
    }

    /// Every token Hub holds, oldest first.
    pub fn tokens(&self) -> Vec<HubToken> {
        self.state().tokens.clone()
    }

    pub fn token(&self, uuid: &str) -> Option<HubToken> {
        self.state().tokens.iter().find(|t| t.uuid == uuid).cloned()
    }

    pub fn token_with_secret(&self, secret: &str) -> Option<HubToken> {
        self.state()
            .tokens
            .iter()
            .find(|t| t.secret == secret)
            .cloned()
    }

    /// True when Hub accepts `secret` as an active, unexpired token.
    pub fn accepts(&self, secret: &str) -> bool {
        let state = self.state();
        let now = state.now();
        state
            .tokens
            .iter()
            .any(|t| t.secret == secret && t.usable(now))
    }

    /// Allows this many calls a minute.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.state().limit = Some(per_minute);
    }

    /// Makes every call answer 429 until switched off.
    pub fn set_rate_limited(&self, on: bool) {
        self.state().rate_limited = on;
    }

    /// The next call (other than the registry's) gets this status and body.
    pub fn fail_next(&self, status: u16, body: &str) {
        self.fail_after(0, status, body);
    }

    /// The call after the next `skip` gets this status and body (status 0: none).
    pub fn fail_after(&self, skip: usize, status: u16, body: &str) {
        self.state().fail_next = (status != 0).then(|| (skip, status, body.into()));
    }

    /// The session tokens Hub has handed out and still accepts.
    pub fn session_tokens(&self) -> Vec<String> {
        self.state().sessions.keys().cloned().collect()
    }

    /// Every session token stops working, as when Hub's JWT expires.
    pub fn expire_sessions(&self) {
        self.state().sessions.clear();
    }

    /// Moves Hub's clock: uses recorded from now on are this much later.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.state().clock_offset += by;
    }

    /// Every connection waits this long before it is answered.
    pub fn set_delay(&self, seconds: u64) {
        self.state().delay = seconds;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// True when some request carried `text` (in its target or body).
    pub fn saw(&self, text: &str) -> bool {
        self.state()
            .seen
            .iter()
            .any(|s| s.target.contains(text) || s.body.contains(text))
    }

    /// Uses a token directly against Hub, as a thief holding a copy would
    /// (`POST /v2/auth/token`); returns the status.
    pub fn use_directly(&self, user: &str, secret: &str) -> u16 {
        let body = json!({"identifier": user, "secret": secret}).to_string();
        request(
            self.port,
            "POST",
            "/v2/auth/token",
            &[("Content-Type", "application/json")],
            &body,
        )
        .0
    }

    /// A raw request to the double, for checking its strictness: (status, headers, body).
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, Value) {
        request(self.port, method, target, headers, body)
    }

    /// Signs `user` in directly and returns the bearer header value.
    pub fn bearer_for(&self, user: &str, password: &str) -> String {
        let body = json!({"username": user, "password": password}).to_string();
        let (status, _, value) = self.call(
            "POST",
            "/v2/users/login",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 200, "{value}");
        format!("Bearer {}", value["token"].as_str().unwrap())
    }

    /// Debian's registry, accepting exactly the tokens active on this Hub
    /// (registry token auth, with this double as the token service).
    pub fn start_registry(&self) -> Registry {
        let mut keys = self.keys.lock().unwrap();
        let signer = keys.get_or_insert_with(Signer::new);
        let auth = format!(
            "auth:\n  token:\n    realm: {}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.url,
            signer.cert.display()
        );
        Registry::start_with_auth(&auth)
    }
}

impl Drop for HubDouble {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The key and self-signed certificate the registry trusts, in a folder of their own.
struct Signer {
    _dir: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    /// The certificate, DER in standard base64, for the JWT's `x5c` header.
    x5c: String,
}

impl Signer {
    fn new() -> Self {
        super::require_tool("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=hub-double", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let der = std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(der.status.success());
        Self {
            x5c: base64(&der.stdout),
            _dir: dir,
            key,
            cert,
        }
    }

    /// An RS256 JWT granting `access`, as the registry's token auth expects.
    fn token(&self, subject: &str, access: Value) -> String {
        let now = Utc::now().timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]});
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": new_uuid(), "access": access,
        });
        let signed = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut openssl = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        openssl
            .stdin
            .take()
            .unwrap()
            .write_all(signed.as_bytes())
            .unwrap();
        let signature = openssl.wait_with_output().unwrap().stdout;
        format!("{signed}.{}", base64url(&signature))
    }
}

fn base64url(bytes: &[u8]) -> String {
    base64(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

fn new_uuid() -> String {
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

fn new_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let body: String = random_bytes(27)
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % 64] as char)
        .collect();
    format!("dckr_pat_{body}")
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One HTTP/1.1 request, as read off the socket.
struct Incoming {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn query(&self, key: &str) -> Vec<String> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }
}

fn percent_decode(text: &str) -> String {
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
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    if length > 1 << 20 {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Incoming {
        method,
        target,
        headers,
        body,
    })
}

/// An answer: status, extra headers, JSON body (`Value::Null` for none).
type Answer = (u16, Vec<(String, String)>, Value);

fn answer(status: u16, body: Value) -> Answer {
    (status, Vec::new(), body)
}

fn detail(status: u16, text: &str) -> Answer {
    answer(status, json!({ "detail": text }))
}

fn serve(stream: TcpStream, state: &Mutex<State>, keys: &Mutex<Option<Signer>>, url: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(incoming) = read_request(&stream) else {
        return;
    };
    let delay = state.lock().unwrap().delay;
    if delay > 0 {
        std::thread::sleep(Duration::from_secs(delay));
    }
    let (status, mut headers, body) = if incoming.path() == "/token" {
        // The registry's token service: no rate limit, no injected failures.
        let mut state = state.lock().unwrap();
        registry_token(&mut state, keys, &incoming)
    } else {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            method: incoming.method.clone(),
            target: incoming.target.clone(),
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
        });
        let (limit_headers, limited) = rate_limit(&mut state);
        let mut answer = if let Some(limited) = limited {
            limited
        } else if let Some((0, status, body)) = state.fail_next.clone() {
            state.fail_next = None;
            (
                status,
                Vec::new(),
                serde_json::from_str(&body).unwrap_or(Value::Null),
            )
        } else {
            if let Some((skip, ..)) = state.fail_next.as_mut() {
                *skip -= 1;
            }
            route(&mut state, &incoming, url)
        };
        answer.1.extend(limit_headers);
        answer
    };
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    headers.push(("Content-Type".into(), "application/json".into()));
    let mut response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        text.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&text);
    let _ = (&stream).write_all(response.as_bytes());
    let _ = (&stream).flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        _ => "Other",
    }
}

/// The `X-RateLimit-*` headers, and a 429 when over the limit or switched on.
fn rate_limit(state: &mut State) -> (Vec<(String, String)>, Option<Answer>) {
    let now = state.now();
    let start = *state.window_start.get_or_insert(now);
    if now - start >= chrono::Duration::seconds(60) {
        state.window_start = Some(now);
        state.used_in_window = 0;
    }
    let reset = state.window_start.unwrap() + chrono::Duration::seconds(60);
    state.used_in_window += 1;
    let limit = state.limit.unwrap_or(RATE_LIMIT);
    let remaining = limit.saturating_sub(state.used_in_window);
    let headers = vec![
        ("X-RateLimit-Limit".to_owned(), limit.to_string()),
        ("X-RateLimit-Remaining".to_owned(), remaining.to_string()),
        (
            "X-RateLimit-Reset".to_owned(),
            reset.timestamp().to_string(),
        ),
    ];
    if state.rate_limited || state.used_in_window > limit {
        let limited = (
            429,
            vec![("X-Retry-After".to_owned(), reset.timestamp().to_string())],
            json!({"detail": "Rate limit exceeded"}),
        );
        return (headers, Some(limited));
    }
    (headers, None)
}

fn route(state: &mut State, incoming: &Incoming, url: &str) -> Answer {
    let path = incoming.path();
    let method = incoming.method.as_str();
    match (method, path) {
        ("POST", "/v2/users/login") => with_body(incoming, |body| login(state, body)),
        ("POST", "/v2/users/2fa-login") => with_body(incoming, |body| second_factor(state, body)),
        ("POST", "/v2/auth/token") => with_body(incoming, |body| auth_token(state, body)),
        (_, "/v2/access-tokens") => {
            let Some(user) = bearer_user(state, incoming) else {
                return unauthorized(incoming);
            };
            match method {
                "GET" => list(state, &user, incoming, url),
                "POST" => with_body(incoming, |body| create(state, &user, body, incoming)),
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            }
        }
        (_, p) if p.starts_with("/v2/access-tokens/") => {
            let uuid = &p["/v2/access-tokens/".len()..];
            let Some(user) = bearer_user(state, incoming) else {
                return unauthorized(incoming);
            };
            let Some(index) = state
                .tokens
                .iter()
                .position(|t| t.uuid == uuid && t.user == user)
            else {
                return detail(404, "Not found.");
            };
            match method {
                "GET" => answer(200, token_json(&state.tokens[index], false)),
                "PATCH" => with_body(incoming, |body| patch(state, index, body)),
                "DELETE" => {
                    state.tokens.remove(index);
                    answer(204, Value::Null)
                }
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            }
        }
        _ => detail(404, "Not found."),
    }
}

/// Parses a JSON object body, as Hub's API requires one.
fn with_body(
    incoming: &Incoming,
    handle: impl FnOnce(&serde_json::Map<String, Value>) -> Answer,
) -> Answer {
    let media = incoming.header("content-type").unwrap_or_default();
    if !media.starts_with("application/json") {
        return detail(
            415,
            &format!("Unsupported media type \"{media}\" in request."),
        );
    }
    match serde_json::from_slice::<Value>(&incoming.body) {
        Ok(Value::Object(body)) => handle(&body),
        _ => detail(400, "JSON parse error"),
    }
}

/// Hub's form error: the fields and what is wrong with each.
fn invalid(fields: Vec<(&str, &str)>) -> Answer {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(field, problem)| (field.to_string(), json!([problem])))
        .collect();
    answer(400, json!({"fields": map, "text": "Invalid request"}))
}

/// The required string fields, or the 400 that names the missing ones.
fn strings<'a>(
    body: &'a serde_json::Map<String, Value>,
    names: &[&'static str],
) -> Result<Vec<&'a str>, Answer> {
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for name in names {
        match body.get(*name).and_then(Value::as_str) {
            Some(value) if !value.is_empty() => found.push(value),
            _ => missing.push((*name, "This field is required.")),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(invalid(missing))
    }
}

fn new_session(state: &mut State, user: &str) -> Answer {
    let token = format!("hubjwt.{}", new_uuid().replace('-', ""));
    let expires = state.now() + chrono::Duration::minutes(30);
    state
        .sessions
        .insert(token.clone(), (user.to_owned(), expires));
    answer(200, json!({ "token": token }))
}

fn login(state: &mut State, body: &serde_json::Map<String, Value>) -> Answer {
    let fields = match strings(body, &["username", "password"]) {
        Ok(fields) => fields,
        Err(answer) => return answer,
    };
    let Some(user) = state.user(fields[0]).filter(|u| u.password == fields[1]) else {
        return detail(401, "Incorrect authentication credentials");
    };
    let name = user.name.clone();
    if user.otp.is_some() {
        let challenge = format!("2fa.{}", new_uuid().replace('-', ""));
        let expires = state.now() + chrono::Duration::minutes(5);
        state.challenges.insert(challenge.clone(), (name, expires));
        return answer(
            401,
            json!({"detail": SECOND_FACTOR_DETAIL, "login_2fa_token": challenge}),
        );
    }
    new_session(state, &name)
}

fn second_factor(state: &mut State, body: &serde_json::Map<String, Value>) -> Answer {
    let fields = match strings(body, &["login_2fa_token", "code"]) {
        Ok(fields) => fields,
        Err(answer) => return answer,
    };
    let now = state.now();
    let Some((user, expires)) = state.challenges.get(fields[0]).cloned() else {
        return detail(401, "Invalid or expired login token");
    };
    let right = state.user(&user).and_then(|u| u.otp.clone()) == Some(fields[1].to_owned());
    if expires < now || !right {
        return detail(401, "Invalid two-factor authentication code");
    }
    state.challenges.remove(fields[0]);
    new_session(state, &user)
}

fn auth_token(state: &mut State, body: &serde_json::Map<String, Value>) -> Answer {
    let fields = match strings(body, &["identifier", "secret"]) {
        Ok(fields) => fields,
        Err(answer) => return answer,
    };
    match state.authenticate(fields[0], fields[1]) {
        Some(_) => answer(
            200,
            json!({"access_token": format!("hubaccess.{}", new_uuid().replace('-', ""))}),
        ),
        None => detail(401, "Incorrect authentication credentials"),
    }
}

fn bearer_user(state: &State, incoming: &Incoming) -> Option<String> {
    let token = incoming.header("authorization")?.strip_prefix("Bearer ")?;
    let (user, expires) = state.sessions.get(token)?;
    (*expires > state.now()).then(|| user.clone())
}

fn unauthorized(incoming: &Incoming) -> Answer {
    if incoming.header("authorization").is_none() {
        detail(401, "Authentication credentials were not provided.")
    } else {
        detail(401, "Given token not valid for any token type")
    }
}

fn token_json(token: &HubToken, with_secret: bool) -> Value {
    json!({
        "uuid": token.uuid,
        "client_id": "HUB",
        "creator_ip": "127.0.0.1",
        "creator_ua": "docker-credential-pat",
        "created_at": time(token.created_at),
        "last_used": token.last_used.map(time),
        "generated_by": "manual",
        "is_active": token.is_active,
        "token": if with_secret { token.secret.as_str() } else { "" },
        "token_label": token.label,
        "scopes": token.scopes,
    })
}

fn list(state: &State, user: &str, incoming: &Incoming, url: &str) -> Answer {
    let number = |key: &str, default: usize| -> Result<usize, Answer> {
        match incoming.query(key).first() {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    invalid(vec![(
                        if key == "page" { "page" } else { "page_size" },
                        "A valid integer is required.",
                    )])
                }),
        }
    };
    let (page, size) = match (number("page", 1), number("page_size", 10)) {
        (Ok(page), Ok(size)) if size <= 100 => (page, size),
        (Ok(_), Ok(_)) => {
            return invalid(vec![(
                "page_size",
                "Ensure this value is less than or equal to 100.",
            )]);
        }
        (Err(answer), _) | (_, Err(answer)) => return answer,
    };
    // Newest first, as Hub's page lists them.
    let mine: Vec<&HubToken> = state
        .tokens
        .iter()
        .rev()
        .filter(|t| t.user == user)
        .collect();
    let pages = mine.len().div_ceil(size).max(1);
    if page > pages {
        return detail(404, "Invalid page.");
    }
    let results: Vec<Value> = mine
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|t| token_json(t, false))
        .collect();
    let link = |p: usize| format!("{url}/v2/access-tokens?page={p}&page_size={size}");
    answer(
        200,
        json!({
            "count": mine.len(),
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "active_count": mine.iter().filter(|t| t.is_active).count(),
            "results": results,
        }),
    )
}

fn check_label(value: Option<&Value>) -> Result<String, &'static str> {
    let label = value
        .and_then(Value::as_str)
        .ok_or("This field is required.")?;
    match label.chars().count() {
        0 => Err("This field may not be blank."),
        1..=100 => Ok(label.to_owned()),
        _ => Err("Ensure this field has no more than 100 characters."),
    }
}

fn create(
    state: &mut State,
    user: &str,
    body: &serde_json::Map<String, Value>,
    _incoming: &Incoming,
) -> Answer {
    let mut problems = Vec::new();
    let label = check_label(body.get("token_label")).map_err(|p| problems.push(("token_label", p)));
    let scopes: Option<Vec<String>> = match body.get("scopes") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| s.as_str().filter(|s| SCOPES.contains(s)).map(str::to_owned))
            .collect(),
        _ => None,
    };
    if scopes.is_none() {
        problems.push((
            "scopes",
            "Give one or more of repo:admin, repo:write, repo:read, repo:public_read.",
        ));
    }
    let now = state.now();
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) if at.with_timezone(&Utc) > now => Some(at.with_timezone(&Utc)),
            Ok(_) => {
                problems.push(("expires_at", "The expiration date must be in the future."));
                None
            }
            Err(_) => {
                problems.push(("expires_at", "Datetime has wrong format. Use RFC 3339."));
                None
            }
        },
        Some(_) => {
            problems.push(("expires_at", "Datetime has wrong format. Use RFC 3339."));
            None
        }
    };
    if !problems.is_empty() {
        return invalid(problems);
    }
    let token = HubToken {
        uuid: new_uuid(),
        user: user.to_owned(),
        label: label.unwrap(),
        scopes: scopes.unwrap(),
        secret: new_secret(),
        is_active: true,
        created_at: now,
        last_used: None,
        expires_at,
    };
    let value = token_json(&token, true);
    state.tokens.push(token);
    answer(201, value)
}

fn patch(state: &mut State, index: usize, body: &serde_json::Map<String, Value>) -> Answer {
    let label = body.get("token_label").map(|v| check_label(Some(v)));
    let active = body
        .get("is_active")
        .map(|v| v.as_bool().ok_or("Must be a valid boolean."));
    if label.is_none() && active.is_none() {
        return invalid(vec![("is_active", "Give token_label or is_active.")]);
    }
    let mut problems = Vec::new();
    if let Some(Err(p)) = &label {
        problems.push(("token_label", *p));
    }
    if let Some(Err(p)) = &active {
        problems.push(("is_active", *p));
    }
    if !problems.is_empty() {
        return invalid(problems);
    }
    let token = &mut state.tokens[index];
    if let Some(Ok(label)) = label {
        token.label = label;
    }
    if let Some(Ok(active)) = active {
        token.is_active = active;
    }
    answer(200, token_json(token, false))
}

/// `GET /token`: the registry's token service. Basic auth with a Hub token
/// (or the password of an account without a second factor); each grant is a use.
fn registry_token(state: &mut State, keys: &Mutex<Option<Signer>>, incoming: &Incoming) -> Answer {
    let credentials = incoming
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| decode_base64(b.trim()))
        .and_then(|b| String::from_utf8(b).ok());
    let Some((name, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return detail(401, "authentication required");
    };
    let Some((user, scopes)) = state.authenticate(name, secret) else {
        return detail(401, "incorrect username or password");
    };
    let writes = scopes
        .iter()
        .any(|s| s == "repo:write" || s == "repo:admin");
    let access: Vec<Value> = incoming
        .query("scope")
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, repository, wanted) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = wanted
                .split(',')
                .filter(|a| *a == "pull" || (writes && matches!(*a, "push" | "delete")))
                .collect();
            Some(json!({"type": kind, "name": repository, "actions": actions}))
        })
        .collect();
    let keys = keys.lock().unwrap();
    let Some(signer) = keys.as_ref() else {
        return detail(404, "no registry here");
    };
    let token = signer.token(&user, Value::Array(access));
    answer(
        200,
        json!({"token": token, "access_token": token, "expires_in": 300, "issued_at": time(Utc::now())}),
    )
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = TABLE.iter().position(|t| *t == byte)? as u32;
        bits = bits << 6 | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

/// One HTTP request to the double on `port`: (status, raw headers, JSON body or null).
fn request(
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
    stream.read_to_string(&mut response).unwrap();
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
