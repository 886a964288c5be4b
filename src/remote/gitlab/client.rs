//! The documented calls of GitLab's access-token API (REST v4), over the
//! shared HTTP client, behind the shared trait.
//!
//! Every call carries `PRIVATE-TOKEN` (the management credential, or the
//! token itself for `self` calls), is bounded by `registry_timeout_seconds`,
//! and follows every page of a listing (`Link: rel="next"`, else
//! `x-next-page`) on the same server only. A `429` is waited out and the call
//! sent once more when its `Retry-After` fits in the timeout, but only for
//! reads and revokes: a create or a rotate is never sent twice, since GitLab
//! revokes a whole family of tokens when a rotated one is presented again.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::http::{HttpClient, Method, Request, Response, Trust};
use crate::index::RemoteOwner;
use crate::remote::RemoteError;
use crate::remote::api::{
    Capabilities, Created, NewToken, Presenting, RemoteToken, Rotation, TokenApi, TokenRef,
    TokenState,
};
use crate::remote::wire::{host_of, json_body, one_line, same_origin, wiped};
use crate::secret::Secret;

/// GitLab's largest page.
const PER_PAGE: usize = 100;
/// A listing longer than this many pages is taken for a loop.
const MAX_PAGES: usize = 1000;
/// The wait before a retry when a 429 names none (GitLab.com has sent such).
const FALLBACK_WAIT: Duration = Duration::from_secs(60);

pub(crate) const CAPABILITIES: Capabilities = Capabilities {
    list: true,
    create: true,
    rotate: Rotation::Native,
    deactivate: false,
    revoke: true,
    last_use: true,
    always_expires: true,
    verify: true,
};

/// A token object as GitLab documents it; `token` only in create and rotate answers.
#[derive(Deserialize)]
struct Wire {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(default)]
    expires_at: Option<NaiveDate>,
    #[serde(default)]
    access_level: Option<u8>,
}

/// A create or rotate answer: the token and, the one time it is shown, its secret.
#[derive(Deserialize)]
struct WithSecret {
    #[serde(flatten)]
    wire: Wire,
    #[serde(deserialize_with = "wiped")]
    token: Secret,
}

impl Wire {
    fn remote(self, owner: RemoteOwner) -> RemoteToken {
        let state = match (self.revoked, self.active) {
            (true, _) => TokenState::Revoked,
            (false, true) => TokenState::Active,
            (false, false) => TokenState::Expired,
        };
        RemoteToken {
            id: self.id.to_string(),
            owner,
            name: self.name,
            description: self.description.unwrap_or_default(),
            scopes: self.scopes,
            state,
            created_at: self.created_at,
            // A token dies at midnight UTC of its `expires_at`.
            expires_at: self
                .expires_at
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            last_used_at: self.last_used_at,
            access_level: self.access_level,
        }
    }
}

/// GitLab's access-token API at one address, with the management credential
/// if one is kept.
pub(crate) struct GitlabApi {
    http: HttpClient,
    base: String,
    host: String,
    timeout: Duration,
    manager: Option<Secret>,
}

impl GitlabApi {
    /// Whether a management credential (`gitlab login`) is kept.
    pub(crate) fn has_login(&self) -> bool {
        self.manager.is_some()
    }

    /// A client for the API at `base` (`https://gitlab.com/api/v4`).
    pub(crate) fn new(
        base: &str,
        timeout: Duration,
        manager: Option<Secret>,
    ) -> Result<Self, RemoteError> {
        Ok(Self {
            http: HttpClient::new(&Trust::default())?,
            base: base.trim_end_matches('/').to_owned(),
            host: host_of(base).to_owned(),
            timeout,
            manager,
        })
    }

    pub(crate) fn has_manager(&self) -> bool {
        self.manager.is_some()
    }

    /// True when GitLab still accepts the management credential.
    pub(crate) fn login_works(&self) -> bool {
        self.manager
            .as_ref()
            .is_some_and(|manager| self.verify(manager).is_ok_and(|t| t.is_active()))
    }

    fn credential<'a>(&'a self, with: Presenting<'a>) -> Result<&'a Secret, RemoteError> {
        match with {
            Presenting::Manager => self.manager.as_ref().ok_or(RemoteError::NoLogin),
            Presenting::Itself(secret) => Ok(secret),
        }
    }

    /// The collection of `owner`'s tokens.
    fn collection(&self, owner: &RemoteOwner) -> Result<String, RemoteError> {
        Ok(match owner {
            RemoteOwner::Personal => format!("{}/personal_access_tokens", self.base),
            RemoteOwner::Project(id) => {
                format!("{}/projects/{}/access_tokens", self.base, path_id(id)?)
            }
            RemoteOwner::Group(id) => {
                format!("{}/groups/{}/access_tokens", self.base, path_id(id)?)
            }
            RemoteOwner::Org(_) => return Err(self.unsupported("manage organisation tokens")),
        })
    }

    fn token_url(&self, token: &TokenRef) -> Result<String, RemoteError> {
        if token.id != "self" && !is_token_id(&token.id) {
            return Err(RemoteError::Refused {
                status: 404,
                what: "find the token",
                detail: "not a token id".into(),
            });
        }
        Ok(format!("{}/{}", self.collection(&token.owner)?, token.id))
    }

    /// One call; a 429 is waited out and the call sent once more when
    /// `retry` allows and the wait fits in the timeout.
    fn call(
        &self,
        method: Method,
        url: &str,
        credential: &Secret,
        body: Option<&[u8]>,
        what: &'static str,
        retry: bool,
    ) -> Result<Response, RemoteError> {
        let send = || {
            let mut request = Request::new(method, url, self.timeout)
                .header("accept", "application/json")
                .header("private-token", credential.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            self.http.send(request)
        };
        let response = send()?;
        if response.status == 429 && retry {
            let wait = retry_after(&response);
            if let Some(wait) = wait.filter(|w| *w <= self.timeout) {
                std::thread::sleep(wait);
                return expect_success(send()?, what);
            }
        }
        expect_success(response, what)
    }

    fn list_at(
        &self,
        first: String,
        owner: &RemoteOwner,
        credential: &Secret,
    ) -> Result<Vec<RemoteToken>, RemoteError> {
        const WHAT: &str = "list the tokens";
        let mut url = first;
        let mut tokens = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.call(Method::Get, &url, credential, None, WHAT, true)?;
            let page: Vec<Wire> = parse(&response, WHAT)?;
            tokens.extend(page.into_iter().map(|w| w.remote(owner.clone())));
            match self.next_page(&response, &url)? {
                Some(next) => url = next,
                None => return Ok(tokens),
            }
        }
        Err(RemoteError::BadBody { what: WHAT })
    }

    /// The next page's URL: `Link: <…>; rel="next"`, else `x-next-page`.
    fn next_page(&self, response: &Response, url: &str) -> Result<Option<String>, RemoteError> {
        if let Some(next) = response.header("link").and_then(link_next) {
            return same_origin(&self.base, next).map(Some).ok_or_else(|| {
                RemoteError::ForeignPage {
                    url: crate::text::printable(next, 200),
                    base: self.base.clone(),
                }
            });
        }
        let next = response.header("x-next-page").map(str::trim).unwrap_or("");
        if next.is_empty() {
            return Ok(None);
        }
        if !next.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RemoteError::BadBody {
                what: "list the tokens",
            });
        }
        let base = url.split('?').next().unwrap_or(url);
        Ok(Some(format!("{base}?page={next}&per_page={PER_PAGE}")))
    }
}

impl TokenApi for GitlabApi {
    fn name(&self) -> String {
        format!("GitLab ({})", self.host)
    }

    fn command(&self) -> &'static str {
        "gitlab"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn list(&self, owner: &RemoteOwner) -> Result<Vec<RemoteToken>, RemoteError> {
        let credential = self.credential(Presenting::Manager)?;
        let first = format!("{}?page=1&per_page={PER_PAGE}", self.collection(owner)?);
        self.list_at(first, owner, credential)
    }

    fn get(&self, token: &TokenRef) -> Result<RemoteToken, RemoteError> {
        const WHAT: &str = "read the token";
        let credential = self.credential(Presenting::Manager)?;
        let url = self.token_url(token)?;
        let response = self.call(Method::Get, &url, credential, None, WHAT, true)?;
        Ok(parse::<Wire>(&response, WHAT)?.remote(token.owner.clone()))
    }

    fn verify(&self, secret: &Secret) -> Result<RemoteToken, RemoteError> {
        const WHAT: &str = "read the token";
        let url = format!("{}/personal_access_tokens/self", self.base);
        let response = self.call(Method::Get, &url, secret, None, WHAT, true)?;
        Ok(parse::<Wire>(&response, WHAT)?.remote(RemoteOwner::Personal))
    }

    fn create(&self, owner: &RemoteOwner, new: &NewToken) -> Result<Created, RemoteError> {
        #[derive(Serialize)]
        struct Body<'a> {
            name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            description: Option<&'a str>,
            scopes: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            access_level: Option<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_at: Option<String>,
        }
        const WHAT: &str = "create the token";
        if *owner == RemoteOwner::Personal {
            return Err(self.unsupported("create personal access tokens through its API"));
        }
        let credential = self.credential(Presenting::Manager)?;
        let body = json_body(&Body {
            name: &new.name,
            description: new.description.as_deref(),
            scopes: &new.scopes,
            access_level: new.access_level,
            expires_at: new.expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
        });
        let url = self.collection(owner)?;
        let response = self.call(Method::Post, &url, credential, Some(&body), WHAT, false)?;
        created(&response, owner, WHAT)
    }

    fn rotate(
        &self,
        token: &TokenRef,
        with: Presenting<'_>,
        expires_at: Option<NaiveDate>,
    ) -> Result<Created, RemoteError> {
        #[derive(Serialize)]
        struct Body {
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_at: Option<String>,
        }
        const WHAT: &str = "rotate the token";
        let credential = self.credential(with)?;
        let target = match with {
            Presenting::Manager => token.clone(),
            Presenting::Itself(_) => TokenRef {
                owner: token.owner.clone(),
                id: "self".into(),
            },
        };
        let url = format!("{}/rotate", self.token_url(&target)?);
        let body = json_body(&Body {
            expires_at: expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
        });
        let response = self.call(Method::Post, &url, credential, Some(&body), WHAT, false)?;
        created(&response, &token.owner, WHAT)
    }

    fn revoke(&self, token: &TokenRef) -> Result<(), RemoteError> {
        const WHAT: &str = "revoke the token";
        let credential = self.credential(Presenting::Manager)?;
        let url = self.token_url(token)?;
        self.call(Method::Delete, &url, credential, None, WHAT, true)
            .map(drop)
    }
}

/// A token just made, with its secret; anything else in its place is a bad body.
fn created(
    response: &Response,
    owner: &RemoteOwner,
    what: &'static str,
) -> Result<Created, RemoteError> {
    let with: WithSecret = parse(response, what)?;
    if with.token.is_empty() {
        return Err(RemoteError::BadBody { what });
    }
    Ok(Created {
        token: with.wire.remote(owner.clone()),
        secret: with.token,
    })
}

/// The response when it succeeded, otherwise the error its status means.
fn expect_success(response: Response, what: &'static str) -> Result<Response, RemoteError> {
    match response.status {
        200..=299 => Ok(response),
        401 => Err(RemoteError::Unauthorized { what }),
        429 => Err(RemoteError::RateLimited {
            retry_at: retry_after(&response)
                .or(Some(FALLBACK_WAIT))
                .and_then(|w| chrono::Duration::from_std(w).ok())
                .map(|w| Utc::now() + w),
        }),
        status @ (400 | 403 | 404 | 405 | 409 | 422) => Err(RemoteError::Refused {
            status,
            what,
            detail: detail(&response).unwrap_or_else(|| format!("status {status}")),
        }),
        status => Err(RemoteError::Unexpected { status, what }),
    }
}

/// How long a 429 asks to wait: `Retry-After` seconds, else `RateLimit-Reset` (unix time).
fn retry_after(response: &Response) -> Option<Duration> {
    if let Some(seconds) = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = response
        .header("ratelimit-reset")
        .and_then(|v| v.trim().parse::<i64>().ok())?;
    let wait = reset - Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// GitLab's own explanation: `message` (a text, or fields and their
/// problems), `error` and `error_description`, on one line.
fn detail(response: &Response) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    match value.get("message") {
        Some(serde_json::Value::String(text)) => parts.push(text.clone()),
        Some(serde_json::Value::Object(fields)) => {
            parts.extend(crate::remote::wire::field_problems(fields, " "));
        }
        _ => {}
    }
    for key in ["error", "error_description"] {
        if let Some(text) = value.get(key).and_then(|v| v.as_str()) {
            parts.push(text.to_owned());
        }
    }
    (!parts.is_empty()).then(|| one_line(&parts.join("; ")))
}

fn parse<'a, T: Deserialize<'a>>(
    response: &'a Response,
    what: &'static str,
) -> Result<T, RemoteError> {
    serde_json::from_slice(&response.body).map_err(|_| RemoteError::BadBody { what })
}

/// The target of `rel="next"` in a `Link` header.
fn link_next(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// A project's or group's id (digits) or full path, as one path segment.
fn path_id(id: &str) -> Result<String, RemoteError> {
    let valid = !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'))
        && !id.starts_with('/')
        && !id.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if !valid {
        return Err(RemoteError::Refused {
            status: 404,
            what: "find the project or group",
            detail: format!(
                "{:?} is not a project or group id or path",
                crate::text::printable(id, 60)
            ),
        });
    }
    Ok(id.replace('/', "%2F"))
}

/// A GitLab token id: digits.
pub(crate) fn is_token_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        Response::for_tests(status, headers, body.as_bytes())
    }

    #[test]
    fn errors_carry_gitlabs_own_words_on_one_line() {
        let refused = expect_success(
            response(
                400,
                &[],
                r#"{"message":{"name":["is too\nlong"],"scopes":["is missing"]}}"#,
            ),
            "create the token",
        )
        .err()
        .unwrap();
        assert_eq!(
            refused.to_string(),
            "refused to create the token: name is too long; scopes is missing"
        );
        let scope = expect_success(
            response(403, &[], r#"{"error":"insufficient_scope","error_description":"The request requires higher privileges."}"#),
            "list the tokens",
        )
        .err()
        .unwrap();
        assert!(
            scope
                .to_string()
                .ends_with("insufficient_scope; The request requires higher privileges.")
        );
        match expect_success(response(429, &[("retry-after", "30")], "Retry later"), "x") {
            Err(RemoteError::RateLimited { retry_at: Some(at) }) => {
                let wait = (at - Utc::now()).num_seconds();
                assert!((28..=30).contains(&wait), "{wait}");
            }
            _ => panic!("429 is a rate limit"),
        }
        assert!(
            matches!(
                expect_success(response(429, &[], "Retry later"), "x"),
                Err(RemoteError::RateLimited { retry_at: Some(_) })
            ),
            "a 429 without headers still says when to retry"
        );
        assert!(matches!(
            expect_success(response(401, &[], "{}"), "x"),
            Err(RemoteError::Unauthorized { .. })
        ));
        assert!(matches!(
            expect_success(response(502, &[], "<html>"), "x"),
            Err(RemoteError::Unexpected { status: 502, .. })
        ));
    }

    #[test]
    fn a_created_token_is_read_into_a_secret_and_bad_bodies_are_not_quoted() {
        let body = r#"{"id":7,"name":"ci","revoked":false,"created_at":"2026-01-01T00:00:00.000Z","description":"","scopes":["read_registry"],"user_id":3,"last_used_at":null,"active":true,"expires_at":"2027-01-01","access_level":20,"token":"glpat-AAAAAAAAAAAAAAAAAAAA"}"#;
        let made = created(
            &response(201, &[], body),
            &RemoteOwner::Project("4".into()),
            "x",
        )
        .unwrap();
        assert_eq!(made.secret.expose(), "glpat-AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(made.token.id, "7");
        assert_eq!(made.token.state, TokenState::Active);
        assert_eq!(
            made.token.expires_at.unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        let bad = response(
            201,
            &[],
            r#"{"id":"x","token":"glpat-BBBBBBBBBBBBBBBBBBBB"}"#,
        );
        let error = created(&bad, &RemoteOwner::Personal, "create the token")
            .err()
            .unwrap();
        assert!(!error.to_string().contains("glpat"), "{error}");
    }

    #[test]
    fn pages_follow_the_link_header_and_ids_stay_one_segment() {
        assert_eq!(
            link_next(
                r#"<https://g/api/v4/x?page=1>; rel="prev", <https://g/api/v4/x?page=3>; rel="next", <https://g/api/v4/x?page=1>; rel="first""#
            ),
            Some("https://g/api/v4/x?page=3")
        );
        assert_eq!(link_next(r#"<https://g/x?page=1>; rel="first""#), None);
        assert_eq!(path_id("team/app").unwrap(), "team%2Fapp");
        assert_eq!(path_id("12").unwrap(), "12");
        for bad in ["../1", "a//b", "/a", "a?b", "a b", ""] {
            assert!(path_id(bad).is_err(), "{bad}");
        }
        assert!(is_token_id("42") && !is_token_id("4/2") && !is_token_id(""));
    }
}
