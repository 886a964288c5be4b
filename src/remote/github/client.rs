//! The two documented calls GitHub has for a classic token, over the shared
//! HTTP client, behind the shared trait: `GET /user` (who the token is, and
//! in its headers its scopes and expiry) and `POST /credentials/revoke`.
//!
//! GitHub has no API that creates, lists or rotates classic tokens, and
//! ghcr.io accepts no other kind, so that is all there is. Every call sends
//! the headers GitHub's documentation asks for (`Accept`,
//! `X-GitHub-Api-Version`, a `User-Agent`), is bounded by the timeout given,
//! and waits out a rate limit once when its wait fits in that timeout.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::http::{HttpClient, Method, Request, Response, Trust};
use crate::index::RemoteOwner;
use crate::remote::RemoteError;
use crate::remote::api::{Capabilities, RemoteToken, Rotation, TokenApi, TokenState};
use crate::remote::wire::{host_of, json_body, one_line};
use crate::secret::Secret;

const MEDIA_TYPE: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";
const USER_AGENT: &str = concat!("docker-credential-pat/", env!("CARGO_PKG_VERSION"));
/// The wait GitHub asks for when a limit names none: at least a minute.
const FALLBACK_WAIT: Duration = Duration::from_secs(60);

pub(crate) const CAPABILITIES: Capabilities = Capabilities {
    list: false,
    create: false,
    rotate: Rotation::Guided,
    deactivate: false,
    revoke: true,
    last_use: false,
    always_expires: false,
    verify: true,
};

/// What GitHub says of a token presented to `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The account: the username `docker login ghcr.io` needs.
    pub login: String,
    /// `X-OAuth-Scopes`; `None` when absent (a fine-grained token, which
    /// ghcr.io refuses).
    pub scopes: Option<Vec<String>>,
    /// `GitHub-Authentication-Token-Expiration`; `None`: it never expires.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// GitHub accepted it: the token is revoked for good.
    Accepted,
    /// A GitHub Enterprise Server refused the token its revocation is
    /// authenticated with: it no longer works there (revoked already, or
    /// expired), so nothing is left to revoke.
    NoLongerAccepted,
}

/// GitHub's API at one address (`https://api.github.com`, or a GitHub
/// Enterprise server's `https://HOST/api/v3`).
pub(crate) struct GithubApi {
    http: HttpClient,
    base: String,
    host: String,
    timeout: Duration,
    /// Waits out a rate limit that fits in the timeout (not under `store`'s short bound).
    patient: bool,
    /// A GitHub Enterprise Server, whose revocation is authenticated.
    enterprise: bool,
}

impl GithubApi {
    pub(crate) fn new(
        base: &str,
        timeout: Duration,
        enterprise: bool,
    ) -> Result<Self, RemoteError> {
        Ok(Self {
            http: HttpClient::new(&Trust::default())?,
            base: base.trim_end_matches('/').to_owned(),
            host: host_of(base).to_owned(),
            timeout,
            patient: true,
            enterprise,
        })
    }

    /// The same API with a shorter bound on each call, and no wait for a
    /// rate limit: one call, at most `timeout`.
    pub(crate) fn hurried(mut self, timeout: Duration) -> Self {
        self.timeout = self.timeout.min(timeout);
        self.patient = false;
        self
    }

    /// One call; a rate limit is waited out and the call sent once more when
    /// its wait fits in the timeout. Both calls may be sent twice: `GET
    /// /user` reads, and revoking a token GitHub has already revoked is a
    /// no-op that answers 202 again.
    fn call(
        &self,
        method: Method,
        url: &str,
        authorization: Option<&str>,
        body: Option<&[u8]>,
        what: &'static str,
    ) -> Result<Response, RemoteError> {
        let send = || {
            let mut request = Request::new(method, url, self.timeout)
                .header("accept", MEDIA_TYPE)
                .header("x-github-api-version", API_VERSION)
                .header("user-agent", USER_AGENT);
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.http.send(request)
        };
        let response = send()?;
        if self.patient
            && is_rate_limited(&response)
            && let Some(wait) = retry_after(&response).filter(|w| *w <= self.timeout)
        {
            std::thread::sleep(wait);
            return expect_success(send()?, what);
        }
        expect_success(response, what)
    }

    /// `GET /user` with `secret`: its login, scopes and expiry.
    pub(crate) fn check(&self, secret: &Secret) -> Result<Checked, RemoteError> {
        const WHAT: &str = "check the token";
        let authorization = bearer(secret);
        let url = format!("{}/user", self.base);
        let response = self.call(Method::Get, &url, Some(&authorization), None, WHAT)?;
        let user: User = serde_json::from_slice(&response.body)
            .map_err(|_| RemoteError::BadBody { what: WHAT })?;
        if user.login.is_empty() {
            return Err(RemoteError::BadBody { what: WHAT });
        }
        let scopes = response.header("x-oauth-scopes").map(scope_list);
        let expires_at = match response.header("github-authentication-token-expiration") {
            Some(text) => Some(parse_expiry(text).ok_or(RemoteError::BadBody { what: WHAT })?),
            None => None,
        };
        Ok(Checked {
            login: user.login,
            // An empty header on a classic token is a token with no scope,
            // still classic; a fine-grained token has none at all.
            scopes: scopes.map(|s| s.into_iter().filter(|s| !s.is_empty()).collect()),
            expires_at,
        })
    }

    /// `POST /credentials/revoke` with `secret`: unauthenticated, as GitHub
    /// requires on github.com; on a GitHub Enterprise Server, which requires
    /// the call authenticated, with the token itself. `202` is accepted;
    /// revocation is final. Sent again after a lost answer, github.com
    /// answers `202` again; a GHES answers `401`, as for an expired token.
    pub(crate) fn revoke_secret(&self, secret: &Secret) -> Result<Revocation, RemoteError> {
        #[derive(Serialize)]
        struct Body<'a> {
            credentials: [&'a str; 1],
        }
        const WHAT: &str = "revoke the token";
        let body = json_body(&Body {
            credentials: [secret.expose()],
        });
        let url = format!("{}/credentials/revoke", self.base);
        let authorization = self.enterprise.then(|| bearer(secret));
        let answer = self.call(
            Method::Post,
            &url,
            authorization.as_deref().map(String::as_str),
            Some(&body),
            WHAT,
        );
        match answer {
            Ok(_) => Ok(Revocation::Accepted),
            Err(RemoteError::Unauthorized { .. }) if self.enterprise => {
                Ok(Revocation::NoLongerAccepted)
            }
            Err(e) => Err(e),
        }
    }
}

/// `Bearer <secret>`, in memory that is wiped.
fn bearer(secret: &Secret) -> Zeroizing<String> {
    let mut authorization = Zeroizing::new(String::with_capacity(7 + secret.len()));
    authorization.push_str("Bearer ");
    authorization.push_str(secret.expose());
    authorization
}

impl TokenApi for GithubApi {
    fn name(&self) -> String {
        format!("GitHub ({})", self.host)
    }

    fn command(&self) -> &'static str {
        "github"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn verify(&self, secret: &Secret) -> Result<RemoteToken, RemoteError> {
        let checked = self.check(secret)?;
        Ok(RemoteToken {
            id: checked.login.clone(),
            owner: RemoteOwner::Personal,
            name: checked.login,
            description: String::new(),
            scopes: checked.scopes.unwrap_or_default(),
            state: TokenState::Active,
            created_at: None,
            expires_at: checked.expires_at,
            last_used_at: None,
            access_level: None,
        })
    }
}

/// `repo, read:packages` as its scopes.
fn scope_list(text: &str) -> Vec<String> {
    text.split(',').map(|s| s.trim().to_owned()).collect()
}

/// `2021-10-07 19:07:53 UTC`, or the same with a numeric offset (`+0900`).
pub(crate) fn parse_expiry(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(naive) = text.strip_suffix(" UTC") {
        return NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(|t| t.and_utc());
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A `429`, or a `403` that is GitHub's rate limit rather than a refusal.
fn is_rate_limited(response: &Response) -> bool {
    response.status == 429
        || (response.status == 403
            && (response.header("retry-after").is_some()
                || response.header("x-ratelimit-remaining").map(str::trim) == Some("0")))
}

/// How long GitHub asks to wait: `retry-after` seconds, else until
/// `x-ratelimit-reset` when `x-ratelimit-remaining` is 0.
fn retry_after(response: &Response) -> Option<Duration> {
    if let Some(seconds) = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    if response.header("x-ratelimit-remaining").map(str::trim) != Some("0") {
        return None;
    }
    let reset = response
        .header("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<i64>().ok())?;
    Some(Duration::from_secs(
        (reset - Utc::now().timestamp()).max(0) as u64
    ))
}

/// The response when it succeeded, otherwise the error its status means.
fn expect_success(response: Response, what: &'static str) -> Result<Response, RemoteError> {
    if is_rate_limited(&response) {
        let wait = retry_after(&response).unwrap_or(FALLBACK_WAIT);
        return Err(RemoteError::RateLimited {
            retry_at: chrono::Duration::from_std(wait)
                .ok()
                .map(|w| Utc::now() + w),
        });
    }
    match response.status {
        200..=299 => Ok(response),
        401 => Err(RemoteError::Unauthorized { what }),
        status @ (400 | 403 | 404 | 415 | 422) => Err(RemoteError::Refused {
            status,
            what,
            detail: detail(&response).unwrap_or_else(|| format!("status {status}")),
        }),
        status => Err(RemoteError::Unexpected { status, what }),
    }
}

/// GitHub's own words: `message`, and the codes of `errors[]`.
fn detail(response: &Response) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let mut parts: Vec<String> = value
        .get("message")
        .and_then(|m| m.as_str())
        .map(|m| vec![m.to_owned()])
        .unwrap_or_default();
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        parts.extend(
            errors
                .iter()
                .filter_map(|e| e.get("code").and_then(|c| c.as_str()))
                .map(|c| format!("({c})")),
        );
    }
    (!parts.is_empty()).then(|| one_line(&parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        Response::for_tests(status, headers, body.as_bytes())
    }

    #[test]
    fn the_expiry_header_is_read_in_both_forms() {
        let utc = parse_expiry("2021-10-07 19:07:53 UTC").unwrap();
        assert_eq!(utc.to_rfc3339(), "2021-10-07T19:07:53+00:00");
        let offset = parse_expiry("2021-10-08 04:07:53 +0900").unwrap();
        assert_eq!(offset, utc);
        for bad in ["2021-10-07", "tomorrow", "2021-10-07 19:07:53 CET", ""] {
            assert!(parse_expiry(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rate_limits_say_when_to_retry_and_other_refusals_carry_githubs_words() {
        let reset = (Utc::now() + chrono::Duration::seconds(120)).timestamp();
        let limited = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset.to_string()),
            ],
            r#"{"message":"API rate limit exceeded"}"#,
        );
        match expect_success(limited, "x") {
            Err(RemoteError::RateLimited { retry_at: Some(at) }) => {
                let wait = (at - Utc::now()).num_seconds();
                assert!((115..=120).contains(&wait), "{wait}");
            }
            _ => panic!("a 403 with no requests left is a rate limit"),
        }
        match expect_success(response(429, &[("retry-after", "30")], "{}"), "x") {
            Err(RemoteError::RateLimited { retry_at: Some(at) }) => {
                assert!((28..=30).contains(&(at - Utc::now()).num_seconds()));
            }
            _ => panic!("429 is a rate limit"),
        }
        let refused = expect_success(
            response(
                422,
                &[],
                r#"{"message":"Validation Failed","errors":[{"code":"invalid"}]}"#,
            ),
            "revoke the token",
        )
        .err()
        .unwrap();
        assert_eq!(
            refused.to_string(),
            "refused to revoke the token: Validation Failed (invalid)"
        );
        assert!(matches!(
            expect_success(response(403, &[], r#"{"message":"no"}"#), "x"),
            Err(RemoteError::Refused { status: 403, .. })
        ));
        assert!(matches!(
            expect_success(response(401, &[], "{}"), "x"),
            Err(RemoteError::Unauthorized { .. })
        ));
        assert!(matches!(
            expect_success(response(503, &[], "<html>"), "x"),
            Err(RemoteError::Unexpected { status: 503, .. })
        ));
    }
}
