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
//! Organisation access tokens (`/v2/orgs/{org}/access-tokens`, owners only)
//! live in [`orgs`]; an organisation signs in to the registry and to
//! `/v2/auth/token` with its name and an active OAT.
//!
//! It also plays Hub's registry token service (what `auth.docker.io` is to
//! `registry-1.docker.io`): [`HubDouble::start_registry`] runs Debian's
//! `docker-registry` with token auth pointed here, so the registry accepts
//! exactly the tokens active here, old and new side by side during a
//! rotation, and each pull counts as a use.
//!
//! Tests reach into the state directly: to add accounts, read what Hub holds,
//! flip the switches, or move Hub's clock. The HTTP serving, the faults and
//! the call log are the shared [`Server`]'s.

mod orgs;

// Only the Linux-only test modules name organisation resources.
#[cfg_attr(not(target_os = "linux"), allow(unused_imports))]
pub use orgs::{OatResource, OrgToken};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Registry;
use super::http_double::{
    Answer, Api, Fault, Handled, Incoming, Server, new_uuid, random_token_body, reason, request,
};
use super::registry_auth::{TokenService, credentials};

const SCOPES: [&str; 4] = ["repo:admin", "repo:write", "repo:read", "repo:public_read"];
/// Calls allowed per minute unless a test sets another limit.
const RATE_LIMIT: u32 = 600;
const SECOND_FACTOR_DETAIL: &str = "Require secondary authentication on MFA enabled account";

/// A token as the double holds it.
#[derive(Clone)]
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

impl std::fmt::Debug for HubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubToken")
            .field("uuid", &self.uuid)
            .field("user", &self.user)
            .field("label", &self.label)
            .field("scopes", &self.scopes)
            .field("is_active", &self.is_active)
            .field("created_at", &self.created_at)
            .field("last_used", &self.last_used)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
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
/// The body may hold a password or a token, so it is never shown by `{:?}`.
#[derive(Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// Who a `name:secret` pair is, at the registry or at `/v2/auth/token`.
enum Grant {
    /// A user's password or personal access token, with its scopes.
    User { user: String, scopes: Vec<String> },
    /// An organisation's access token, by its id.
    Org { org: String, id: String },
}

#[derive(Default)]
struct State {
    users: Vec<User>,
    tokens: Vec<HubToken>,
    orgs: Vec<orgs::Org>,
    org_tokens: Vec<OrgToken>,
    /// Repositories `*/*/public` in an OAT's resources covers.
    public_repositories: Vec<String>,
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

    /// Who a `name:secret` pair is: an organisation with an active OAT, or a
    /// user with a password or an active token. A token used this way gets
    /// its last use recorded.
    fn authenticate(&mut self, name: &str, secret: &str) -> Option<Grant> {
        let now = self.now();
        if let Some(org) = self.org(name).map(|o| o.name.clone()) {
            let token = self
                .org_tokens
                .iter_mut()
                .find(|t| t.org == org && t.secret == secret && t.usable(now))?;
            token.last_used_at = Some(now);
            return Some(Grant::Org {
                org,
                id: token.id.clone(),
            });
        }
        let user = self.user(name)?.name.clone();
        if let Some(token) = self
            .tokens
            .iter_mut()
            .find(|t| t.user == user && t.secret == secret && t.usable(now))
        {
            token.last_used = Some(now);
            return Some(Grant::User {
                user,
                scopes: token.scopes.clone(),
            });
        }
        let password_ok = self
            .user(&user)
            .is_some_and(|u| u.password == secret && u.otp.is_none());
        password_ok.then(|| Grant::User {
            user,
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        })
    }
}

pub struct HubDouble {
    pub url: String,
    state: Arc<Mutex<State>>,
    api: Arc<HubApi>,
    server: Server,
}

impl HubDouble {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let api = Arc::new(HubApi {
            state: state.clone(),
            registry: TokenService::new("hub-double", "registry-double"),
        });
        let server = Server::start(api.clone());
        Self {
            url: server.url.clone(),
            state,
            api,
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The HTTP server: faults, throttling and the log of calls.
    pub fn http(&self) -> &Server {
        &self.server
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
            secret: new_secret("dckr_pat_", 27),
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

    /// True when Hub accepts `secret` as an active, unexpired token (personal or organisation).
    pub fn accepts(&self, secret: &str) -> bool {
        let state = self.state();
        let now = state.now();
        state
            .tokens
            .iter()
            .any(|t| t.secret == secret && t.usable(now))
            || state
                .org_tokens
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

    /// The call after the next `skip` gets this status and body (status 0:
    /// forget every planned fault).
    pub fn fail_after(&self, skip: usize, status: u16, body: &str) {
        self.server.clear_faults();
        if status != 0 {
            self.server
                .fault_call(skip + 1, Fault::Reply(status, body.into()));
        }
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
        self.server.delay_every_call(Duration::from_secs(seconds));
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
        self.call(
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
        request(self.server.port(), method, target, headers, body)
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
        self.api
            .registry
            .start_registry(&format!("{}/token", self.url))
    }
}

struct HubApi {
    state: Arc<Mutex<State>>,
    registry: TokenService,
}

impl Api for HubApi {
    fn handle(&self, call: &Incoming, base: &str) -> Handled {
        let mut state = self.state.lock().unwrap();
        if self.is_registry_call(call) {
            return registry_token(&mut state, &self.registry, call);
        }
        state.seen.push(Seen {
            method: call.method.clone(),
            target: call.target.clone(),
            body: String::from_utf8_lossy(&call.body).into_owned(),
        });
        let (limit_headers, limited) = rate_limit(&mut state);
        let mut handled = match limited {
            Some(limited) => limited.into(),
            None => route(&mut state, call, base),
        };
        handled.answer.headers.extend(limit_headers);
        handled
    }

    fn throttled(&self) -> Answer {
        let retry = self.state.lock().unwrap().now() + chrono::Duration::seconds(60);
        detail(429, "Rate limit exceeded")
            .with_header("X-Retry-After", &retry.timestamp().to_string())
    }

    fn failure(&self, status: u16) -> Answer {
        detail(status, reason(status))
    }

    fn is_registry_call(&self, call: &Incoming) -> bool {
        call.path() == "/token"
    }
}

fn new_secret(prefix: &str, length: usize) -> String {
    format!("{prefix}{}", random_token_body(length))
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn detail(status: u16, text: &str) -> Answer {
    Answer::json(status, json!({ "detail": text }))
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
        let limited = detail(429, "Rate limit exceeded")
            .with_header("X-Retry-After", &reset.timestamp().to_string());
        return (headers, Some(limited));
    }
    (headers, None)
}

fn route(state: &mut State, incoming: &Incoming, url: &str) -> Handled {
    let path = incoming.path();
    let method = incoming.method.as_str();
    match (method, path) {
        ("POST", "/v2/users/login") => with_body(incoming, |body| login(state, body)).into(),
        ("POST", "/v2/users/2fa-login") => {
            with_body(incoming, |body| second_factor(state, body)).into()
        }
        ("POST", "/v2/auth/token") => auth_token(state, incoming),
        (_, p) if p.starts_with("/v2/orgs/") => {
            let Some(user) = bearer_user(state, incoming) else {
                return orgs::unauthorized(incoming).into();
            };
            Handled {
                answer: orgs::route(state, &user, incoming, url),
                who: Some(format!("session {user}")),
            }
        }
        (_, "/v2/access-tokens") => {
            let Some(user) = bearer_user(state, incoming) else {
                return unauthorized(incoming).into();
            };
            let answer = match method {
                "GET" => list(state, &user, incoming, url),
                "POST" => with_body(incoming, |body| create(state, &user, body)),
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            };
            Handled {
                answer,
                who: Some(format!("session {user}")),
            }
        }
        (_, p) if p.starts_with("/v2/access-tokens/") => {
            let uuid = &p["/v2/access-tokens/".len()..];
            let Some(user) = bearer_user(state, incoming) else {
                return unauthorized(incoming).into();
            };
            let who = Some(format!("session {user}"));
            let Some(index) = state
                .tokens
                .iter()
                .position(|t| t.uuid == uuid && t.user == user)
            else {
                return Handled {
                    answer: detail(404, "Not found."),
                    who,
                };
            };
            let answer = match method {
                "GET" => Answer::json(200, token_json(&state.tokens[index], false)),
                "PATCH" => with_body(incoming, |body| patch(state, index, body)),
                "DELETE" => {
                    state.tokens.remove(index);
                    Answer::empty(204)
                }
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            };
            Handled { answer, who }
        }
        _ => detail(404, "Not found.").into(),
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
    Answer::json(400, json!({"fields": map, "text": "Invalid request"}))
}

/// The 400 naming the fields of `body` that are not in `allowed`, if any.
fn unknown_fields(body: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), Answer> {
    let unknown: Vec<(&str, &str)> = body
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| (k.as_str(), "Unknown field."))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(invalid(unknown))
    }
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
    Answer::json(200, json!({ "token": token }))
}

fn login(state: &mut State, body: &serde_json::Map<String, Value>) -> Answer {
    if let Err(answer) = unknown_fields(body, &["username", "password"]) {
        return answer;
    }
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
        return Answer::json(
            401,
            json!({"detail": SECOND_FACTOR_DETAIL, "login_2fa_token": challenge}),
        );
    }
    new_session(state, &name)
}

fn second_factor(state: &mut State, body: &serde_json::Map<String, Value>) -> Answer {
    if let Err(answer) = unknown_fields(body, &["login_2fa_token", "code"]) {
        return answer;
    }
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

/// `POST /v2/auth/token`: a user with a password or PAT, or an organisation
/// with an OAT; the documented 401 carries `errinfo`, `detail` and `message`.
fn auth_token(state: &mut State, incoming: &Incoming) -> Handled {
    let mut who = None;
    let answer = with_body(incoming, |body| {
        if let Err(answer) = unknown_fields(body, &["identifier", "secret"]) {
            return answer;
        }
        let fields = match strings(body, &["identifier", "secret"]) {
            Ok(fields) => fields,
            Err(answer) => return answer,
        };
        match state.authenticate(fields[0], fields[1]) {
            Some(grant) => {
                who = Some(match grant {
                    Grant::User { user, .. } => format!("user {user}"),
                    Grant::Org { org, id } => format!("org {org} token {id}"),
                });
                Answer::json(
                    200,
                    json!({"access_token": format!("hubaccess.{}", new_uuid().replace('-', ""))}),
                )
            }
            None => Answer::json(
                401,
                json!({
                    "errinfo": {},
                    "detail": "Incorrect authentication credentials",
                    "message": "Incorrect authentication credentials",
                }),
            ),
        }
    });
    Handled { answer, who }
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

/// `page` and `page_size` of a list call (1 and 10 unless given; at most 100 a page).
fn paging(incoming: &Incoming) -> Result<(usize, usize), Answer> {
    let number = |key: &'static str, default: usize| -> Result<usize, Answer> {
        match incoming.query(key).first() {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(vec![(key, "A valid integer is required.")])),
        }
    };
    let (page, size) = (number("page", 1)?, number("page_size", 10)?);
    if size > 100 {
        return Err(invalid(vec![(
            "page_size",
            "Ensure this value is less than or equal to 100.",
        )]));
    }
    Ok((page, size))
}

fn list(state: &State, user: &str, incoming: &Incoming, url: &str) -> Answer {
    if let Some((key, _)) = incoming
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k != "page" && k != "page_size")
    {
        return invalid(vec![(key.as_str(), "Unknown query parameter.")]);
    }
    let (page, size) = match paging(incoming) {
        Ok(paging) => paging,
        Err(answer) => return answer,
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
    Answer::json(
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

fn create(state: &mut State, user: &str, body: &serde_json::Map<String, Value>) -> Answer {
    if let Err(answer) = unknown_fields(body, &["token_label", "scopes", "expires_at"]) {
        return answer;
    }
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
        secret: new_secret("dckr_pat_", 27),
        is_active: true,
        created_at: now,
        last_used: None,
        expires_at,
    };
    let value = token_json(&token, true);
    state.tokens.push(token);
    Answer::json(201, value)
}

fn patch(state: &mut State, index: usize, body: &serde_json::Map<String, Value>) -> Answer {
    if let Err(answer) = unknown_fields(body, &["token_label", "is_active"]) {
        return answer;
    }
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
    Answer::json(200, token_json(token, false))
}

/// `GET /token`: the registry's token service. Basic auth with a Hub token
/// (or the password of an account without a second factor), or an
/// organisation's name with one of its OATs; each grant is a use.
fn registry_token(state: &mut State, registry: &TokenService, incoming: &Incoming) -> Handled {
    let Some((name, secret)) = credentials(incoming) else {
        return detail(401, "authentication required").into();
    };
    match state.authenticate(&name, &secret) {
        None => detail(401, "incorrect username or password").into(),
        Some(Grant::User { user, scopes }) => {
            let writes = scopes
                .iter()
                .any(|s| s == "repo:write" || s == "repo:admin");
            Handled {
                answer: registry.grant(incoming, &user, |_, action| {
                    action == "pull" || (writes && matches!(action, "push" | "delete"))
                }),
                who: Some(format!("user {user}")),
            }
        }
        Some(Grant::Org { org, id }) => {
            let token = state.org_tokens.iter().find(|t| t.id == id);
            let public = &state.public_repositories;
            Handled {
                answer: registry.grant(incoming, &org, |repository, action| {
                    token.is_some_and(|t| t.allows(repository, action, public))
                }),
                who: Some(format!("org {org} token {id}")),
            }
        }
    }
}
