//! A stateful GitLab (REST API v4) for the tests: personal, project and group
//! access tokens, as documented, since no GitLab can be reached.
//!
//! Calls authenticate with `PRIVATE-TOKEN: <token>` or `Authorization:
//! Bearer <token>` (anything else is a 401); GETs need `api` or `read_api`,
//! other calls `api`, self-rotation `api` or `self_rotate`, and `GET`/`DELETE
//! …/self` any scope (403 `insufficient_scope` otherwise). Parameters come
//! from the query and a JSON or form body; a parameter the route does not
//! document is a 400 (GitLab itself ignores them), so is a value of the wrong
//! type. Token objects carry exactly the documented fields; `token` only in
//! create and rotate answers. Every token expires (365 days unless asked,
//! at most `max_lifetime_days`) and dies at midnight UTC of `expires_at`.
//! Lists are offset-paged with GitLab's `Link` and `x-*` headers.
//!
//! Rotation revokes the old token and issues a new one in the same family
//! (same name, description, scopes, user, access level). **Reuse detection**:
//! a rotate call authenticated by an already revoked token revokes every
//! active token of its family (GitLab's `revoke_token_family`, 16.3+), and so
//! does a rotate naming an already revoked token (as the project token docs
//! say; GitLab's own code answers that one 400 only —
//! [`GitlabDouble::set_reuse_on_rotate_target`] turns it off). Each is recorded
//! as a [`ReuseDetection`] a test asserts is absent.
//!
//! It also plays GitLab's registry token service (`/jwt/auth`) for Debian's
//! `docker-registry`: any non-blank user name with an active token carrying
//! `read_registry` (pull), `write_registry` + `read_registry` (push) or `api`;
//! a personal token reaches its user's namespace and the projects and groups
//! the user is a member of (Reporter pulls, Developer pushes), a project or
//! group token its own project or group. Each use sets `last_used_at`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::Registry;
use super::http_double::{
    Answer, Api, Handled, Incoming, Server, form_pairs, percent_encode, random_bytes,
    random_token_body, reason, request,
};
use super::registry_auth::{TokenService, credentials, within};

/// Where the API lives below the double's URL.
pub const API_PATH: &str = "/api/v4";
/// Scopes a personal access token may hold.
const SCOPES: [&str; 17] = [
    "api",
    "read_api",
    "read_user",
    "read_repository",
    "write_repository",
    "read_registry",
    "write_registry",
    "sudo",
    "admin_mode",
    "create_runner",
    "manage_runner",
    "ai_features",
    "k8s_proxy",
    "self_rotate",
    "read_service_ping",
    "read_virtual_registry",
    "write_virtual_registry",
];
/// Scopes a project or group access token may hold.
const BOT_SCOPES: [&str; 11] = [
    "api",
    "read_api",
    "read_repository",
    "write_repository",
    "read_registry",
    "write_registry",
    "create_runner",
    "manage_runner",
    "ai_features",
    "k8s_proxy",
    "self_rotate",
];
/// Guest, Planner, Reporter, Security Manager, Developer, Maintainer, Owner.
const ACCESS_LEVELS: [u8; 7] = [10, 15, 20, 25, 30, 40, 50];
const MAINTAINER: u8 = 40;
const OWNER: u8 = 50;
const FILTERS: [&str; 10] = [
    "revoked",
    "state",
    "created_before",
    "created_after",
    "last_used_before",
    "last_used_after",
    "expires_before",
    "expires_after",
    "search",
    "sort",
];
const SORTS: [&str; 10] = [
    "created_asc",
    "created_desc",
    "expires_asc",
    "expires_desc",
    "last_used_asc",
    "last_used_desc",
    "name_asc",
    "name_desc",
    "id_asc",
    "id_desc",
];
/// Above this many records GitLab leaves out `x-total`, `x-total-pages` and `rel="last"`.
const COUNT_LIMIT: usize = 10_000;
const RATE_LIMIT: u32 = 2000;

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Personal,
    Project(u64),
    Group(u64),
}

/// A token as the double holds it.
#[derive(Clone)]
pub struct GitlabToken {
    pub id: u64,
    pub owner: Owner,
    /// The user, or the project's or group's bot user.
    pub user_id: u64,
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ips: Vec<String>,
    pub expires_at: Option<NaiveDate>,
    /// Project and group tokens only.
    pub access_level: Option<u8>,
    /// The token this one was rotated from.
    pub previous_id: Option<u64>,
    pub secret: String,
}

impl std::fmt::Debug for GitlabToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabToken")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("revoked", &self.revoked)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .field("access_level", &self.access_level)
            .field("previous_id", &self.previous_id)
            .finish_non_exhaustive()
    }
}

impl GitlabToken {
    /// Not revoked and not expired on `today` (a token dies at midnight UTC of `expires_at`).
    pub fn active(&self, today: NaiveDate) -> bool {
        !self.revoked && self.expires_at.is_none_or(|at| today < at)
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// GitLab's reuse detection fired: a rotate call presented (or named) an
/// already revoked token, and every active token of its family was revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct ReuseDetection {
    /// The revoked token that was presented or named.
    pub presented: u64,
    /// The path of the rotate call.
    pub path: String,
    /// The tokens this revoked.
    pub revoked: Vec<u64>,
}

struct User {
    id: u64,
    username: String,
    admin: bool,
    bot: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Project,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Project => "project",
            Kind::Group => "group",
        }
    }

    /// The role that manages this kind's access tokens.
    fn manager(self) -> u8 {
        match self {
            Kind::Project => MAINTAINER,
            Kind::Group => OWNER,
        }
    }

    fn owner(self, id: u64) -> Owner {
        match self {
            Kind::Project => Owner::Project(id),
            Kind::Group => Owner::Group(id),
        }
    }
}

struct Namespace {
    id: u64,
    kind: Kind,
    path: String,
    /// User id → access level.
    members: BTreeMap<u64, u8>,
}

struct State {
    users: Vec<User>,
    namespaces: Vec<Namespace>,
    tokens: Vec<GitlabToken>,
    next_user: u64,
    next_namespace: u64,
    next_token: u64,
    clock_offset: chrono::Duration,
    expiry_required: bool,
    max_lifetime_days: i64,
    /// `last_used_at` moves only when older than this (GitLab: a day; here none unless set).
    last_used_interval: chrono::Duration,
    reuse_on_target: bool,
    reuse: Vec<ReuseDetection>,
    retry_after: u64,
    used_in_window: u32,
    window_start: Option<DateTime<Utc>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            namespaces: Vec::new(),
            tokens: Vec::new(),
            next_user: 1,
            next_namespace: 1,
            next_token: 1,
            clock_offset: chrono::Duration::zero(),
            expiry_required: true,
            max_lifetime_days: 365,
            last_used_interval: chrono::Duration::zero(),
            reuse_on_target: true,
            reuse: Vec::new(),
            retry_after: 1,
            used_in_window: 0,
            window_start: None,
        }
    }
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn token_index(&self, id: u64) -> Option<usize> {
        self.tokens.iter().position(|t| t.id == id)
    }

    fn new_user(&mut self, username: &str, admin: bool, bot: bool) -> u64 {
        let id = self.next_user;
        self.next_user += 1;
        self.users.push(User {
            id,
            username: username.into(),
            admin,
            bot,
        });
        id
    }

    fn new_namespace(&mut self, kind: Kind, path: &str, members: &[(u64, u8)]) -> u64 {
        let id = self.next_namespace;
        self.next_namespace += 1;
        self.namespaces.push(Namespace {
            id,
            kind,
            path: path.into(),
            members: members.iter().copied().collect(),
        });
        id
    }

    fn namespace(&self, kind: Kind, id: u64) -> Option<&Namespace> {
        self.namespaces
            .iter()
            .find(|n| n.kind == kind && n.id == id)
    }

    /// `user`'s role in a project or group: direct, or inherited from a group above it.
    fn role(&self, user: u64, kind: Kind, id: u64) -> Option<u8> {
        let target = self.namespace(kind, id)?;
        self.namespaces
            .iter()
            .filter(|n| {
                n.id == target.id && n.kind == kind
                    || n.kind == Kind::Group && within(&target.path, &n.path)
            })
            .filter_map(|n| n.members.get(&user).copied())
            .max()
    }

    /// A new token; returns its index.
    fn new_token(
        &mut self,
        owner: Owner,
        user_id: u64,
        spec: Spec,
        previous_id: Option<u64>,
    ) -> usize {
        let id = self.next_token;
        self.next_token += 1;
        let created_at = self.now();
        self.tokens.push(GitlabToken {
            id,
            owner,
            user_id,
            name: spec.name,
            description: spec.description,
            scopes: spec.scopes,
            revoked: false,
            created_at,
            last_used_at: None,
            last_used_ips: Vec::new(),
            expires_at: spec.expires_at,
            access_level: spec.access_level,
            previous_id,
            secret: format!("glpat-{}", random_token_body(20)),
        });
        self.tokens.len() - 1
    }

    /// A new project or group token with its own bot user; returns its index.
    fn new_bot_token(&mut self, kind: Kind, id: u64, spec: Spec) -> usize {
        let suffix: String = random_bytes(2).iter().map(|b| format!("{b:02x}")).collect();
        let bot = self.new_user(&format!("{}_{id}_bot_{suffix}", kind.word()), false, true);
        let level = spec.access_level.unwrap_or(MAINTAINER);
        if let Some(namespace) = self
            .namespaces
            .iter_mut()
            .find(|n| n.kind == kind && n.id == id)
        {
            namespace.members.insert(bot, level);
        }
        self.new_token(kind.owner(id), bot, spec, None)
    }

    /// Every token of `id`'s family (rotations chain tokens), oldest first.
    fn family(&self, id: u64) -> Vec<u64> {
        let root = |mut id: u64| {
            while let Some(previous) = self
                .token_index(id)
                .and_then(|i| self.tokens[i].previous_id)
            {
                id = previous;
            }
            id
        };
        let family = root(id);
        self.tokens
            .iter()
            .filter(|t| root(t.id) == family)
            .map(|t| t.id)
            .collect()
    }

    /// Reuse detection: revokes every active token of `presented`'s family.
    fn revoke_family(&mut self, presented: u64, path: &str) {
        let today = self.today();
        let mut revoked = Vec::new();
        for id in self.family(presented) {
            let index = self.token_index(id).unwrap();
            if self.tokens[index].active(today) {
                self.tokens[index].revoked = true;
                revoked.push(id);
            }
        }
        self.reuse.push(ReuseDetection {
            presented,
            path: path.into(),
            revoked,
        });
    }

    /// Records a use of the token at `index` (GitLab moves `last_used_at`
    /// only when it is older than its interval).
    fn record_use(&mut self, index: usize, ip: &str) {
        let now = self.now();
        let interval = self.last_used_interval;
        let token = &mut self.tokens[index];
        if token.last_used_at.is_none_or(|at| at <= now - interval) {
            token.last_used_at = Some(now);
        }
        token.last_used_ips.retain(|i| i != ip);
        token.last_used_ips.insert(0, ip.into());
        token.last_used_ips.truncate(5);
    }

    /// The expiry asked for, checked against today and the maximum lifetime.
    fn check_expiry(&self, asked: NaiveDate) -> Result<NaiveDate, Answer> {
        let latest = self.today() + chrono::Duration::days(self.max_lifetime_days);
        if asked <= self.today() {
            Err(bad_request(Some("Expiration date must be in the future")))
        } else if asked > latest {
            Err(bad_request(Some(&format!(
                "Expiration date must be before {}",
                latest + chrono::Duration::days(1)
            ))))
        } else {
            Ok(asked)
        }
    }
}

pub struct GitlabDouble {
    pub url: String,
    state: Arc<Mutex<State>>,
    api: Arc<GitlabApi>,
    server: Server,
}

impl GitlabDouble {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let api = Arc::new(GitlabApi {
            state: state.clone(),
            registry: TokenService::new("gitlab-double", "container_registry"),
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

    /// `http://127.0.0.1:PORT/api/v4`, what a client is configured with.
    pub fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.url)
    }

    /// The HTTP server: faults, throttling and the log of calls.
    pub fn http(&self) -> &Server {
        &self.server
    }

    /// A user; returns its id.
    pub fn add_user(&self, username: &str) -> u64 {
        self.state().new_user(username, false, false)
    }

    /// An administrator (sees every token; told 404 rather than 401).
    pub fn add_admin(&self, username: &str) -> u64 {
        self.state().new_user(username, true, false)
    }

    /// A group at `path` with (user id, access level) members; returns its id.
    pub fn add_group(&self, path: &str, members: &[(u64, u8)]) -> u64 {
        self.state().new_namespace(Kind::Group, path, members)
    }

    /// A project at `path` (`group/name`) with (user id, access level)
    /// members; members of groups above it are members too. Returns its id.
    pub fn add_project(&self, path: &str, members: &[(u64, u8)]) -> u64 {
        self.state().new_namespace(Kind::Project, path, members)
    }

    /// A personal access token made in GitLab's UI, expiring in 365 days;
    /// returns (id, secret).
    pub fn add_personal_token(&self, user: u64, name: &str, scopes: &[&str]) -> (u64, String) {
        let mut state = self.state();
        let expires = state.today() + chrono::Duration::days(365);
        let spec = Spec::new(name, scopes, Some(expires), None);
        let index = state.new_token(Owner::Personal, user, spec, None);
        (state.tokens[index].id, state.tokens[index].secret.clone())
    }

    /// A project access token made in GitLab's UI, expiring in 365 days.
    pub fn add_project_token(
        &self,
        project: u64,
        name: &str,
        scopes: &[&str],
        access_level: u8,
    ) -> (u64, String) {
        self.add_bot_token(Kind::Project, project, name, scopes, access_level)
    }

    /// A group access token made in GitLab's UI, expiring in 365 days.
    pub fn add_group_token(
        &self,
        group: u64,
        name: &str,
        scopes: &[&str],
        access_level: u8,
    ) -> (u64, String) {
        self.add_bot_token(Kind::Group, group, name, scopes, access_level)
    }

    fn add_bot_token(
        &self,
        kind: Kind,
        id: u64,
        name: &str,
        scopes: &[&str],
        access_level: u8,
    ) -> (u64, String) {
        let mut state = self.state();
        assert!(
            state.namespace(kind, id).is_some(),
            "no such {}",
            kind.word()
        );
        let expires = state.today() + chrono::Duration::days(365);
        let spec = Spec::new(name, scopes, Some(expires), Some(access_level));
        let index = state.new_bot_token(kind, id, spec);
        (state.tokens[index].id, state.tokens[index].secret.clone())
    }

    fn with_token<T>(&self, id: u64, change: impl FnOnce(&mut GitlabToken) -> T) -> T {
        let mut state = self.state();
        let token = state
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .expect("no such GitLab token");
        change(token)
    }

    pub fn set_expires_at(&self, id: u64, expires_at: Option<NaiveDate>) {
        self.with_token(id, |t| t.expires_at = expires_at);
    }

    /// A use made somewhere else, at `at`, from `ip`.
    pub fn set_last_used(&self, id: u64, at: DateTime<Utc>, ip: &str) {
        self.with_token(id, |t| {
            t.last_used_at = Some(at);
            t.last_used_ips.retain(|i| i != ip);
            t.last_used_ips.insert(0, ip.into());
            t.last_used_ips.truncate(5);
        });
    }

    /// Revoked in GitLab's UI.
    pub fn revoke(&self, id: u64) {
        self.with_token(id, |t| t.revoked = true);
    }

    /// Rotated somewhere else (GitLab's UI, another machine); returns the new (id, secret).
    pub fn rotate_directly(&self, id: u64) -> (u64, String) {
        let mut state = self.state();
        let index = state.token_index(id).expect("no such GitLab token");
        let default = state.today() + chrono::Duration::days(7);
        let new = rotate_at(&mut state, index, Some(default));
        (state.tokens[new].id, state.tokens[new].secret.clone())
    }

    pub fn token(&self, id: u64) -> Option<GitlabToken> {
        self.state().tokens.iter().find(|t| t.id == id).cloned()
    }

    pub fn token_with_secret(&self, secret: &str) -> Option<GitlabToken> {
        self.state()
            .tokens
            .iter()
            .find(|t| t.secret == secret)
            .cloned()
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Vec<GitlabToken> {
        self.state().tokens.clone()
    }

    /// The ids of `id`'s family (itself, what it was rotated from and into), oldest first.
    pub fn family(&self, id: u64) -> Vec<u64> {
        self.state().family(id)
    }

    /// True when GitLab accepts `secret` now: not revoked, not expired.
    pub fn accepts(&self, secret: &str) -> bool {
        let state = self.state();
        let today = state.today();
        state
            .tokens
            .iter()
            .any(|t| t.secret == secret && t.active(today))
    }

    /// Every time reuse detection fired; a correct client leaves this empty.
    pub fn reuse_detections(&self) -> Vec<ReuseDetection> {
        self.state().reuse.clone()
    }

    /// The next `calls` API calls get 429 with `Retry-After: retry_after` seconds.
    pub fn throttle(&self, calls: usize, retry_after: u64) {
        self.state().retry_after = retry_after;
        self.server.throttle(calls);
    }

    /// Moves GitLab's clock (expiry, `last_used_at`, `created_at`).
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.state().clock_offset += by;
    }

    /// Today in UTC on GitLab's clock.
    pub fn today(&self) -> NaiveDate {
        self.state().today()
    }

    /// Whether the instance requires token expiry (default true, as gitlab.com):
    /// when it does not, a rotated token without `expires_at` never expires.
    pub fn set_expiry_required(&self, required: bool) {
        self.state().expiry_required = required;
    }

    /// The longest lifetime a new token may ask for (365 days; 400 with GitLab's flag).
    pub fn set_max_lifetime_days(&self, days: i64) {
        self.state().max_lifetime_days = days;
    }

    /// `last_used_at` moves only when older than this (GitLab's own debounce; none by default).
    pub fn set_last_used_interval(&self, interval: chrono::Duration) {
        self.state().last_used_interval = interval;
    }

    /// Whether a rotate naming an already revoked token also revokes its
    /// family (default true, as the docs say; false as GitLab's code does).
    pub fn set_reuse_on_rotate_target(&self, on: bool) {
        self.state().reuse_on_target = on;
    }

    /// A raw request: (status, raw head, JSON body or null).
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, Value) {
        request(self.server.port(), method, target, headers, body)
    }

    /// Debian's registry, accepting exactly the tokens GitLab accepts for it.
    pub fn start_registry(&self) -> Registry {
        self.api
            .registry
            .start_registry(&format!("{}/jwt/auth", self.url))
    }
}

/// What a new token is made of, whoever makes it.
struct Spec {
    name: String,
    description: String,
    scopes: Vec<String>,
    expires_at: Option<NaiveDate>,
    access_level: Option<u8>,
}

impl Spec {
    fn new(
        name: &str,
        scopes: &[&str],
        expires_at: Option<NaiveDate>,
        access_level: Option<u8>,
    ) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at,
            access_level,
        }
    }
}

struct GitlabApi {
    state: Arc<Mutex<State>>,
    registry: TokenService,
}

impl Api for GitlabApi {
    fn handle(&self, call: &Incoming, base: &str) -> Handled {
        let mut state = self.state.lock().unwrap();
        if self.is_registry_call(call) {
            return registry_token(&mut state, &self.registry, call);
        }
        let mut who = None;
        let mut answer = route(&mut state, call, base, &mut who);
        answer.headers.extend(rate_limit_headers(&mut state));
        Handled { answer, who }
    }

    fn throttled(&self) -> Answer {
        let state = self.state.lock().unwrap();
        let reset = state.now() + chrono::Duration::seconds(state.retry_after as i64);
        Answer::text(429, "Retry later\n")
            .with_header("Retry-After", &state.retry_after.to_string())
            .with_header("RateLimit-Name", "throttle_authenticated_api")
            .with_header("RateLimit-Limit", &RATE_LIMIT.to_string())
            .with_header("RateLimit-Observed", &(RATE_LIMIT + 1).to_string())
            .with_header("RateLimit-Remaining", "0")
            .with_header("RateLimit-Reset", &reset.timestamp().to_string())
            .with_header(
                "RateLimit-ResetTime",
                &reset.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )
    }

    fn failure(&self, status: u16) -> Answer {
        Answer::json(
            status,
            json!({"message": format!("{status} {}", reason(status))}),
        )
    }

    fn is_registry_call(&self, call: &Incoming) -> bool {
        call.path() == "/jwt/auth"
    }
}

fn rate_limit_headers(state: &mut State) -> Vec<(String, String)> {
    let now = state.now();
    let start = *state.window_start.get_or_insert(now);
    if now - start >= chrono::Duration::seconds(60) {
        state.window_start = Some(now);
        state.used_in_window = 0;
    }
    state.used_in_window += 1;
    let reset = state.window_start.unwrap() + chrono::Duration::seconds(60);
    [
        ("RateLimit-Name", "throttle_authenticated_api".to_owned()),
        ("RateLimit-Limit", RATE_LIMIT.to_string()),
        ("RateLimit-Observed", state.used_in_window.to_string()),
        (
            "RateLimit-Remaining",
            RATE_LIMIT.saturating_sub(state.used_in_window).to_string(),
        ),
        ("RateLimit-Reset", reset.timestamp().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn message(status: u16, text: &str) -> Answer {
    Answer::json(status, json!({ "message": text }))
}

fn unauthorized() -> Answer {
    message(401, "401 Unauthorized")
}

fn not_found(what: &str) -> Answer {
    message(404, &format!("404 {what} Not Found"))
}

fn not_found_plain() -> Answer {
    message(404, "404 Not Found")
}

fn bad_request(reason: Option<&str>) -> Answer {
    match reason {
        Some(reason) => message(400, &format!("400 Bad request - {reason}")),
        None => message(400, "400 Bad request"),
    }
}

/// Grape's answer to a parameter it cannot take.
fn param_error(text: &str) -> Answer {
    Answer::json(400, json!({ "error": text }))
}

fn insufficient_scope(scopes: &str) -> Answer {
    Answer::json(
        403,
        json!({
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": scopes,
        }),
    )
}

/// The token the call authenticates with, as an index; a rotate call
/// presenting a revoked token sets off reuse detection.
fn authenticate(
    state: &mut State,
    call: &Incoming,
    who: &mut Option<String>,
) -> Result<usize, Answer> {
    let secret = match (call.header("private-token"), call.header("authorization")) {
        (Some(token), _) => token,
        (None, Some(authorization)) => authorization
            .strip_prefix("Bearer ")
            .ok_or_else(unauthorized)?,
        (None, None) => return Err(unauthorized()),
    };
    let index = state
        .tokens
        .iter()
        .position(|t| t.secret == secret.trim())
        .ok_or_else(unauthorized)?;
    let token = &state.tokens[index];
    *who = Some(format!("token {} ({})", token.id, token.name));
    if token.revoked {
        if is_rotation(call) {
            let id = token.id;
            state.revoke_family(id, call.path());
        }
        return Err(unauthorized());
    }
    if !token.active(state.today()) {
        return Err(unauthorized());
    }
    state.record_use(index, "127.0.0.1");
    Ok(index)
}

/// GitLab's `access_tokens/(\d+|self)/rotate$`.
fn is_rotation(call: &Incoming) -> bool {
    let segments = call.segments();
    match segments.as_slice() {
        [.., kind, id, last] => {
            last == "rotate"
                && kind.ends_with("access_tokens")
                && (id == "self" || (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())))
        }
        _ => false,
    }
}

/// The call's parameters from its query and its JSON or form body; a name
/// not in `allowed` is refused. Form arrays are `name[]=…`.
fn params(call: &Incoming, allowed: &[&str]) -> Result<Map<String, Value>, Answer> {
    let mut found = Map::new();
    let mut add = |key: String, value: Value| {
        if let Some(array) = key.strip_suffix("[]") {
            let entry = found
                .entry(array.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(value);
            }
        } else {
            found.insert(key, value);
        }
    };
    for (key, value) in call.query_pairs() {
        add(key, Value::String(value));
    }
    if !call.body.is_empty() {
        match call.media_type().as_deref() {
            Some("application/json") => match serde_json::from_slice::<Value>(&call.body) {
                Ok(Value::Object(body)) => body.into_iter().for_each(|(k, v)| add(k, v)),
                _ => return Err(message(400, "400 Bad request - Malformed JSON")),
            },
            Some("application/x-www-form-urlencoded") => {
                let text = String::from_utf8_lossy(&call.body).into_owned();
                for (key, value) in form_pairs(&text) {
                    add(key, Value::String(value));
                }
            }
            _ => return Err(message(415, "415 Unsupported Media Type")),
        }
    }
    if let Some(unknown) = found.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(param_error(&format!("{unknown} is not a known parameter")));
    }
    Ok(found)
}

fn invalid(name: &str) -> Answer {
    param_error(&format!("{name} is invalid"))
}

fn get_string(params: &Map<String, Value>, name: &str) -> Result<Option<String>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(name)),
    }
}

fn get_date(params: &Map<String, Value>, name: &str) -> Result<Option<NaiveDate>, Answer> {
    get_string(params, name)?
        .map(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| invalid(name)))
        .transpose()
}

fn get_datetime(params: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, Answer> {
    get_string(params, name)?
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S").map(|at| at.and_utc())
                })
                .or_else(|_| {
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
                })
                .map_err(|_| invalid(name))
        })
        .transpose()
}

fn get_bool(params: &Map<String, Value>, name: &str) -> Result<Option<bool>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(invalid(name)),
    }
}

fn get_int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(name)),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| invalid(name)),
        Some(_) => Err(invalid(name)),
    }
}

fn get_strings(params: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| invalid(name)))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(invalid(name)),
    }
}

fn token_json(token: &GitlabToken, with_secret: bool, today: NaiveDate) -> Value {
    let mut value = json!({
        "id": token.id,
        "name": token.name,
        "revoked": token.revoked,
        "created_at": time(token.created_at),
        "description": token.description,
        "scopes": token.scopes,
        "user_id": token.user_id,
        "last_used_at": token.last_used_at.map(time),
        "active": token.active(today),
        "expires_at": token.expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
        "last_used_ips": token.last_used_ips,
    });
    if let Some(level) = token.access_level {
        value["access_level"] = json!(level);
    }
    if with_secret {
        value["token"] = json!(token.secret);
    }
    value
}

/// The API's routes, below `/api/v4`.
fn route(state: &mut State, call: &Incoming, base: &str, who: &mut Option<String>) -> Answer {
    let segments = call.segments();
    let Some(rest) = segments.strip_prefix(&["api".to_owned(), "v4".to_owned()]) else {
        return Answer::json(404, json!({"error": "404 Not Found"}));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let method = call.method.as_str();
    let known = matches!(
        rest.as_slice(),
        ["personal_access_tokens", ..] | ["projects" | "groups", _, "access_tokens", ..]
    );
    if !known {
        return Answer::json(404, json!({"error": "404 Not Found"}));
    }
    let caller = match authenticate(state, call, who) {
        Ok(index) => index,
        Err(answer) => return answer,
    };
    let token = &state.tokens[caller];
    let self_route = matches!(
        (method, rest.as_slice()),
        ("GET" | "DELETE", ["personal_access_tokens", "self"])
    );
    let self_rotation = matches!(rest.as_slice(), [.., "self", "rotate"]) && method == "POST";
    if self_rotation {
        if !(token.has("api") || token.has("self_rotate")) {
            return insufficient_scope("api self_rotate");
        }
    } else if !self_route {
        let reads = method == "GET" && token.has("read_api");
        if !(token.has("api") || reads) {
            return insufficient_scope(if method == "GET" {
                "api read_api"
            } else {
                "api"
            });
        }
    }
    match (method, rest.as_slice()) {
        ("GET", ["personal_access_tokens"]) => list_personal(state, caller, call, base),
        ("GET", ["personal_access_tokens", "self"]) => no_params(call)
            .map(|()| Answer::json(200, token_json(&state.tokens[caller], false, state.today())))
            .unwrap_or_else(|a| a),
        ("GET", ["personal_access_tokens", id]) => get_personal(state, caller, call, id),
        ("POST", ["personal_access_tokens", "self", "rotate"]) => {
            rotate(state, call, caller, caller)
        }
        ("POST", ["personal_access_tokens", id, "rotate"]) => {
            rotate_personal(state, call, caller, id)
        }
        ("DELETE", ["personal_access_tokens", "self"]) => match no_params(call) {
            Ok(()) => {
                state.tokens[caller].revoked = true;
                Answer::empty(204)
            }
            Err(answer) => answer,
        },
        ("DELETE", ["personal_access_tokens", id]) => revoke_personal(state, caller, call, id),
        (
            _,
            [
                kind @ ("projects" | "groups"),
                id,
                "access_tokens",
                tail @ ..,
            ],
        ) => {
            let kind = if *kind == "projects" {
                Kind::Project
            } else {
                Kind::Group
            };
            resource_route(state, call, base, caller, kind, id, tail)
        }
        _ => Answer::json(405, json!({"error": "405 Not Allowed"})),
    }
}

fn no_params(call: &Incoming) -> Result<(), Answer> {
    params(call, &[]).map(|_| ())
}

fn token_id(text: &str) -> Result<u64, Answer> {
    text.parse().map_err(|_| invalid("id"))
}

/// The page `page` of `items` with GitLab's offset-pagination headers.
fn paginate(call: &Incoming, params: &Map<String, Value>, base: &str, items: Vec<Value>) -> Answer {
    let page = match get_int(params, "page") {
        Ok(page) => page.unwrap_or(1).max(1) as usize,
        Err(answer) => return answer,
    };
    let per_page = match get_int(params, "per_page") {
        Ok(per_page) => per_page.unwrap_or(20).clamp(1, 100) as usize,
        Err(answer) => return answer,
    };
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let others: Vec<(String, String)> = call
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .collect();
    let link = |p: usize| {
        let mut query: Vec<String> = others
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        query.push(format!("page={p}"));
        query.push(format!("per_page={per_page}"));
        format!("{base}{}?{}", call.path(), query.join("&"))
    };
    let counted = total <= COUNT_LIMIT;
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
    }
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", link(1)));
    if counted {
        links.push(format!("<{}>; rel=\"last\"", link(pages)));
    }
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let mut answer = Answer::json(200, Value::Array(shown))
        .with_header("Link", &links.join(", "))
        .with_header("x-next-page", &next)
        .with_header("x-page", &page.to_string())
        .with_header("x-per-page", &per_page.to_string())
        .with_header("x-prev-page", &prev);
    if counted {
        answer = answer
            .with_header("x-total", &total.to_string())
            .with_header("x-total-pages", &pages.to_string());
    }
    answer
}

/// The documented list filters and `sort`, applied to `tokens`.
fn filtered<'a>(
    state: &State,
    params: &Map<String, Value>,
    mut tokens: Vec<&'a GitlabToken>,
) -> Result<Vec<&'a GitlabToken>, Answer> {
    let today = state.today();
    if let Some(revoked) = get_bool(params, "revoked")? {
        tokens.retain(|t| t.revoked == revoked);
    }
    match get_string(params, "state")?.as_deref() {
        None => {}
        Some("active") => tokens.retain(|t| t.active(today)),
        Some("inactive") => tokens.retain(|t| !t.active(today)),
        Some(_) => return Err(param_error("state does not have a valid value")),
    }
    if let Some(at) = get_datetime(params, "created_before")? {
        tokens.retain(|t| t.created_at < at);
    }
    if let Some(at) = get_datetime(params, "created_after")? {
        tokens.retain(|t| t.created_at > at);
    }
    if let Some(at) = get_datetime(params, "last_used_before")? {
        tokens.retain(|t| t.last_used_at.is_some_and(|used| used < at));
    }
    if let Some(at) = get_datetime(params, "last_used_after")? {
        tokens.retain(|t| t.last_used_at.is_some_and(|used| used > at));
    }
    if let Some(date) = get_date(params, "expires_before")? {
        tokens.retain(|t| t.expires_at.is_some_and(|at| at < date));
    }
    if let Some(date) = get_date(params, "expires_after")? {
        tokens.retain(|t| t.expires_at.is_some_and(|at| at > date));
    }
    if let Some(search) = get_string(params, "search")? {
        let search = search.to_lowercase();
        tokens.retain(|t| t.name.to_lowercase().contains(&search));
    }
    let sort = get_string(params, "sort")?.unwrap_or_else(|| "id_asc".into());
    if !SORTS.contains(&sort.as_str()) {
        return Err(param_error("sort does not have a valid value"));
    }
    let (field, descending) = sort.rsplit_once('_').unwrap();
    let descending = descending == "desc";
    tokens.sort_by(|a, b| {
        let order = match field {
            "created" => a.created_at.cmp(&b.created_at),
            "name" => a.name.cmp(&b.name),
            // Tokens never used or never expiring come last either way.
            "expires" => return optional_order(a.expires_at, b.expires_at, descending),
            "last_used" => return optional_order(a.last_used_at, b.last_used_at, descending),
            _ => a.id.cmp(&b.id),
        }
        .then(a.id.cmp(&b.id));
        if descending { order.reverse() } else { order }
    });
    Ok(tokens)
}

fn optional_order<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

fn list_personal(state: &State, caller: usize, call: &Incoming, base: &str) -> Answer {
    let mut allowed = FILTERS.to_vec();
    allowed.extend(["user_id", "page", "per_page"]);
    let params = match params(call, &allowed) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let user = match get_int(&params, "user_id") {
        Err(answer) => return answer,
        Ok(None) if admin => None,
        Ok(None) => Some(me),
        Ok(Some(id)) if id as u64 == me => Some(me),
        Ok(Some(id)) if admin => match state.user(id as u64) {
            Some(user) => Some(user.id),
            None => return not_found("User"),
        },
        Ok(Some(_)) => return unauthorized(),
    };
    let tokens: Vec<&GitlabToken> = state
        .tokens
        .iter()
        .filter(|t| user.is_none_or(|u| t.user_id == u))
        .collect();
    match filtered(state, &params, tokens) {
        Ok(tokens) => {
            let today = state.today();
            let items = tokens.iter().map(|t| token_json(t, false, today)).collect();
            paginate(call, &params, base, items)
        }
        Err(answer) => answer,
    }
}

/// The personal token `id` if the caller may see it: its own, or any for an
/// admin; otherwise 401 (404 for an admin when it does not exist).
fn visible_personal(state: &State, caller: usize, id: &str) -> Result<usize, Answer> {
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let id = token_id(id)?;
    match state.token_index(id) {
        Some(index) if admin || state.tokens[index].user_id == me => Ok(index),
        None if admin => Err(not_found_plain()),
        _ => Err(unauthorized()),
    }
}

fn get_personal(state: &State, caller: usize, call: &Incoming, id: &str) -> Answer {
    if let Err(answer) = no_params(call) {
        return answer;
    }
    match visible_personal(state, caller, id) {
        Ok(index) => Answer::json(200, token_json(&state.tokens[index], false, state.today())),
        Err(answer) => answer,
    }
}

fn rotate_personal(state: &mut State, call: &Incoming, caller: usize, id: &str) -> Answer {
    match visible_personal(state, caller, id) {
        Ok(index) => rotate(state, call, caller, index),
        Err(answer) => answer,
    }
}

fn revoke_personal(state: &mut State, caller: usize, call: &Incoming, id: &str) -> Answer {
    if let Err(answer) = no_params(call) {
        return answer;
    }
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let index = match token_id(id).map(|id| state.token_index(id)) {
        Err(answer) => return answer,
        Ok(None) => return not_found_plain(),
        Ok(Some(index)) => index,
    };
    if !(admin || state.tokens[index].user_id == me) {
        return bad_request(None);
    }
    state.tokens[index].revoked = true;
    Answer::empty(204)
}

/// Revokes the token at `index` and issues its successor, expiring on `expires_at`.
fn rotate_at(state: &mut State, index: usize, expires_at: Option<NaiveDate>) -> usize {
    state.tokens[index].revoked = true;
    let old = state.tokens[index].clone();
    let spec = Spec {
        name: old.name,
        description: old.description,
        scopes: old.scopes,
        expires_at,
        access_level: old.access_level,
    };
    state.new_token(old.owner, old.user_id, spec, Some(old.id))
}

/// Rotates the token at `target` for the token at `caller` (checked already).
fn rotate(state: &mut State, call: &Incoming, _caller: usize, target: usize) -> Answer {
    let params = match params(call, &["expires_at"]) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let asked = match get_date(&params, "expires_at") {
        Ok(asked) => asked,
        Err(answer) => return answer,
    };
    if state.tokens[target].revoked {
        if state.reuse_on_target {
            let id = state.tokens[target].id;
            state.revoke_family(id, call.path());
        }
        return bad_request(Some("Token already revoked"));
    }
    let expires_at = match asked {
        Some(asked) => match state.check_expiry(asked) {
            Ok(date) => Some(date),
            Err(answer) => return answer,
        },
        None if state.expiry_required => Some(state.today() + chrono::Duration::days(7)),
        None => None,
    };
    let new = rotate_at(state, target, expires_at);
    Answer::json(200, token_json(&state.tokens[new], true, state.today()))
}

/// A project or group by numeric id or (URL-encoded) full path, if the caller
/// may see it; 404 otherwise, as GitLab hides what you are not a member of.
fn resolve(
    state: &State,
    caller: usize,
    kind: Kind,
    id: &str,
) -> Result<(u64, Option<u8>), Answer> {
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let found = state
        .namespaces
        .iter()
        .find(|n| n.kind == kind && (n.id.to_string() == id || n.path.eq_ignore_ascii_case(id)));
    let missing = || {
        not_found(match kind {
            Kind::Project => "Project",
            Kind::Group => "Group",
        })
    };
    let namespace = found.ok_or_else(missing)?;
    let role = state.role(me, kind, namespace.id);
    if role.is_none() && !admin {
        return Err(missing());
    }
    Ok((namespace.id, if admin { Some(OWNER) } else { role }))
}

fn resource_route(
    state: &mut State,
    call: &Incoming,
    base: &str,
    caller: usize,
    kind: Kind,
    id: &str,
    tail: &[&str],
) -> Answer {
    let (resource, role) = match resolve(state, caller, kind, id) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let caller_is_bot = state
        .user(state.tokens[caller].user_id)
        .is_none_or(|u| u.bot);
    let manages = role.is_some_and(|r| r >= kind.manager());
    let owner = kind.owner(resource);
    let find = |state: &State, token: &str| -> Option<usize> {
        let id: u64 = token.parse().ok()?;
        state
            .tokens
            .iter()
            .position(|t| t.id == id && t.owner == owner)
    };
    let missing = || not_found(&format!("{} Access Token", kind.word()));
    match (call.method.as_str(), tail) {
        ("GET", []) => {
            if !manages {
                return unauthorized();
            }
            let mut allowed = FILTERS.to_vec();
            allowed.extend(["page", "per_page"]);
            let params = match params(call, &allowed) {
                Ok(params) => params,
                Err(answer) => return answer,
            };
            let tokens = state.tokens.iter().filter(|t| t.owner == owner).collect();
            match filtered(state, &params, tokens) {
                Ok(tokens) => {
                    let today = state.today();
                    let items = tokens.iter().map(|t| token_json(t, false, today)).collect();
                    paginate(call, &params, base, items)
                }
                Err(answer) => answer,
            }
        }
        ("POST", []) => create(state, call, kind, resource, role, caller_is_bot),
        ("GET", [token]) => {
            if !manages {
                return unauthorized();
            }
            if let Err(answer) = no_params(call) {
                return answer;
            }
            match find(state, token) {
                Some(index) => {
                    Answer::json(200, token_json(&state.tokens[index], false, state.today()))
                }
                None => missing(),
            }
        }
        ("DELETE", [token]) => {
            if let Err(answer) = no_params(call) {
                return answer;
            }
            let Some(index) = find(state, token) else {
                return missing();
            };
            if !manages || caller_is_bot {
                return bad_request(Some(&format!(
                    "Not permitted to revoke this {} access token",
                    kind.word()
                )));
            }
            state.tokens[index].revoked = true;
            Answer::empty(204)
        }
        ("POST", ["self", "rotate"]) => {
            if state.tokens[caller].owner != owner {
                return unauthorized();
            }
            rotate(state, call, caller, caller)
        }
        ("POST", [token, "rotate"]) => {
            let admin = state
                .user(state.tokens[caller].user_id)
                .is_some_and(|u| u.admin);
            if !manages || caller_is_bot {
                return unauthorized();
            }
            match find(state, token) {
                Some(index) => rotate(state, call, caller, index),
                None if admin => not_found_plain(),
                None => unauthorized(),
            }
        }
        _ => Answer::json(405, json!({"error": "405 Not Allowed"})),
    }
}

fn create(
    state: &mut State,
    call: &Incoming,
    kind: Kind,
    resource: u64,
    role: Option<u8>,
    caller_is_bot: bool,
) -> Answer {
    let params = match params(
        call,
        &[
            "name",
            "description",
            "scopes",
            "access_level",
            "expires_at",
        ],
    ) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let mut missing = Vec::new();
    let name = match get_string(&params, "name") {
        Ok(Some(name)) if !name.trim().is_empty() => name,
        Ok(_) => {
            missing.push("name is missing");
            String::new()
        }
        Err(answer) => return answer,
    };
    let scopes = match get_strings(&params, "scopes") {
        Ok(Some(scopes)) if !scopes.is_empty() => scopes,
        Ok(_) => {
            missing.push("scopes is missing");
            Vec::new()
        }
        Err(answer) => return answer,
    };
    if !missing.is_empty() {
        return param_error(&missing.join(", "));
    }
    if scopes.iter().any(|s| !BOT_SCOPES.contains(&s.as_str())) {
        return param_error("scopes does not have a valid value");
    }
    let description = match get_string(&params, "description") {
        Ok(description) => description.unwrap_or_default(),
        Err(answer) => return answer,
    };
    if description.chars().count() > 255 {
        return param_error("description is too long (maximum is 255 characters)");
    }
    let access_level = match get_int(&params, "access_level") {
        Ok(level) => level.unwrap_or(i64::from(MAINTAINER)),
        Err(answer) => return answer,
    };
    let Some(access_level) = u8::try_from(access_level)
        .ok()
        .filter(|l| ACCESS_LEVELS.contains(l))
    else {
        return param_error("access_level does not have a valid value");
    };
    let expires_at = match get_date(&params, "expires_at") {
        Ok(Some(asked)) => match state.check_expiry(asked) {
            Ok(date) => Some(date),
            Err(answer) => return answer,
        },
        Ok(None) if state.expiry_required => {
            Some(state.today() + chrono::Duration::days(state.max_lifetime_days.min(365)))
        }
        Ok(None) => None,
        Err(answer) => return answer,
    };
    let word = kind.word();
    if caller_is_bot || role.is_none_or(|r| r < kind.manager()) {
        return bad_request(Some(&format!(
            "User does not have permission to create {word} access token"
        )));
    }
    if role.is_some_and(|r| access_level > r) {
        return bad_request(Some(
            "Access level of the token can't be greater than the access level of the user who created the token",
        ));
    }
    let spec = Spec {
        name,
        description,
        scopes,
        expires_at,
        access_level: Some(access_level),
    };
    let index = state.new_bot_token(kind, resource, spec);
    Answer::json(201, token_json(&state.tokens[index], true, state.today()))
}

/// `/jwt/auth`: the registry's token service. Any non-blank user name with an
/// active token that carries a registry scope; each grant is a use.
fn registry_token(state: &mut State, registry: &TokenService, call: &Incoming) -> Handled {
    let denied = |status: u16, text: &str| {
        Handled::from(Answer::json(
            status,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": text}]}),
        ))
    };
    let Some((user, secret)) = credentials(call) else {
        return denied(401, "HTTP Basic: Access denied");
    };
    let today = state.today();
    let found = state
        .tokens
        .iter()
        .position(|t| t.secret == secret && t.active(today));
    let (Some(index), false) = (found, user.trim().is_empty()) else {
        return denied(401, "HTTP Basic: Access denied");
    };
    let token = &state.tokens[index];
    if !["api", "read_registry", "write_registry"]
        .iter()
        .any(|s| token.has(s))
    {
        return denied(403, "access forbidden");
    }
    let who = Some(format!("token {} ({})", token.id, token.name));
    state.record_use(index, "127.0.0.1");
    let token = &state.tokens[index];
    let subject = state
        .user(token.user_id)
        .map_or_else(|| user.clone(), |u| u.username.clone());
    let state: &State = state;
    let answer = registry.grant(call, &subject, |repository, action| {
        let level = reach(state, token, repository);
        let api = token.has("api");
        let reads = api || token.has("read_registry");
        let writes = api || (token.has("write_registry") && token.has("read_registry"));
        match action {
            "pull" => reads && level >= 20,
            "push" => writes && level >= 30,
            "delete" | "*" => (api || token.has("write_registry")) && level >= 40,
            _ => false,
        }
    });
    Handled { answer, who }
}

/// The access level `token` has on `repository` (0: none).
fn reach(state: &State, token: &GitlabToken, repository: &str) -> u8 {
    let covering = |kind: Kind, id: u64| {
        state
            .namespace(kind, id)
            .is_some_and(|n| within(repository, &n.path))
    };
    match token.owner {
        Owner::Project(id) if covering(Kind::Project, id) => token.access_level.unwrap_or(0),
        Owner::Group(id) if covering(Kind::Group, id) => token.access_level.unwrap_or(0),
        Owner::Project(_) | Owner::Group(_) => 0,
        Owner::Personal => {
            let own = state
                .user(token.user_id)
                .is_some_and(|u| within(repository, &u.username));
            let member = state
                .namespaces
                .iter()
                .filter(|n| within(repository, &n.path))
                .filter_map(|n| state.role(token.user_id, n.kind, n.id))
                .max()
                .unwrap_or(0);
            if own { OWNER } else { member }
        }
    }
}
