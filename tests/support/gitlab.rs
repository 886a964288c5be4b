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
//!
//! A test seeds users, groups, projects and tokens, points the helper at
//! [`GitlabDouble::api_url`], and reads the state back:
//!
//! ```text
//! let gitlab = GitlabDouble::start();
//! let alice = gitlab.add_user("alice");
//! let project = gitlab.add_project("team/app", &[(alice, 40)]);
//! let (_, manage) = gitlab.add_personal_token(alice, "manage", &["api"]);
//! let (id, ci) = gitlab.add_project_token(project, "ci", &["read_registry", "self_rotate"], 20);
//! let registry = gitlab.start_registry();
//! env.set("DOCKER_PAT_GITLAB_API", &gitlab.api_url());
//! // … run the helper …
//! assert!(gitlab.reuse_detections().is_empty());
//! assert!(gitlab.token(id).unwrap().revoked);
//! ```

mod routes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::Registry;
use super::http_double::{
    Answer, Api, Handled, Incoming, Server, random_bytes, random_token_body, reason, request,
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
            Err(routes::bad_request(Some(
                "Expiration date must be in the future",
            )))
        } else if asked > latest {
            Err(routes::bad_request(Some(&format!(
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
        let new = routes::rotate_at(&mut state, index, Some(default));
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
        let mut answer = routes::route(&mut state, call, base, &mut who);
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
