//! The documented calls of Docker Hub's token API, over the shared HTTP client.
//!
//! Passwords, second-factor codes, session tokens and new access tokens are
//! written into request bodies and read out of answers only through wiped
//! buffers, and parsed straight into [`Secret`]s. An answer that does not
//! parse is reported without quoting it: it may hold a token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::HubError;
use super::session::Session;
use crate::http::{HttpClient, Method, Request, Response, Trust};
use crate::index::HubResource;
use crate::remote::wire::{json_body, one_line, wiped, wiped_option};
use crate::secret::Secret;

/// Hub's largest page; hub-tool asks for the same.
const PAGE_SIZE: usize = 100;
/// A listing longer than this many pages is taken for a loop.
const MAX_PAGES: usize = 1000;

/// A token as Hub lists it (never with its secret): a personal access token,
/// or an organisation access token (whose `id`, `label` and `last_used_at`
/// are read into the same fields).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HubToken {
    #[serde(alias = "id")]
    pub uuid: String,
    #[serde(default, alias = "label")]
    pub token_label: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub is_active: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// `None`: never used.
    #[serde(default, alias = "last_used_at")]
    pub last_used: Option<DateTime<Utc>>,
    /// Not in the documented schema of personal tokens; read when Hub sends it.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// What an organisation token reaches; only reading one token tells.
    #[serde(default)]
    pub resources: Vec<HubResource>,
}

/// A token Hub has just created: the only time its secret is ever returned.
#[derive(Deserialize)]
pub(crate) struct CreatedToken {
    #[serde(alias = "id")]
    pub uuid: String,
    #[serde(default, alias = "label")]
    pub token_label: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub resources: Vec<HubResource>,
    #[serde(deserialize_with = "wiped")]
    pub token: Secret,
}

/// What a token should be: label, scopes (a personal token) or resources
/// (an organisation's), and expiry.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewToken {
    pub token_label: String,
    pub scopes: Vec<String>,
    pub resources: Vec<HubResource>,
    /// Sent for organisation tokens, which keep it apart from the label.
    pub description: Option<String>,
    pub expires_at: Option<String>,
}

impl NewToken {
    /// The documented body: `{token_label, scopes, expires_at}` for a
    /// personal token, `{label, description, resources, expires_at}` for an
    /// organisation's.
    fn body(&self, org: bool) -> zeroize::Zeroizing<Vec<u8>> {
        let mut body = if org {
            let mut body = serde_json::json!({
                "label": self.token_label,
                "resources": self.resources,
            });
            if let Some(description) = &self.description {
                body["description"] = description.as_str().into();
            }
            body
        } else {
            serde_json::json!({ "token_label": self.token_label, "scopes": self.scopes })
        };
        if let Some(at) = &self.expires_at {
            body["expires_at"] = at.as_str().into();
        }
        json_body(&body)
    }
}

/// The answer to a password sign-in.
pub(crate) enum SignIn {
    /// Signed in: the session's bearer token.
    Done(Secret),
    /// A second factor is needed; the short-lived token that carries the sign-in on.
    SecondFactor(Secret),
}

pub(crate) struct HubClient {
    http: HttpClient,
    base: String,
    timeout: Duration,
    /// The organisation whose tokens the token calls manage; `None`: the
    /// signed-in account's own.
    org: Option<String>,
}

impl HubClient {
    /// A client for Hub's API at `base` (`https://hub.docker.com`), each call bounded by `timeout`.
    pub(crate) fn new(base: &str, timeout: Duration) -> Result<Self, HubError> {
        Ok(Self {
            http: HttpClient::new(&Trust::default())?,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
            org: None,
        })
    }

    /// The same client, its token calls made on `org`'s access tokens
    /// (`/v2/orgs/{org}/access-tokens`) when one is given. `org` is checked
    /// by [`super::spec::check_org`] first.
    pub(crate) fn for_org(mut self, org: Option<&str>) -> Self {
        self.org = org.map(str::to_ascii_lowercase);
        self
    }

    /// The organisation whose tokens this client manages, if any.
    pub(crate) fn org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    /// Where the tokens live: the account's own, or the organisation's.
    fn tokens_path(&self) -> String {
        match &self.org {
            None => "/v2/access-tokens".into(),
            Some(org) => format!("/v2/orgs/{org}/access-tokens"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the headers every call carries.
    fn send(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response, HubError> {
        let mut request =
            Request::new(method, url, self.timeout).header("accept", "application/json");
        if let Some(bearer) = bearer {
            request = request.header("authorization", bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(self.http.send(request)?)
    }

    fn send_authed(
        &self,
        session: &Session,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
        what: &'static str,
    ) -> Result<Response, HubError> {
        let bearer = session.bearer();
        let response = self.send(method, url, Some(&bearer), body)?;
        expect_success(response, what, true)
    }

    /// A POST without the session's bearer: signing in, and checking a token.
    fn post_unsigned(&self, path: &str, body: &[u8]) -> Result<Response, HubError> {
        self.send(Method::Post, &self.url(path), None, Some(body))
    }

    /// `POST /v2/users/login` with the account password.
    pub(crate) fn sign_in(&self, username: &str, password: &Secret) -> Result<SignIn, HubError> {
        #[derive(Serialize)]
        struct Body<'a> {
            username: &'a str,
            password: &'a str,
        }
        #[derive(Deserialize)]
        struct Refusal {
            #[serde(default)]
            detail: Option<String>,
            #[serde(default, deserialize_with = "wiped_option")]
            login_2fa_token: Option<Secret>,
        }
        const WHAT: &str = "sign in";
        let body = json_body(&Body {
            username,
            password: password.expose(),
        });
        let response = self.post_unsigned("/v2/users/login", &body)?;
        if response.status == 401 {
            let refusal: Refusal = parse(&response, WHAT)?;
            return match refusal.login_2fa_token {
                Some(challenge) if !challenge.is_empty() => Ok(SignIn::SecondFactor(challenge)),
                _ => Err(HubError::SignInRefused {
                    detail: one_line(refusal.detail.as_deref().unwrap_or("wrong credentials")),
                }),
            };
        }
        let response = expect_success(response, WHAT, false)?;
        Ok(SignIn::Done(parse::<Bearer>(&response, WHAT)?.token))
    }

    /// `POST /v2/users/2fa-login` with the code of the second factor.
    pub(crate) fn second_factor(
        &self,
        challenge: &Secret,
        code: &Secret,
    ) -> Result<Secret, HubError> {
        #[derive(Serialize)]
        struct Body<'a> {
            login_2fa_token: &'a str,
            code: &'a str,
        }
        const WHAT: &str = "sign in with the second factor";
        let body = json_body(&Body {
            login_2fa_token: challenge.expose(),
            code: code.expose(),
        });
        let response = self.post_unsigned("/v2/users/2fa-login", &body)?;
        if response.status == 401 {
            return Err(HubError::SignInRefused {
                detail: detail(&response).unwrap_or_else(|| "wrong code".into()),
            });
        }
        let response = expect_success(response, WHAT, false)?;
        Ok(parse::<Bearer>(&response, WHAT)?.token)
    }

    /// `POST /v2/auth/token`: true when Hub accepts `secret` for `identifier`.
    /// Hub records this as a use of the token.
    pub(crate) fn check_token(&self, identifier: &str, secret: &Secret) -> Result<bool, HubError> {
        #[derive(Serialize)]
        struct Body<'a> {
            identifier: &'a str,
            secret: &'a str,
        }
        let body = json_body(&Body {
            identifier,
            secret: secret.expose(),
        });
        let response = self.post_unsigned("/v2/auth/token", &body)?;
        if response.status == 401 {
            return Ok(false);
        }
        // The answer holds a short-lived bearer we have no use for; it is wiped with the body.
        expect_success(response, "check the token", false).map(|_| true)
    }

    /// `POST /v2/access-tokens` (or the organisation's).
    pub(crate) fn create(
        &self,
        session: &Session,
        token: &NewToken,
    ) -> Result<CreatedToken, HubError> {
        const WHAT: &str = "create the token";
        let body = token.body(self.org.is_some());
        let response = self.send_authed(
            session,
            Method::Post,
            &self.url(&self.tokens_path()),
            Some(&body),
            WHAT,
        )?;
        let created: CreatedToken = parse(&response, WHAT)?;
        if created.token.is_empty() || !super::spec::is_uuid(&created.uuid) {
            return Err(HubError::BadBody { what: WHAT });
        }
        Ok(created)
    }

    /// Every token of the account, following `next` through every page.
    pub(crate) fn list(&self, session: &Session) -> Result<Vec<HubToken>, HubError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            next: Option<String>,
            results: Vec<HubToken>,
        }
        const WHAT: &str = "list the tokens";
        let mut url = self.url(&format!(
            "{}?page=1&page_size={PAGE_SIZE}",
            self.tokens_path()
        ));
        let mut tokens = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.send_authed(session, Method::Get, &url, None, WHAT)?;
            let page: Page = parse(&response, WHAT)?;
            tokens.extend(page.results);
            match page.next.filter(|n| !n.is_empty()) {
                None => {
                    tokens.retain(|t: &HubToken| super::spec::is_uuid(&t.uuid));
                    return Ok(tokens);
                }
                Some(next) => url = self.same_origin(&next)?,
            }
        }
        Err(HubError::BadBody { what: WHAT })
    }

    /// `next` as a URL on this client's server: the bearer goes nowhere else.
    fn same_origin(&self, next: &str) -> Result<String, HubError> {
        crate::remote::wire::same_origin(&self.base, next).ok_or_else(|| HubError::ForeignPage {
            url: crate::text::printable(next, 200),
            base: self.base.clone(),
        })
    }

    /// `GET /v2/access-tokens/{uuid}`.
    pub(crate) fn get(&self, session: &Session, uuid: &str) -> Result<HubToken, HubError> {
        const WHAT: &str = "read the token";
        let url = self.token_url(uuid, WHAT)?;
        let response = self.send_authed(session, Method::Get, &url, None, WHAT)?;
        parse(&response, WHAT)
    }

    /// `PATCH /v2/access-tokens/{uuid}` with `is_active`.
    pub(crate) fn set_active(
        &self,
        session: &Session,
        uuid: &str,
        active: bool,
    ) -> Result<HubToken, HubError> {
        let what = if active {
            "activate the token"
        } else {
            "deactivate the token"
        };
        let url = self.token_url(uuid, what)?;
        let body = json_body(&serde_json::json!({ "is_active": active }));
        let response = self.send_authed(session, Method::Patch, &url, Some(&body), what)?;
        parse(&response, what)
    }

    /// `DELETE /v2/access-tokens/{uuid}`; cannot be undone.
    pub(crate) fn delete(&self, session: &Session, uuid: &str) -> Result<(), HubError> {
        const WHAT: &str = "delete the token";
        let url = self.token_url(uuid, WHAT)?;
        self.send_authed(session, Method::Delete, &url, None, WHAT)
            .map(drop)
    }

    fn token_url(&self, uuid: &str, what: &'static str) -> Result<String, HubError> {
        if !super::spec::is_uuid(uuid) {
            return Err(HubError::Refused {
                status: 404,
                what,
                detail: "not a token id".into(),
            });
        }
        Ok(self.url(&format!("{}/{uuid}", self.tokens_path())))
    }
}

/// `{"token": "<JWT>"}`, the answer to a sign-in.
#[derive(Deserialize)]
struct Bearer {
    #[serde(deserialize_with = "wiped")]
    token: Secret,
}

/// The response when it succeeded, otherwise the error its status means.
fn expect_success(
    response: Response,
    what: &'static str,
    authed: bool,
) -> Result<Response, HubError> {
    match response.status {
        200..=299 => Ok(response),
        401 if authed => Err(HubError::SessionExpired),
        429 => Err(HubError::RateLimited {
            retry_at: response
                .header("x-retry-after")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        }),
        status @ (400 | 403 | 404) => Err(HubError::Refused {
            status,
            what,
            detail: detail(&response).unwrap_or_else(|| format!("status {status}")),
        }),
        status => Err(HubError::Unexpected { status, what }),
    }
}

/// Hub's own explanation of an error, on one line: `detail`, `message`, or
/// `text` with the `fields` it names.
fn detail(response: &Response) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(main) = text("detail")
        .or_else(|| text("message"))
        .or_else(|| text("text"))
    {
        parts.push(main.to_owned());
    }
    if let Some(fields) = value.get("fields").and_then(|f| f.as_object()) {
        parts.extend(crate::remote::wire::field_problems(fields, ": "));
    }
    (!parts.is_empty()).then(|| one_line(&parts.join("; ")))
}

fn parse<'a, T: Deserialize<'a>>(
    response: &'a Response,
    what: &'static str,
) -> Result<T, HubError> {
    serde_json::from_slice(&response.body).map_err(|_| HubError::BadBody { what })
}

/// RFC 3339 in UTC with whole seconds, as Hub's API documents it.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response::for_tests(status, &[("x-retry-after", "1900000000")], body.as_bytes())
    }

    #[test]
    fn errors_carry_hubs_own_words_on_one_line() {
        let refused = expect_success(
            response(400, r#"{"fields":{"token_label":["Ensure this field has\nno more than 100 characters."]},"text":"bad input"}"#),
            "create the token",
            true,
        )
        .err()
        .unwrap();
        assert_eq!(
            refused.to_string(),
            "Docker Hub refused to create the token: bad input; token_label: Ensure this field has no more than 100 characters."
        );
        let refused = expect_success(
            response(404, r#"{"message":"token not found"}"#),
            "read the token",
            true,
        )
        .err()
        .unwrap();
        assert!(refused.to_string().ends_with("token not found"));
        assert!(matches!(
            expect_success(response(401, "{}"), "x", true),
            Err(HubError::SessionExpired)
        ));
        match expect_success(response(429, ""), "x", true) {
            Err(HubError::RateLimited { retry_at }) => {
                assert_eq!(retry_at.unwrap().timestamp(), 1_900_000_000)
            }
            _ => panic!("429 is a rate limit"),
        }
        assert!(matches!(
            expect_success(response(502, "<html>"), "x", true),
            Err(HubError::Unexpected { status: 502, .. })
        ));
    }

    #[test]
    fn a_created_token_is_read_into_a_secret_and_bad_bodies_are_not_quoted() {
        let body = r#"{"uuid":"0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab","token_label":"ci@host","scopes":["repo:read"],"token":"dckr_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAA","created_at":"2026-01-01T00:00:00.123456Z","last_used":null}"#;
        let created: CreatedToken = parse(&response(201, body), "create").unwrap();
        assert_eq!(
            created.token.expose(),
            "dckr_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        let bad = response(201, r#"{"uuid":"u","token":7}"#);
        let error = parse::<CreatedToken>(&bad, "create the token")
            .err()
            .unwrap();
        assert!(!error.to_string().contains('7'), "{error}");
    }

    #[test]
    fn pages_are_followed_only_on_the_same_server() {
        let client = HubClient::new("https://hub.example", Duration::from_secs(1)).unwrap();
        assert_eq!(
            client.same_origin("/v2/access-tokens?page=2").unwrap(),
            "https://hub.example/v2/access-tokens?page=2"
        );
        assert!(
            client
                .same_origin("https://hub.example/v2/x?page=2")
                .is_ok()
        );
        for foreign in [
            "https://hub.example.evil/v2/x",
            "https://evil.example/v2/x",
            "//evil.example/v2",
            "http://hub.example/v2/x",
        ] {
            assert!(client.same_origin(foreign).is_err(), "{foreign}");
        }
    }
}
