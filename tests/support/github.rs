//! A stateful GitHub API for the tests, as far as ghcr.io needs one: checking
//! a token (`GET /user`) and revoking a leaked one (`POST
//! /credentials/revoke`). GitHub has no API that creates, lists or rotates
//! classic tokens, so tests seed them as a user would make them in GitHub's
//! settings.
//!
//! `GET /user` takes `Authorization: Bearer <token>` or `token <token>` and
//! answers the login, with `X-OAuth-Scopes` (classic tokens only; comma and
//! space separated), `X-Accepted-OAuth-Scopes` and, for a token with an
//! expiry, `GitHub-Authentication-Token-Expiration` as `YYYY-MM-DD HH:MM:SS
//! UTC` (or with a numeric offset such as `+0900`, when a test asks). A wrong,
//! expired or revoked token is `401 Bad credentials`.
//!
//! Stricter than GitHub, on purpose: every call must send a `User-Agent`
//! (403 without, as GitHub), `Accept: application/vnd.github+json` (415
//! otherwise) and `X-GitHub-Api-Version: 2022-11-28` (400 otherwise; GitHub
//! itself assumes that version when the header is missing), so that a client
//! sends what the documentation asks for.
//!
//! `POST /credentials/revoke` must be unauthenticated (403 with any
//! `Authorization`), takes exactly `{"credentials": [...]}` (1–1000 strings,
//! each shaped like a GitHub token; 422 otherwise), answers `202 {}` and
//! revokes at once and for good; 60 calls an hour, then `403` (or `429` when
//! a test asks) with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
//! Started as a GitHub Enterprise Server ([`GithubDouble::start_enterprise`]),
//! its API is under `/api/v3` and it wants the revocation authenticated
//! instead, as GHES 3.19 documents: `401` without `Authorization` or with a
//! token it does not accept.
//!
//! It also plays ghcr.io's token service (`/token`) for Debian's
//! `docker-registry`: the token's own login and an active, unexpired classic
//! token with `read:packages` (pull) or `write:packages` (push and pull), on
//! repositories under the login or an organisation it belongs to;
//! fine-grained tokens are refused, as ghcr.io does.
//!
//! ```text
//! let github = GithubDouble::start();
//! let expiry = Utc::now() + chrono::Duration::days(30);
//! let (id, token) = github.add_classic_token("octocat", &["read:packages"], Some(expiry));
//! let registry = github.start_registry();
//! env.set("DOCKER_PAT_GITHUB_API", &github.url);
//! // … run the helper …
//! assert!(github.token(id).unwrap().revoked);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

use super::Registry;
use super::http_double::{Answer, Api, Handled, Incoming, Server, random_alphanumeric, request};
use super::registry_auth::{TokenService, credentials, within};

const API_VERSION: &str = "2022-11-28";
const MEDIA_TYPE: &str = "application/vnd.github+json";
const DOCS: &str = "https://docs.github.com/rest";
const REVOKE_DOCS: &str =
    "https://docs.github.com/rest/credentials/revoke#revoke-a-list-of-credentials";
const TOKEN_PREFIXES: [&str; 5] = ["ghp_", "github_pat_", "gho_", "ghu_", "ghr_"];
const MAX_CREDENTIALS: usize = 1000;
/// Unauthenticated revocation calls allowed an hour.
const REVOKE_LIMIT: usize = 60;
const CORE_LIMIT: u32 = 5000;
const MISSING_USER_AGENT: &str = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `ghp_…`, with OAuth scopes; the only kind ghcr.io accepts.
    Classic,
    /// `github_pat_…`, with no OAuth scopes.
    FineGrained,
}

/// A token as the double holds it.
#[derive(Clone)]
pub struct GithubToken {
    pub id: u64,
    pub login: String,
    pub kind: TokenKind,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// The last call that authenticated with it (API or registry).
    pub last_used_at: Option<DateTime<Utc>>,
    pub secret: String,
}

impl std::fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubToken")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

impl GithubToken {
    fn usable(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|at| at > now)
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

struct State {
    tokens: Vec<GithubToken>,
    /// Login → user id.
    users: BTreeMap<String, u64>,
    /// Organisation → member logins.
    orgs: BTreeMap<String, Vec<String>>,
    next_id: u64,
    clock_offset: chrono::Duration,
    /// Seconds east of UTC for the expiration header; `None`: the `UTC` form.
    expiration_offset: Option<i32>,
    /// When each revocation call came, for the hourly cap.
    revoke_calls: Vec<DateTime<Utc>>,
    revoke_limit: usize,
    limited_status: u16,
    /// A GitHub Enterprise server: revocation is authenticated.
    enterprise: bool,
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    fn user_id(&mut self, login: &str) -> u64 {
        let next = 1000 + self.users.len() as u64;
        *self.users.entry(login.to_ascii_lowercase()).or_insert(next)
    }
}

pub struct GithubDouble {
    pub url: String,
    state: Arc<Mutex<State>>,
    api: Arc<GithubApi>,
    server: Server,
}

impl GithubDouble {
    pub fn start() -> Self {
        Self::start_as(false)
    }

    /// A GitHub Enterprise server's API.
    pub fn start_enterprise() -> Self {
        Self::start_as(true)
    }

    fn start_as(enterprise: bool) -> Self {
        let state = Arc::new(Mutex::new(State {
            tokens: Vec::new(),
            users: BTreeMap::new(),
            orgs: BTreeMap::new(),
            next_id: 1,
            clock_offset: chrono::Duration::zero(),
            expiration_offset: None,
            revoke_calls: Vec::new(),
            revoke_limit: REVOKE_LIMIT,
            limited_status: 403,
            enterprise,
        }));
        let api = Arc::new(GithubApi {
            state: state.clone(),
            registry: TokenService::new("github-double", "ghcr-double"),
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

    /// A classic token (`ghp_…`) made in GitHub's settings; returns (id, secret).
    pub fn add_classic_token(
        &self,
        login: &str,
        scopes: &[&str],
        expires_at: Option<DateTime<Utc>>,
    ) -> (u64, String) {
        let secret = format!("ghp_{}", random_alphanumeric(36));
        self.add(login, TokenKind::Classic, scopes, expires_at, secret)
    }

    /// A fine-grained token (`github_pat_…`), which ghcr.io refuses.
    pub fn add_fine_grained_token(
        &self,
        login: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> (u64, String) {
        let secret = format!(
            "github_pat_{}_{}",
            random_alphanumeric(22),
            random_alphanumeric(59)
        );
        self.add(login, TokenKind::FineGrained, &[], expires_at, secret)
    }

    fn add(
        &self,
        login: &str,
        kind: TokenKind,
        scopes: &[&str],
        expires_at: Option<DateTime<Utc>>,
        secret: String,
    ) -> (u64, String) {
        let mut state = self.state();
        state.user_id(login);
        let id = state.next_id;
        state.next_id += 1;
        state.tokens.push(GithubToken {
            id,
            login: login.into(),
            kind,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at,
            revoked: false,
            last_used_at: None,
            secret: secret.clone(),
        });
        (id, secret)
    }

    /// `login` may push and pull under `org/` on the registry.
    pub fn add_org_member(&self, org: &str, login: &str) {
        self.state()
            .orgs
            .entry(org.to_ascii_lowercase())
            .or_default()
            .push(login.to_ascii_lowercase());
    }

    /// The expiration header with this offset (seconds east of UTC, e.g.
    /// `9 * 3600` for `+0900`) instead of `UTC`; `None` for `UTC`.
    pub fn set_expiration_offset(&self, seconds: Option<i32>) {
        self.state().expiration_offset = seconds;
    }

    /// Revocation calls allowed an hour (60 unless set).
    pub fn set_revoke_limit(&self, per_hour: usize) {
        self.state().revoke_limit = per_hour;
    }

    /// The status of a revocation call over the cap: 403 (default) or 429.
    pub fn set_revoke_limited_status(&self, status: u16) {
        assert!(status == 403 || status == 429, "GitHub answers 403 or 429");
        self.state().limited_status = status;
    }

    /// The owner deletes the token in GitHub's settings.
    pub fn delete_directly(&self, id: u64) {
        let mut state = self.state();
        let token = state
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .expect("no such GitHub token");
        token.revoked = true;
    }

    pub fn token(&self, id: u64) -> Option<GithubToken> {
        self.state().tokens.iter().find(|t| t.id == id).cloned()
    }

    pub fn token_with_secret(&self, secret: &str) -> Option<GithubToken> {
        self.state()
            .tokens
            .iter()
            .find(|t| t.secret == secret)
            .cloned()
    }

    pub fn tokens(&self) -> Vec<GithubToken> {
        self.state().tokens.clone()
    }

    /// True when GitHub accepts `secret` now: not revoked, not expired.
    pub fn accepts(&self, secret: &str) -> bool {
        let state = self.state();
        let now = state.now();
        state
            .tokens
            .iter()
            .any(|t| t.secret == secret && t.usable(now))
    }

    /// Moves GitHub's clock (expiry, the hourly revocation cap).
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.state().clock_offset += by;
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

    /// Debian's registry, playing ghcr.io with this double as its token service.
    pub fn start_registry(&self) -> Registry {
        self.api
            .registry
            .start_registry(&format!("{}/token", self.url))
    }
}

struct GithubApi {
    state: Arc<Mutex<State>>,
    registry: TokenService,
}

impl Api for GithubApi {
    fn handle(&self, call: &Incoming, _base: &str) -> Handled {
        let mut state = self.state.lock().unwrap();
        if self.is_registry_call(call) {
            return registry_token(&mut state, &self.registry, call);
        }
        if call
            .header("user-agent")
            .is_none_or(|ua| ua.trim().is_empty())
        {
            return Answer::text(403, MISSING_USER_AGENT).into();
        }
        // An Enterprise server's API is under /api/v3.
        let path = match state.enterprise {
            true => call
                .path()
                .strip_prefix("/api/v3")
                .unwrap_or("/not-under-api-v3"),
            false => call.path(),
        };
        match (call.method.as_str(), path) {
            ("GET", "/user") => user(&mut state, call),
            ("POST", "/credentials/revoke") => revoke(&mut state, call).into(),
            _ => Answer::json(
                404,
                json!({"message": "Not Found", "documentation_url": DOCS}),
            )
            .into(),
        }
    }

    fn throttled(&self) -> Answer {
        let reset = self.state.lock().unwrap().now() + chrono::Duration::seconds(60);
        Answer::json(
            429,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            }),
        )
        .with_header("retry-after", "60")
        .with_header("x-ratelimit-limit", &CORE_LIMIT.to_string())
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", &reset.timestamp().to_string())
        .with_header("x-ratelimit-used", &CORE_LIMIT.to_string())
        .with_header("x-ratelimit-resource", "core")
    }

    fn failure(&self, status: u16) -> Answer {
        let text = if status == 503 {
            "Service Unavailable"
        } else {
            "Server Error"
        };
        Answer::json(status, json!({"message": text, "documentation_url": DOCS}))
    }

    fn is_registry_call(&self, call: &Incoming) -> bool {
        call.path() == "/token"
    }
}

/// The documented `Accept` and `X-GitHub-Api-Version`, required here.
fn documented_headers(call: &Incoming) -> Result<(), Answer> {
    match call.header("x-github-api-version") {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(Answer::json(
                400,
                json!({
                    "message": format!("API version '{other}' is not supported."),
                    "documentation_url": "https://docs.github.com/rest/about-the-rest-api/api-versions",
                }),
            ));
        }
        None => {
            return Err(Answer::json(
                400,
                json!({
                    "message": format!("X-GitHub-Api-Version: {API_VERSION} is required by this double (GitHub would assume it)."),
                    "documentation_url": "https://docs.github.com/rest/about-the-rest-api/api-versions",
                }),
            ));
        }
    }
    let accepted = call.header("accept").is_some_and(|accept| {
        accept
            .split(',')
            .any(|media| media.split(';').next().unwrap_or_default().trim() == MEDIA_TYPE)
    });
    if !accepted {
        return Err(Answer::json(
            415,
            json!({
                "message": format!("Unsupported 'Accept' header: {:?}. Must accept '{MEDIA_TYPE}'.", call.header("accept").unwrap_or_default()),
                "documentation_url": "https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types",
            }),
        ));
    }
    Ok(())
}

fn bad_credentials() -> Answer {
    Answer::json(
        401,
        json!({"message": "Bad credentials", "documentation_url": DOCS}),
    )
}

fn core_rate_headers(answer: Answer, now: DateTime<Utc>) -> Answer {
    answer
        .with_header("x-ratelimit-limit", &CORE_LIMIT.to_string())
        .with_header("x-ratelimit-remaining", &(CORE_LIMIT - 1).to_string())
        .with_header(
            "x-ratelimit-reset",
            &(now + chrono::Duration::hours(1)).timestamp().to_string(),
        )
        .with_header("x-ratelimit-used", "1")
        .with_header("x-ratelimit-resource", "core")
}

/// `GET /user`: who the token is, its scopes and its expiry, in headers.
fn user(state: &mut State, call: &Incoming) -> Handled {
    if let Err(answer) = documented_headers(call) {
        return answer.into();
    }
    if call.target.contains('?') {
        return Answer::json(
            400,
            json!({"message": "This endpoint takes no query parameters.", "documentation_url": DOCS}),
        )
        .into();
    }
    let Some(authorization) = call.header("authorization") else {
        return Answer::json(
            401,
            json!({
                "message": "Requires authentication",
                "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            }),
        )
        .into();
    };
    let secret = authorization
        .split_once(' ')
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, secret)| secret.trim());
    let now = state.now();
    let Some(index) = secret.and_then(|secret| {
        state
            .tokens
            .iter()
            .position(|t| t.secret == secret && t.usable(now))
    }) else {
        return bad_credentials().into();
    };
    state.tokens[index].last_used_at = Some(now);
    let token = state.tokens[index].clone();
    let id = state.user_id(&token.login);
    let mut answer = Answer::json(
        200,
        json!({"login": token.login, "id": id, "type": "User", "site_admin": false}),
    )
    .with_header("X-Accepted-OAuth-Scopes", "")
    .with_header("X-GitHub-Media-Type", "github.v3; format=json")
    .with_header("X-GitHub-Api-Version-Selected", API_VERSION);
    if token.kind == TokenKind::Classic {
        answer = answer.with_header("X-OAuth-Scopes", &token.scopes.join(", "));
    }
    if let Some(at) = token.expires_at {
        let text = match state.expiration_offset {
            None => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            Some(seconds) => at
                .with_timezone(&FixedOffset::east_opt(seconds).expect("an offset within a day"))
                .format("%Y-%m-%d %H:%M:%S %z")
                .to_string(),
        };
        answer = answer.with_header("GitHub-Authentication-Token-Expiration", &text);
    }
    Handled {
        answer: core_rate_headers(answer, now),
        who: Some(format!("token {} ({})", token.id, token.login)),
    }
}

fn validation_failed(code: &str) -> Answer {
    Answer::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Credential", "field": "credentials", "code": code}],
            "documentation_url": REVOKE_DOCS,
        }),
    )
}

/// `POST /credentials/revoke`: unauthenticated (authenticated on an
/// Enterprise server), capped per hour, final.
fn revoke(state: &mut State, call: &Incoming) -> Answer {
    let now = state.now();
    let hour_ago = now - chrono::Duration::hours(1);
    state.revoke_calls.retain(|at| *at > hour_ago);
    let limit = state.revoke_limit;
    let used = state.revoke_calls.len();
    let reset = state.revoke_calls.first().map_or(now, |first| *first) + chrono::Duration::hours(1);
    let limit_headers = |answer: Answer, used: usize| {
        answer
            .with_header("x-ratelimit-limit", &limit.to_string())
            .with_header(
                "x-ratelimit-remaining",
                &limit.saturating_sub(used).to_string(),
            )
            .with_header("x-ratelimit-reset", &reset.timestamp().to_string())
            .with_header("x-ratelimit-used", &used.min(limit).to_string())
            .with_header("x-ratelimit-resource", "core")
    };
    if used >= limit {
        return limit_headers(
            Answer::json(
                state.limited_status,
                json!({
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
                    "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
                }),
            ),
            used,
        );
    }
    state.revoke_calls.push(now);
    let used = used + 1;
    if state.enterprise {
        if let Err(answer) = authenticated(state, call) {
            return limit_headers(answer, used);
        }
    } else if call.header("authorization").is_some() {
        return limit_headers(
            Answer::json(
                403,
                json!({
                    "message": "Credential revocation must be unauthenticated: send no Authorization header.",
                    "documentation_url": REVOKE_DOCS,
                }),
            ),
            used,
        );
    }
    let answer = match revoke_body(state, call) {
        Ok(()) => Answer::json(202, json!({})),
        Err(answer) => answer,
    };
    limit_headers(answer, used)
}

/// An Enterprise server's check of the caller: a usable token as `Bearer` or `token`.
fn authenticated(state: &State, call: &Incoming) -> Result<(), Answer> {
    let Some(authorization) = call.header("authorization") else {
        return Err(Answer::json(
            401,
            json!({"message": "Requires authentication", "documentation_url": REVOKE_DOCS}),
        ));
    };
    let now = state.now();
    let known = authorization
        .split_once(' ')
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .is_some_and(|(_, secret)| {
            state
                .tokens
                .iter()
                .any(|t| t.secret == secret.trim() && t.usable(now))
        });
    if known {
        Ok(())
    } else {
        Err(bad_credentials())
    }
}

/// Checks the body and revokes the tokens it names (unknown ones are ignored,
/// as GitHub does not say which it knew).
fn revoke_body(state: &mut State, call: &Incoming) -> Result<(), Answer> {
    documented_headers(call)?;
    if call.media_type().as_deref() != Some("application/json") {
        return Err(Answer::json(
            415,
            json!({"message": "Unsupported Media Type: send application/json.", "documentation_url": REVOKE_DOCS}),
        ));
    }
    let body: Value = serde_json::from_slice(&call.body).map_err(|_| {
        Answer::json(
            400,
            json!({"message": "Problems parsing JSON", "documentation_url": REVOKE_DOCS}),
        )
    })?;
    let Value::Object(fields) = body else {
        return Err(validation_failed("invalid"));
    };
    if fields.keys().any(|k| k != "credentials") {
        return Err(validation_failed("invalid"));
    }
    let Some(credentials) = fields.get("credentials") else {
        return Err(validation_failed("missing_field"));
    };
    let Some(items) = credentials.as_array() else {
        return Err(validation_failed("invalid"));
    };
    if items.is_empty() || items.len() > MAX_CREDENTIALS {
        return Err(validation_failed("invalid"));
    }
    let secrets: Vec<&str> = items
        .iter()
        .map(|item| {
            item.as_str()
                .filter(|s| TOKEN_PREFIXES.iter().any(|p| s.starts_with(p)))
                .ok_or_else(|| validation_failed("invalid"))
        })
        .collect::<Result<_, _>>()?;
    for token in &mut state.tokens {
        if secrets.contains(&token.secret.as_str()) {
            token.revoked = true;
        }
    }
    Ok(())
}

/// `/token`: ghcr.io's token service. The login and an active classic token
/// with a packages scope; each grant is a use.
fn registry_token(state: &mut State, registry: &TokenService, call: &Incoming) -> Handled {
    let refused = |status: u16, code: &str, text: &str| {
        Handled::from(Answer::json(
            status,
            json!({"errors": [{"code": code, "message": text}]}),
        ))
    };
    let Some((login, secret)) = credentials(call) else {
        return refused(401, "UNAUTHORIZED", "authentication required");
    };
    let now = state.now();
    let Some(index) = state
        .tokens
        .iter()
        .position(|t| t.secret == secret && t.usable(now) && t.login.eq_ignore_ascii_case(&login))
    else {
        return refused(401, "UNAUTHORIZED", "authentication required");
    };
    let token = &state.tokens[index];
    let who = Some(format!("token {} ({})", token.id, token.login));
    let reads = token.has("read:packages") || token.has("write:packages");
    if token.kind != TokenKind::Classic || !reads {
        return Handled {
            answer: refused(403, "DENIED", "denied").answer,
            who,
        };
    }
    state.tokens[index].last_used_at = Some(now);
    let token = &state.tokens[index];
    let login = token.login.to_ascii_lowercase();
    let orgs: Vec<&String> = state
        .orgs
        .iter()
        .filter(|(_, members)| members.contains(&login))
        .map(|(org, _)| org)
        .collect();
    let answer = registry.grant(call, &token.login, |repository, action| {
        let owned = within(repository, &login) || orgs.iter().any(|org| within(repository, org));
        owned
            && match action {
                "pull" => reads,
                "push" => token.has("write:packages"),
                "delete" => token.has("delete:packages"),
                _ => false,
            }
    });
    Handled { answer, who }
}
