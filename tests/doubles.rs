//! The API doubles themselves (tests/support: Docker Hub's organisation
//! tokens, GitLab, GitHub, and the faults they share), driven over real HTTP
//! with a real client (ureq) and, for the registry side, through the Docker
//! CLI and skopeo against Debian's registry: what a double says is active is
//! exactly what the registry lets in.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::support::github::GithubDouble;
use crate::support::gitlab::{GitlabDouble, Owner};
use crate::support::http_double::{Event, Fault};
use crate::support::hub::{HubDouble, OatResource};
use crate::support::*;

/// One answer as a client saw it.
struct Reply {
    status: u16,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The sorted keys of a JSON object body.
    fn keys(&self) -> Vec<String> {
        keys(&self.json())
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Sends one request with ureq, as a client of the real API would.
fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Reply, ureq::Error> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .new_agent();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = agent.run(builder.body(body.as_bytes()).unwrap())?;
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(Reply {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string()?,
    })
}

#[track_caller]
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    send(method, url, headers, body, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Pushes a one-layer image to `host/repository:1` with skopeo, as `user`
/// with `secret` in an authfile of its own (no helper involved).
fn push(env: &Env, host: &str, repository: &str, user: &str, secret: &str) -> Output {
    let layout = env.root.path().join("image");
    if !layout.exists() {
        make_oci_layout(&layout);
    }
    let authfile = env.root.path().join("push-auth.json");
    let auth = base64(format!("{user}:{secret}").as_bytes());
    std::fs::write(
        &authfile,
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let output = env.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-authfile",
        authfile.to_str().unwrap(),
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{host}/{repository}:1"),
    ]);
    std::fs::remove_file(&authfile).unwrap();
    output
}

/// `docker login` then `docker manifest inspect --insecure`: true when both work.
fn docker_reads(env: &Env, host: &str, repository: &str, user: &str, secret: &str) -> bool {
    let login = env.docker_login(host, user, secret);
    if !login.status.success() {
        return false;
    }
    let inspected = env.docker_inspect(&format!("{host}/{repository}:1"));
    inspected.status.success() && stdout(&inspected).contains("schemaVersion")
}

/// No event, and no `{:?}` of them, holds any of `secrets`.
#[track_caller]
fn assert_no_secret_in(events: &[Event], secrets: &[&str]) {
    let shown = format!("{events:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "a secret in the call log");
    }
}

// ---- Docker Hub organisation access tokens ----

const OWNER_PASSWORD: &str = "owner password";

/// A Hub with `alice` owning `acme` and `bob`, a member who owns nothing;
/// returns it and alice's bearer header.
fn hub_with_org() -> (HubDouble, String) {
    let hub = HubDouble::start();
    hub.add_user("alice", OWNER_PASSWORD);
    hub.add_user("bob", "bob's password");
    hub.add_org("acme", &["alice"]);
    let bearer = hub.bearer_for("alice", OWNER_PASSWORD);
    (hub, bearer)
}

fn oat_body(label: &str) -> String {
    json!({
        "label": label,
        "description": "for CI",
        "resources": [{"type": "TYPE_REPO", "path": "acme/*", "scopes": ["scope-image-pull"]}],
        "expires_at": null,
    })
    .to_string()
}

#[test]
fn hub_org_tokens_are_held_to_the_documented_shapes_and_owners() {
    let (hub, bearer) = hub_with_org();
    let url = format!("{}/v2/orgs/acme/access-tokens", hub.url);
    let auth = ("Authorization", bearer.as_str());

    let created = http("POST", &url, &[JSON, auth], &oat_body("ci"));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.keys(),
        [
            "created_at",
            "expires_at",
            "id",
            "is_active",
            "label",
            "last_used_at",
            "resources",
            "token"
        ],
        "the documented 201: no created_by, the secret this once"
    );
    let body = created.json();
    let (id, secret) = (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    );
    assert!(secret.starts_with("dckr_oat_"));
    assert_eq!(
        body["resources"],
        json!([{"type": "TYPE_REPO", "path": "acme/*", "scopes": ["scope-image-pull"]}])
    );
    let one = http("GET", &format!("{url}/{id}"), &[auth], "");
    assert_eq!(one.status, 200);
    assert_eq!(
        one.keys(),
        [
            "created_at",
            "created_by",
            "expires_at",
            "id",
            "is_active",
            "label",
            "last_used_at",
            "resources"
        ]
    );
    assert_eq!(one.json()["created_by"], "alice");
    assert_eq!(hub.org_token(&id).unwrap().description, "for CI");

    // Only an owner, only with a live bearer; the documented error shapes.
    let bob = hub.bearer_for("bob", "bob's password");
    let refused = http("GET", &url, &[("Authorization", &bob)], "");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.keys(), ["detail", "message"]);
    let anonymous = http("GET", &url, &[], "");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.keys(), ["detail", "message"]);
    assert_eq!(
        http("GET", &url, &[("Authorization", "Bearer forged")], "").status,
        401
    );
    let unknown = http(
        "GET",
        &format!("{}/v2/orgs/nowhere/access-tokens", hub.url),
        &[auth],
        "",
    );
    assert_eq!(
        (unknown.status, unknown.keys()),
        (404, vec!["detail".into(), "message".into()])
    );

    // Bodies: the documented fields only, each checked.
    let future = |days: i64| (Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let resource = |kind: &str, path: &str, scopes: Value| json!({"label": "x", "resources": [{"type": kind, "path": path, "scopes": scopes}]});
    for bad in [
        json!({"label": "x", "resources": [], "extra": 1}),
        json!({"resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}]}),
        json!({"label": "", "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}]}),
        json!({"label": "x"}),
        json!({"label": "x", "resources": []}),
        resource("TYPE_TEAM", "acme/app", json!(["scope-image-pull"])),
        resource("TYPE_REPO", "other/app", json!(["scope-image-pull"])),
        resource("TYPE_REPO", "acme/app", json!(["repo:read"])),
        resource("TYPE_REPO", "acme/app", json!([])),
        resource("TYPE_ORG", "acme", json!(["scope-image-pull"])),
        json!({"label": "x", "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"], "extra": true}]}),
        json!({"label": "x", "description": "d".repeat(201), "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}]}),
        json!({"label": "x", "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}], "expires_at": "next week"}),
        json!({"label": "x", "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}], "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"label": "x", "resources": [{"type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull"]}], "expires_at": future(400)}),
    ] {
        let answer = http("POST", &url, &[JSON, auth], &bad.to_string());
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.keys(), ["fields", "text"], "{bad}");
    }
    assert_eq!(
        http(
            "POST",
            &url,
            &[("Content-Type", "text/plain"), auth],
            &oat_body("x")
        )
        .status,
        415
    );
    let org_scoped = resource("TYPE_ORG", "acme", json!(["scope-repository-list"]));
    assert_eq!(
        http("POST", &url, &[JSON, auth], &org_scoped.to_string()).status,
        201
    );
    let expiring = json!({"label": "soon", "resources": [{"type": "TYPE_REPO", "path": "*/*/public", "scopes": ["scope-image-pull"]}], "expires_at": future(30)});
    let expiring = http("POST", &url, &[JSON, auth], &expiring.to_string());
    assert_eq!(expiring.status, 201, "{}", expiring.body);
    assert!(expiring.json()["expires_at"].is_string());

    // PATCH: label, description, resources, is_active; never expires_at.
    let patch = |body: Value| {
        http(
            "PATCH",
            &format!("{url}/{id}"),
            &[JSON, auth],
            &body.to_string(),
        )
    };
    let renamed = patch(json!({"label": "ci-2", "description": "moved"}));
    assert_eq!(
        (renamed.status, renamed.json()["label"].clone()),
        (200, json!("ci-2"))
    );
    assert!(renamed.json()["resources"].is_array());
    assert_eq!(patch(json!({"expires_at": future(10)})).status, 400);
    assert_eq!(patch(json!({"colour": "red"})).status, 400);
    assert_eq!(patch(json!({})).status, 400);
    assert_eq!(patch(json!({"is_active": "no"})).status, 400);

    // The organisation signs in with an active token at /v2/auth/token, which counts as a use.
    let check = |secret: &str| {
        http(
            "POST",
            &format!("{}/v2/auth/token", hub.url),
            &[JSON],
            &json!({"identifier": "acme", "secret": secret}).to_string(),
        )
    };
    let checked = check(&secret);
    assert_eq!(checked.status, 200);
    assert!(checked.json()["access_token"].is_string());
    assert!(hub.org_token(&id).unwrap().last_used_at.is_some());
    assert_eq!(patch(json!({"is_active": false})).status, 200);
    let refused = check(&secret);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.keys(), ["detail", "errinfo", "message"]);
    assert_eq!(patch(json!({"is_active": true})).status, 200);
    assert_eq!(check(&secret).status, 200);
    assert_eq!(check("dckr_oat_wrong").status, 401);

    // "Someone else used it": a test sets the last use.
    let elsewhere = Utc::now() - chrono::Duration::hours(3);
    hub.set_org_token_last_used(&id, elsewhere);
    let listed = http("GET", &format!("{url}/{id}"), &[auth], "");
    assert_eq!(
        listed.json()["last_used_at"],
        elsewhere.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );

    // An expired token can only be deleted.
    hub.set_org_token_expires_at(&id, Some(Utc::now() - chrono::Duration::minutes(1)));
    assert_eq!(check(&secret).status, 401);
    let reactivated = patch(json!({"is_active": true}));
    assert_eq!(reactivated.status, 400);
    assert!(reactivated.json()["fields"]["is_active"].is_array());
    assert_eq!(patch(json!({"label": "again"})).status, 400);
    assert_eq!(
        http("DELETE", &format!("{url}/{id}"), &[auth], "").status,
        204
    );
    assert_eq!(http("GET", &format!("{url}/{id}"), &[auth], "").status, 404);
    assert!(hub.org_token(&id).is_none());
    assert_no_secret_in(&hub.http().events(), &[&secret, OWNER_PASSWORD]);
}

#[test]
fn hub_org_token_lists_page_with_full_urls_and_the_cap_is_a_400() {
    let (hub, bearer) = hub_with_org();
    let url = format!("{}/v2/orgs/acme/access-tokens", hub.url);
    let auth = ("Authorization", bearer.as_str());
    let mut made = Vec::new();
    for i in 0..10 {
        let created = http("POST", &url, &[JSON, auth], &oat_body(&format!("t{i}")));
        assert_eq!(created.status, 201, "{}", created.body);
        made.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    let over = http("POST", &url, &[JSON, auth], &oat_body("eleventh"));
    assert_eq!(over.status, 400, "the Team plan holds 10 tokens");
    assert_eq!(over.keys(), ["fields", "text"]);
    assert!(over.json()["text"].as_str().unwrap().contains("limit"));

    // Walk every page by `next`, as a client does.
    let mut seen = Vec::new();
    let mut next = Some(format!("{url}?page=1&page_size=3"));
    let mut pages = 0;
    while let Some(page) = next {
        let answer = http("GET", &page, &[auth], "");
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body = answer.json();
        assert_eq!(keys(&body), ["next", "previous", "results", "total"]);
        assert_eq!(body["total"], 10);
        if pages > 0 {
            assert!(body["previous"].as_str().unwrap().starts_with(&url));
        } else {
            assert!(body["previous"].is_null());
        }
        for token in body["results"].as_array().unwrap() {
            assert_eq!(
                keys(token),
                [
                    "created_at",
                    "created_by",
                    "expires_at",
                    "id",
                    "is_active",
                    "label",
                    "last_used_at"
                ]
            );
            seen.push(token["id"].as_str().unwrap().to_owned());
        }
        next = body["next"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 4);
    made.sort();
    seen.sort();
    assert_eq!(seen, made, "every token once");
    assert_eq!(
        http("GET", &format!("{url}?page=5&page_size=3"), &[auth], "").status,
        404
    );
    assert_eq!(
        http("GET", &format!("{url}?colour=red"), &[auth], "").status,
        400
    );
    assert_eq!(
        http("GET", &format!("{url}?page_size=0"), &[auth], "").status,
        400
    );

    // Deactivated tokens still count; a Business plan holds more.
    hub.set_org_token_limit("acme", 100);
    assert_eq!(
        http("POST", &url, &[JSON, auth], &oat_body("eleventh")).status,
        201
    );
}

#[test]
fn hub_registry_takes_org_tokens_by_their_resources_until_switched_off() {
    let (hub, bearer) = hub_with_org();
    let registry = hub.start_registry();
    let env = Env::without_keychain();
    let host = registry.host.as_str();
    let (_, pusher) = hub.add_org_token(
        "acme",
        "push",
        &[("TYPE_REPO", "acme/*", &["scope-image-push"])],
        None,
    );
    let (reader_id, reader) = hub.add_org_token(
        "acme",
        "pull app",
        &[("TYPE_REPO", "acme/app", &["scope-image-pull"])],
        None,
    );
    assert!(hub.org_token(&reader_id).unwrap().last_used_at.is_none());
    ok(&push(&env, host, "acme/app", "acme", &pusher));
    ok(&push(&env, host, "acme/other", "acme", &pusher));
    assert!(
        !push(&env, host, "acme/app", "acme", &reader)
            .status
            .success(),
        "a pull scope does not push"
    );
    assert!(
        !push(&env, host, "bob/app", "acme", &pusher)
            .status
            .success(),
        "only the organisation's repositories"
    );

    assert!(
        hub.org_token(&reader_id).unwrap().last_used_at.is_some(),
        "a registry use is recorded, even one that was refused a push"
    );
    assert!(docker_reads(&env, host, "acme/app", "acme", &reader));
    let other = env.docker_inspect(&format!("{host}/acme/other:1"));
    assert!(!other.status.success(), "acme/app only");
    assert!(!docker_reads(
        &env,
        host,
        "acme/app",
        "acme",
        "dckr_oat_notatokenatall"
    ));
    assert!(!docker_reads(&env, host, "acme/app", "bob", &reader));

    // Deactivated through the API: refused at once; reactivated: back.
    let path = format!("{}/v2/orgs/acme/access-tokens/{reader_id}", hub.url);
    let auth = ("Authorization", bearer.as_str());
    let off = http("PATCH", &path, &[JSON, auth], r#"{"is_active":false}"#);
    assert_eq!(off.status, 200);
    assert!(!hub.accepts(&reader));
    assert!(
        !env.docker_inspect(&format!("{host}/acme/app:1"))
            .status
            .success()
    );
    assert!(!docker_reads(&env, host, "acme/app", "acme", &reader));
    http("PATCH", &path, &[JSON, auth], r#"{"is_active":true}"#);
    assert!(docker_reads(&env, host, "acme/app", "acme", &reader));
    // Expired or deleted: refused.
    hub.set_org_token_expires_at(&reader_id, Some(Utc::now() - chrono::Duration::seconds(1)));
    assert!(!docker_reads(&env, host, "acme/app", "acme", &reader));
    assert_eq!(http("DELETE", &path, &[auth], "").status, 204);
    assert!(!docker_reads(&env, host, "acme/app", "acme", &reader));
    // Personal tokens still work beside them.
    let (_, pat) = hub.add_token("alice", "personal", &["repo:read"]);
    assert!(docker_reads(&env, host, "acme/app", "alice", &pat));

    // Public repositories, through `*/*/public`.
    let (_, public) = hub.add_org_token(
        "acme",
        "public",
        &[("TYPE_REPO", "*/*/public", &["scope-image-pull"])],
        None,
    );
    assert!(!docker_reads(&env, host, "acme/other", "acme", &public));
    hub.add_public_repository("acme/other");
    assert!(docker_reads(&env, host, "acme/other", "acme", &public));
    assert_eq!(
        hub.org_tokens("acme")
            .iter()
            .find(|t| t.label == "public")
            .unwrap()
            .resources,
        [OatResource {
            kind: "TYPE_REPO".into(),
            path: "*/*/public".into(),
            scopes: vec!["scope-image-pull".into()]
        }]
    );
    let events = hub.http().events();
    assert!(events.iter().any(|e| e.registry
        && e.who.as_deref() == Some(&format!("org acme token {reader_id}"))));
    assert_no_secret_in(&events, &[&pusher, &reader, &public, &pat]);
}

#[test]
fn hub_personal_token_routes_refuse_unknown_fields_too() {
    let (hub, bearer) = hub_with_org();
    let auth = ("Authorization", bearer.as_str());
    let url = format!("{}/v2/access-tokens", hub.url);
    let good = json!({"token_label": "ci", "scopes": ["repo:read"]});
    assert_eq!(
        http("POST", &url, &[JSON, auth], &good.to_string()).status,
        201
    );
    let mut extra = good.clone();
    extra["colour"] = json!("red");
    let refused = http("POST", &url, &[JSON, auth], &extra.to_string());
    assert_eq!(
        (refused.status, refused.keys()),
        (400, vec!["fields".into(), "text".into()])
    );
    assert_eq!(
        http("GET", &format!("{url}?colour=red"), &[auth], "").status,
        400
    );
    let (uuid, _) = hub.add_token("alice", "t", &["repo:read"]);
    let patch = json!({"is_active": false, "scopes": ["repo:admin"]});
    let path = format!("{url}/{uuid}");
    assert_eq!(
        http("PATCH", &path, &[JSON, auth], &patch.to_string()).status,
        400
    );
    assert!(
        hub.token(&uuid).unwrap().is_active,
        "a refused PATCH changes nothing"
    );
    let login = json!({"username": "alice", "password": OWNER_PASSWORD, "remember": true});
    let login_url = format!("{}/v2/users/login", hub.url);
    assert_eq!(
        http("POST", &login_url, &[JSON], &login.to_string()).status,
        400
    );
}

// ---- GitLab ----

/// A GitLab with `alice`, Owner of group `team`, Maintainer of `team/app`
/// (and so Owner there too, by the group), and an `api` token of hers.
struct Lab {
    gitlab: GitlabDouble,
    alice: u64,
    group: u64,
    project: u64,
    admin_token: String,
}

fn lab() -> Lab {
    let gitlab = GitlabDouble::start();
    let alice = gitlab.add_user("alice");
    let group = gitlab.add_group("team", &[(alice, 50)]);
    let project = gitlab.add_project("team/app", &[(alice, 40)]);
    let (_, admin_token) = gitlab.add_personal_token(alice, "manage", &["api"]);
    Lab {
        gitlab,
        alice,
        group,
        project,
        admin_token,
    }
}

impl Lab {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gitlab.api_url())
    }

    /// A call with `PRIVATE-TOKEN: token`.
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut headers = vec![("PRIVATE-TOKEN", token)];
        if body.is_some() {
            headers.push(JSON);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http(method, &self.url(path), &headers, &body)
    }
}

const TOKEN_FIELDS: [&str; 11] = [
    "active",
    "created_at",
    "description",
    "expires_at",
    "id",
    "last_used_at",
    "last_used_ips",
    "name",
    "revoked",
    "scopes",
    "user_id",
];

fn day(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

#[test]
fn gitlab_tokens_are_held_to_the_documented_shapes_auth_and_scopes() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let me = lab.call(
        "GET",
        "/personal_access_tokens/self",
        &lab.admin_token,
        None,
    );
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.keys(), TOKEN_FIELDS, "no token, no access_level");
    assert_eq!(me.json()["user_id"], lab.alice);
    assert_eq!(
        me.json()["expires_at"],
        day(gitlab.today() + chrono::Duration::days(365))
    );
    assert!(
        me.json()["last_used_at"].is_string(),
        "the call itself was a use"
    );
    assert!(me.header("ratelimit-limit").is_some());
    let bearer = format!("Bearer {}", lab.admin_token);
    assert_eq!(
        http(
            "GET",
            &lab.url("/personal_access_tokens/self"),
            &[("Authorization", &bearer)],
            ""
        )
        .status,
        200
    );
    for headers in [
        vec![("Authorization", format!("token {}", lab.admin_token))],
        vec![(
            "Authorization",
            format!("Basic {}", base64(lab.admin_token.as_bytes())),
        )],
        vec![("PRIVATE-TOKEN", "glpat-notatokenatallnotat".to_owned())],
        vec![],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = http(
            "GET",
            &lab.url("/personal_access_tokens/self"),
            &headers,
            "",
        );
        assert_eq!(refused.status, 401, "{headers:?}");
        assert_eq!(refused.json(), json!({"message": "401 Unauthorized"}));
    }
    let unknown = http(
        "GET",
        &lab.url("/personal_access_tokens?colour=red"),
        &[("PRIVATE-TOKEN", &lab.admin_token)],
        "",
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.keys(), ["error"]);
    let in_the_url = http(
        "GET",
        &lab.url(&format!(
            "/personal_access_tokens?private_token={}",
            lab.admin_token
        )),
        &[("PRIVATE-TOKEN", &lab.admin_token)],
        "",
    );
    assert_eq!(in_the_url.status, 400, "no secret in a URL");

    // Create project and group tokens: JSON or form, path or id, the documented checks.
    let created = lab.call(
        "POST",
        "/projects/team%2Fapp/access_tokens",
        &lab.admin_token,
        Some(json!({"name": "ci", "scopes": ["read_registry"], "access_level": 30})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let mut with_secret: Vec<&str> = TOKEN_FIELDS.to_vec();
    with_secret.extend(["access_level", "token"]);
    with_secret.sort();
    assert_eq!(created.keys(), with_secret);
    let body = created.json();
    assert!(body["token"].as_str().unwrap().starts_with("glpat-"));
    assert_eq!(body["access_level"], 30);
    assert_eq!(
        body["expires_at"],
        day(gitlab.today() + chrono::Duration::days(365))
    );
    assert_ne!(body["user_id"], lab.alice, "a bot user");
    let project_token = body["token"].as_str().unwrap().to_owned();
    let form = http(
        "POST",
        &lab.url(&format!("/groups/{}/access_tokens", lab.group)),
        &[
            ("PRIVATE-TOKEN", &lab.admin_token),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!(
            "name=group-ci&scopes%5B%5D=read_registry&scopes%5B%5D=write_registry&expires_at={}",
            day(gitlab.today() + chrono::Duration::days(30))
        ),
    );
    assert_eq!(form.status, 201, "{}", form.body);
    assert_eq!(form.json()["access_level"], 40, "Maintainer unless asked");
    let too_late = day(gitlab.today() + chrono::Duration::days(366));
    let today = day(gitlab.today());
    let project = format!("/projects/{}/access_tokens", lab.project);
    for (bad, status) in [
        (json!({"scopes": ["api"]}), 400),
        (json!({"name": "x"}), 400),
        (json!({"name": "x", "scopes": ["read_user"]}), 400),
        (
            json!({"name": "x", "scopes": ["api"], "access_level": 35}),
            400,
        ),
        (
            json!({"name": "x", "scopes": ["api"], "expires_at": too_late}),
            400,
        ),
        (
            json!({"name": "x", "scopes": ["api"], "expires_at": today}),
            400,
        ),
        (
            json!({"name": "x", "scopes": ["api"], "expires_at": "soon"}),
            400,
        ),
        (
            json!({"name": "x", "scopes": ["api"], "colour": "red"}),
            400,
        ),
    ] {
        let answer = lab.call("POST", &project, &lab.admin_token, Some(bad.clone()));
        assert_eq!(answer.status, status, "{bad}: {}", answer.body);
    }
    let text = http(
        "POST",
        &lab.url(&project),
        &[
            ("PRIVATE-TOKEN", &lab.admin_token),
            ("Content-Type", "text/plain"),
        ],
        "name=x",
    );
    assert_eq!(text.status, 415);
    assert_eq!(
        lab.call(
            "POST",
            &project,
            &project_token,
            Some(json!({"name": "x", "scopes": ["api"]}))
        )
        .status,
        403,
        "a read_registry token has no api scope"
    );
    let (_, project_api) = gitlab.add_project_token(lab.project, "bot", &["api"], 40);
    let by_bot = lab.call(
        "POST",
        &project,
        &project_api,
        Some(json!({"name": "x", "scopes": ["api"]})),
    );
    assert_eq!(by_bot.status, 400, "project tokens are created with a PAT");
    let bob = gitlab.add_user("bob");
    let (_, bob_token) = gitlab.add_personal_token(bob, "bob", &["api"]);
    assert_eq!(
        lab.call("GET", &project, &bob_token, None).status,
        404,
        "not a member: the project is hidden"
    );
    let maintainer_only = gitlab.add_project("solo/app", &[(bob, 40)]);
    let owner_level = lab.call(
        "POST",
        &format!("/projects/{maintainer_only}/access_tokens"),
        &bob_token,
        Some(json!({"name": "x", "scopes": ["api"], "access_level": 50})),
    );
    assert_eq!(owner_level.status, 400, "not above the creator's role");
    let (_, reader) = gitlab.add_personal_token(lab.alice, "reader", &["read_api"]);
    let scope = lab.call(
        "POST",
        &project,
        &reader,
        Some(json!({"name": "x", "scopes": ["api"]})),
    );
    assert_eq!(scope.status, 403);
    assert_eq!(scope.json()["error"], "insufficient_scope");
    assert_eq!(
        lab.call("GET", &project, &reader, None).status,
        200,
        "read_api reads"
    );

    // Get, list, revoke: revoked tokens stay listed.
    let id = body["id"].as_u64().unwrap();
    let one = lab.call("GET", &format!("{project}/{id}"), &lab.admin_token, None);
    assert_eq!(one.status, 200);
    assert!(one.json().get("token").is_none());
    assert_eq!(
        lab.call("GET", &format!("{project}/999"), &lab.admin_token, None)
            .status,
        404
    );
    assert_eq!(
        lab.call("DELETE", &format!("{project}/{id}"), &lab.admin_token, None)
            .status,
        204
    );
    let listed = lab.call(
        "GET",
        &format!("{project}?revoked=true"),
        &lab.admin_token,
        None,
    );
    assert_eq!(listed.json()[0]["id"], id);
    assert_eq!(listed.json()[0]["active"], false);
    assert_eq!(
        lab.call("GET", "/personal_access_tokens/self", &project_token, None)
            .status,
        401
    );

    // Personal tokens: yours only; others' are a 401 to a non-admin.
    let theirs = gitlab
        .tokens()
        .iter()
        .find(|t| t.user_id == bob)
        .unwrap()
        .id;
    assert_eq!(
        lab.call(
            "GET",
            &format!("/personal_access_tokens/{theirs}"),
            &lab.admin_token,
            None
        )
        .status,
        401
    );
    assert_eq!(
        lab.call(
            "GET",
            &format!("/personal_access_tokens?user_id={bob}"),
            &lab.admin_token,
            None
        )
        .status,
        401
    );
    let root = gitlab.add_admin("root");
    let (_, root_token) = gitlab.add_personal_token(root, "root", &["api"]);
    assert_eq!(
        lab.call("GET", "/personal_access_tokens/4242", &root_token, None)
            .status,
        404,
        "only admins are told it does not exist"
    );

    // Every token expires, and dies at midnight UTC of its date.
    let (expiring, expiring_secret) = gitlab.add_personal_token(lab.alice, "short", &["read_api"]);
    gitlab.set_expires_at(expiring, Some(gitlab.today() + chrono::Duration::days(1)));
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens/self",
            &expiring_secret,
            None
        )
        .status,
        200
    );
    gitlab.advance_clock(chrono::Duration::days(1));
    let dead = lab.call(
        "GET",
        "/personal_access_tokens/self",
        &expiring_secret,
        None,
    );
    assert_eq!(dead.status, 401);
    let token = gitlab.token(expiring).unwrap();
    assert!(!token.revoked && !token.active(gitlab.today()));
    assert!(gitlab.reuse_detections().is_empty());
    assert_no_secret_in(
        &gitlab.http().events(),
        &[&lab.admin_token, &project_token, &expiring_secret],
    );
}

#[test]
fn gitlab_rotation_revokes_the_old_token_and_issues_one_in_the_same_family() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let (old, _) = gitlab.add_personal_token(lab.alice, "deploy", &["read_registry", "read_api"]);
    let rotated = lab.call(
        "POST",
        &format!("/personal_access_tokens/{old}/rotate"),
        &lab.admin_token,
        None,
    );
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let body = rotated.json();
    let new = body["id"].as_u64().unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("glpat-"));
    assert_eq!(body["name"], "deploy");
    assert_eq!(body["scopes"], json!(["read_registry", "read_api"]));
    assert_eq!(
        body["expires_at"],
        day(gitlab.today() + chrono::Duration::days(7)),
        "a week when expiry is required"
    );
    assert!(gitlab.token(old).unwrap().revoked);
    assert_eq!(gitlab.family(old), [old, new]);
    let until = day(gitlab.today() + chrono::Duration::days(60));
    let again = lab.call(
        "POST",
        &format!("/personal_access_tokens/{new}/rotate"),
        &lab.admin_token,
        Some(json!({"expires_at": until})),
    );
    assert_eq!(again.json()["expires_at"], until);
    let newest = again.json()["id"].as_u64().unwrap();
    assert_eq!(gitlab.family(old), [old, new, newest]);
    let late = day(gitlab.today() + chrono::Duration::days(400));
    let refused = lab.call(
        "POST",
        &format!("/personal_access_tokens/{newest}/rotate"),
        &lab.admin_token,
        Some(json!({"expires_at": late})),
    );
    assert_eq!(refused.status, 400);
    assert!(
        !gitlab.token(newest).unwrap().revoked,
        "a refused rotation changes nothing"
    );

    // Self-rotation needs api or self_rotate.
    let (_, reader) = gitlab.add_personal_token(lab.alice, "reader", &["read_api"]);
    let scope = lab.call("POST", "/personal_access_tokens/self/rotate", &reader, None);
    assert_eq!(
        (scope.status, scope.json()["error"].clone()),
        (403, json!("insufficient_scope"))
    );
    let (self_id, self_secret) =
        gitlab.add_project_token(lab.project, "ci", &["self_rotate", "read_registry"], 30);
    let project = format!("/projects/{}/access_tokens", lab.project);
    let other = lab.call(
        "POST",
        &format!("{project}/{newest}/rotate"),
        &self_secret,
        None,
    );
    assert_eq!(other.status, 403, "self_rotate rotates only itself");
    let (_, bot_api) = gitlab.add_project_token(lab.project, "bot-api", &["api"], 40);
    let (target, _) = gitlab.add_project_token(lab.project, "target", &["read_registry"], 20);
    let other = lab.call(
        "POST",
        &format!("{project}/{target}/rotate"),
        &bot_api,
        None,
    );
    assert_eq!(other.status, 401, "a project token rotating another token");
    let group_path = format!("/groups/{}/access_tokens/self/rotate", lab.group);
    assert_eq!(
        lab.call("POST", &group_path, &self_secret, None).status,
        404,
        "not a member of the group"
    );
    let rotated = lab.call(
        "POST",
        &format!("{project}/self/rotate"),
        &self_secret,
        None,
    );
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.json()["access_level"], 30);
    assert_eq!(
        rotated.json()["user_id"],
        gitlab.token(self_id).unwrap().user_id
    );
    assert!(gitlab.token(self_id).unwrap().revoked);
    let successor = rotated.json()["token"].as_str().unwrap().to_owned();
    assert!(gitlab.accepts(&successor) && !gitlab.accepts(&self_secret));
    // A maintainer's PAT rotates any token of the project.
    let (bot_id, _) = gitlab.add_project_token(lab.project, "other", &["read_registry"], 20);
    assert_eq!(
        lab.call(
            "POST",
            &format!("{project}/{bot_id}/rotate"),
            &lab.admin_token,
            None
        )
        .status,
        200
    );
    assert!(
        gitlab.reuse_detections().is_empty(),
        "nothing was presented twice"
    );
    assert_eq!(
        gitlab.token_with_secret(&successor).unwrap().owner,
        Owner::Project(lab.project)
    );
}

#[test]
fn gitlab_reuse_of_a_rotated_token_revokes_its_whole_family_and_is_recorded() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let path = format!("/projects/{}/access_tokens/self/rotate", lab.project);
    let (first, first_secret) =
        gitlab.add_project_token(lab.project, "ci", &["self_rotate", "read_registry"], 30);
    let rotated = lab.call("POST", &path, &first_secret, None);
    assert_eq!(rotated.status, 200);
    let second = rotated.json()["id"].as_u64().unwrap();
    let second_secret = rotated.json()["token"].as_str().unwrap().to_owned();

    // Using the old token elsewhere is a plain 401 and kills nothing…
    assert_eq!(
        lab.call("GET", "/personal_access_tokens/self", &first_secret, None)
            .status,
        401
    );
    assert!(gitlab.reuse_detections().is_empty());
    assert!(gitlab.accepts(&second_secret));
    // …but presenting it to a rotate call again revokes the whole family.
    let reused = lab.call("POST", &path, &first_secret, None);
    assert_eq!(reused.status, 401);
    assert!(!gitlab.accepts(&second_secret), "the fresh token died too");
    assert!(gitlab.token(second).unwrap().revoked);
    let detections = gitlab.reuse_detections();
    assert_eq!(detections.len(), 1);
    assert_eq!(detections[0].presented, first);
    assert_eq!(detections[0].revoked, [second]);
    assert!(detections[0].path.ends_with("/self/rotate"));

    // Naming a revoked token in a rotate call does it too (as the docs say).
    let (old, _) = gitlab.add_personal_token(lab.alice, "deploy", &["read_registry"]);
    let (live, live_secret) = gitlab.rotate_directly(old);
    let named = lab.call(
        "POST",
        &format!("/personal_access_tokens/{old}/rotate"),
        &lab.admin_token,
        None,
    );
    assert_eq!(named.status, 400);
    assert_eq!(
        named.json(),
        json!({"message": "400 Bad request - Token already revoked"})
    );
    assert!(!gitlab.accepts(&live_secret));
    assert_eq!(gitlab.reuse_detections()[1].revoked, [live]);
    // GitLab's own code answers that one 400 only; the double can play it that way.
    gitlab.set_reuse_on_rotate_target(false);
    let (old, _) = gitlab.add_personal_token(lab.alice, "deploy-2", &["read_registry"]);
    let (_, live_secret) = gitlab.rotate_directly(old);
    let named = lab.call(
        "POST",
        &format!("/personal_access_tokens/{old}/rotate"),
        &lab.admin_token,
        None,
    );
    assert_eq!(named.status, 400);
    assert!(gitlab.accepts(&live_secret));
    assert_eq!(gitlab.reuse_detections().len(), 2);
    let events = gitlab.http().events();
    assert!(
        events
            .iter()
            .any(|e| e.status == Some(401)
                && e.who.as_deref() == Some(&format!("token {first} (ci)")))
    );
}

#[test]
fn gitlab_lists_walk_every_page_by_link_and_filter_as_documented() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let mut ids: Vec<u64> = gitlab.tokens().iter().map(|t| t.id).collect();
    for i in 0..44 {
        ids.push(
            gitlab
                .add_personal_token(lab.alice, &format!("t{i:02}"), &["read_api"])
                .0,
        );
    }
    let (bob_token, _) = gitlab.add_personal_token(gitlab.add_user("bob"), "not alice's", &["api"]);
    let first = lab.call("GET", "/personal_access_tokens", &lab.admin_token, None);
    assert_eq!(
        first.json().as_array().unwrap().len(),
        20,
        "20 a page unless asked"
    );
    assert_eq!(first.header("x-total"), Some("45"));
    assert_eq!(first.header("x-total-pages"), Some("3"));
    assert_eq!(first.header("x-page"), Some("1"));
    assert_eq!(first.header("x-per-page"), Some("20"));
    assert_eq!(first.header("x-next-page"), Some("2"));
    assert_eq!(first.header("x-prev-page"), Some(""));

    let mut seen = Vec::new();
    let mut next = Some(lab.url("/personal_access_tokens?state=active&per_page=7"));
    let mut pages = 0;
    while let Some(url) = next {
        let page = http("GET", &url, &[("PRIVATE-TOKEN", &lab.admin_token)], "");
        assert_eq!(page.status, 200, "{}", page.body);
        let link = page.header("link").unwrap().to_owned();
        assert!(
            link.contains("rel=\"first\"") && link.contains("rel=\"last\""),
            "{link}"
        );
        assert!(
            link.contains("state=active"),
            "the other parameters are kept: {link}"
        );
        seen.extend(
            page.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap()),
        );
        next = link.split(", ").find_map(|part| {
            part.strip_suffix("; rel=\"next\"")
                .map(|u| u.trim_matches(['<', '>']).to_owned())
        });
        pages += 1;
    }
    assert_eq!(pages, 7);
    assert_eq!(seen, ids, "every token once, by id");
    assert!(!seen.contains(&bob_token));

    let wide = lab.call(
        "GET",
        "/personal_access_tokens?per_page=500",
        &lab.admin_token,
        None,
    );
    assert_eq!(wide.header("x-per-page"), Some("100"));
    assert_eq!(wide.json().as_array().unwrap().len(), 45);
    let beyond = lab.call(
        "GET",
        "/personal_access_tokens?page=9",
        &lab.admin_token,
        None,
    );
    assert_eq!((beyond.status, beyond.json()), (200, json!([])));

    // Filters and sort.
    let names = |query: &str| -> Vec<String> {
        let answer = lab.call(
            "GET",
            &format!("/personal_access_tokens?{query}"),
            &lab.admin_token,
            None,
        );
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        answer
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("search=T4"), ["t40", "t41", "t42", "t43"]);
    assert_eq!(
        names("search=t4&sort=name_desc"),
        ["t43", "t42", "t41", "t40"]
    );
    gitlab.revoke(ids[3]);
    gitlab.set_expires_at(ids[4], Some(gitlab.today()));
    assert_eq!(names("revoked=true"), ["t02"]);
    assert_eq!(names("state=inactive"), ["t02", "t03"]);
    gitlab.set_last_used(
        ids[5],
        Utc::now() - chrono::Duration::days(3),
        "203.0.113.9",
    );
    assert_eq!(
        names(&format!(
            "last_used_before={}",
            day(gitlab.today() - chrono::Duration::days(1))
        )),
        ["t04"]
    );
    let soon = day(gitlab.today() + chrono::Duration::days(2));
    assert_eq!(names(&format!("expires_before={soon}")), ["t03"]);
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens?sort=colour",
            &lab.admin_token,
            None
        )
        .status,
        400
    );
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens?revoked=maybe",
            &lab.admin_token,
            None
        )
        .status,
        400
    );
    let used = lab.call(
        "GET",
        &format!("/personal_access_tokens/{}", ids[5]),
        &lab.admin_token,
        None,
    );
    assert_eq!(used.json()["last_used_ips"], json!(["203.0.113.9"]));
}

#[test]
fn gitlab_throttles_on_demand_with_retry_after_in_seconds() {
    let lab = lab();
    lab.gitlab.throttle(2, 3);
    for _ in 0..2 {
        let throttled = lab.call(
            "GET",
            "/personal_access_tokens/self",
            &lab.admin_token,
            None,
        );
        assert_eq!(throttled.status, 429);
        assert_eq!(throttled.body, "Retry later\n");
        assert_eq!(throttled.header("retry-after"), Some("3"));
        assert!(
            throttled
                .header("ratelimit-resettime")
                .unwrap()
                .ends_with(" GMT")
        );
        assert_eq!(throttled.header("ratelimit-remaining"), Some("0"));
    }
    let through = lab.call(
        "GET",
        "/personal_access_tokens/self",
        &lab.admin_token,
        None,
    );
    assert_eq!(through.status, 200);
    let events = lab.gitlab.http().events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.fault == Some(Fault::Throttle))
            .count(),
        2
    );
}

#[test]
fn gitlab_registry_takes_exactly_the_active_tokens_with_registry_scopes() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let registry = gitlab.start_registry();
    let env = Env::without_keychain();
    let host = registry.host.as_str();
    let (_, pusher) = gitlab.add_project_token(
        lab.project,
        "push",
        &["read_registry", "write_registry"],
        30,
    );
    let (_, write_only) = gitlab.add_project_token(lab.project, "write", &["write_registry"], 30);
    ok(&push(&env, host, "team/app", "bot", &pusher));
    assert!(
        !push(&env, host, "team/app", "bot", &write_only)
            .status
            .success(),
        "push needs read too"
    );
    assert!(
        !push(&env, host, "other/app", "bot", &pusher)
            .status
            .success(),
        "its project only"
    );

    let (reader_id, reader) = gitlab.add_project_token(lab.project, "pull", &["read_registry"], 20);
    assert!(
        docker_reads(&env, host, "team/app", "any-name", &reader),
        "any user name"
    );
    assert!(gitlab.token(reader_id).unwrap().last_used_at.is_some());
    assert!(
        !push(&env, host, "team/app", "bot", &reader)
            .status
            .success()
    );
    let (_, api_only) = gitlab.add_personal_token(lab.alice, "api", &["read_api"]);
    assert!(
        !docker_reads(&env, host, "team/app", "alice", &api_only),
        "no registry scope"
    );
    assert!(
        docker_reads(&env, host, "team/app", "alice", &lab.admin_token),
        "api covers the registry"
    );

    // Rotated through the API: the new one works at once, the old one is refused.
    let rotated = lab.call(
        "POST",
        &format!("/projects/{}/access_tokens/{reader_id}/rotate", lab.project),
        &lab.admin_token,
        None,
    );
    assert_eq!(rotated.status, 200);
    let new = rotated.json()["token"].as_str().unwrap().to_owned();
    assert!(!docker_reads(&env, host, "team/app", "any-name", &reader));
    assert!(docker_reads(&env, host, "team/app", "any-name", &new));
    // Revoked or expired: refused.
    let new_id = rotated.json()["id"].as_u64().unwrap();
    gitlab.set_expires_at(new_id, Some(gitlab.today()));
    assert!(!docker_reads(&env, host, "team/app", "any-name", &new));
    gitlab.set_expires_at(new_id, Some(gitlab.today() + chrono::Duration::days(1)));
    assert!(docker_reads(&env, host, "team/app", "any-name", &new));
    let revoked = lab.call(
        "DELETE",
        &format!("/projects/{}/access_tokens/{new_id}", lab.project),
        &lab.admin_token,
        None,
    );
    assert_eq!(revoked.status, 204);
    assert!(!docker_reads(&env, host, "team/app", "any-name", &new));
    assert!(
        gitlab.reuse_detections().is_empty(),
        "the registry never sets off reuse detection"
    );
    assert_no_secret_in(
        &gitlab.http().events(),
        &[&pusher, &reader, &new, &lab.admin_token],
    );
}

// ---- GitHub ----

const GH: [(&str, &str); 3] = [
    ("User-Agent", "docker-credential-pat-tests"),
    ("Accept", "application/vnd.github+json"),
    ("X-GitHub-Api-Version", "2022-11-28"),
];

fn gh_user(github: &GithubDouble, authorization: &str) -> Reply {
    let mut headers = GH.to_vec();
    headers.push(("Authorization", authorization));
    http("GET", &format!("{}/user", github.url), &headers, "")
}

#[test]
fn github_user_reports_login_scopes_and_expiry_in_headers() {
    let github = GithubDouble::start();
    let expiry = Utc::now() + chrono::Duration::days(30);
    let (_, classic) = github.add_classic_token(
        "octocat",
        &["read:packages", "write:packages"],
        Some(expiry),
    );
    let checked = gh_user(&github, &format!("Bearer {classic}"));
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.json()["login"], "octocat");
    assert_eq!(
        checked.header("x-oauth-scopes"),
        Some("read:packages, write:packages")
    );
    assert_eq!(checked.header("x-accepted-oauth-scopes"), Some(""));
    let utc = expiry.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert_eq!(
        checked.header("github-authentication-token-expiration"),
        Some(utc.as_str())
    );
    github.set_expiration_offset(Some(9 * 3600));
    let offset = gh_user(&github, &format!("token {classic}"));
    let text = offset
        .header("github-authentication-token-expiration")
        .unwrap();
    assert!(text.ends_with(" +0900"), "{text}");
    let parsed = chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z").unwrap();
    assert_eq!(parsed.timestamp(), expiry.timestamp(), "the same instant");

    let (_, forever) = github.add_classic_token("octocat", &["repo"], None);
    let never = gh_user(&github, &format!("Bearer {forever}"));
    assert_eq!(never.status, 200);
    assert!(
        never
            .header("github-authentication-token-expiration")
            .is_none()
    );
    let (_, fine) = github.add_fine_grained_token("octocat", Some(expiry));
    let fine_grained = gh_user(&github, &format!("Bearer {fine}"));
    assert_eq!(fine_grained.status, 200);
    assert!(fine.starts_with("github_pat_"));
    assert!(fine_grained.header("x-oauth-scopes").is_none());

    // The documented headers are required.
    let url = format!("{}/user", github.url);
    let auth = format!("Bearer {classic}");
    // ureq adds a User-Agent and an Accept of its own: the bare client sends only these.
    let without = |skip: &str| {
        let mut headers: Vec<(&str, &str)> = GH
            .iter()
            .copied()
            .filter(|(name, _)| *name != skip)
            .collect();
        headers.push(("Authorization", &auth));
        github.call("GET", "/user", &headers, "").0
    };
    assert_eq!(without("User-Agent"), 403);
    assert_eq!(without("Accept"), 415);
    assert_eq!(without("X-GitHub-Api-Version"), 400);
    let mut old_version = GH.to_vec();
    old_version[2].1 = "2021-01-01";
    old_version.push(("Authorization", &auth));
    assert_eq!(http("GET", &url, &old_version, "").status, 400);

    // Wrong, expired or revoked: 401 Bad credentials.
    let wrong = gh_user(&github, "Bearer ghp_notatokenatallnotatokenatallnotato");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.keys(), ["documentation_url", "message"]);
    assert_eq!(wrong.json()["message"], "Bad credentials");
    assert_eq!(http("GET", &url, &GH, "").status, 401);
    github.advance_clock(chrono::Duration::days(31));
    assert_eq!(gh_user(&github, &auth).status, 401);
    assert_eq!(gh_user(&github, &format!("Bearer {forever}")).status, 200);
    assert_no_secret_in(&github.http().events(), &[&classic, &forever, &fine]);
}

#[test]
fn github_revocation_is_unauthenticated_capped_and_final() {
    let github = GithubDouble::start();
    let (id, leaked) = github.add_classic_token("octocat", &["read:packages"], None);
    let url = format!("{}/credentials/revoke", github.url);
    let mut headers = GH.to_vec();
    headers.push(JSON);
    let revoke = |body: &Value, extra: &[(&str, &str)]| {
        let mut all = headers.clone();
        all.extend_from_slice(extra);
        http("POST", &url, &all, &body.to_string())
    };
    let body = json!({"credentials": [leaked]});
    let bearer = format!("Bearer {leaked}");
    let authenticated = revoke(&body, &[("Authorization", &bearer)]);
    assert_eq!(authenticated.status, 403);
    assert!(github.accepts(&leaked), "nothing revoked");
    for bad in [
        json!({}),
        json!({"credentials": []}),
        json!({"credentials": "ghp_x"}),
        json!({"credentials": [1]}),
        json!({"credentials": ["not a token"]}),
        json!({"credentials": [leaked], "reason": "leak"}),
        json!({"credentials": vec!["ghp_x"; 1001]}),
    ] {
        let answer = revoke(&bad, &[]);
        assert_eq!(answer.status, 422, "{}", answer.body);
        assert_eq!(answer.json()["message"], "Validation Failed");
    }
    let accepted = revoke(&body, &[]);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert!(github.token(id).unwrap().revoked);
    assert_eq!(gh_user(&github, &bearer).status, 401, "revocation is final");
    assert_eq!(accepted.header("x-ratelimit-limit"), Some("60"));
    assert_eq!(accepted.header("x-ratelimit-remaining"), Some("51"));

    // 60 an hour: then 403 (or 429) with the rate-limit headers.
    github.set_revoke_limit(9);
    let limited = revoke(&body, &[]);
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let reset: i64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > Utc::now().timestamp() + 3000);
    github.set_revoke_limited_status(429);
    assert_eq!(revoke(&body, &[]).status, 429);
    github.advance_clock(chrono::Duration::minutes(61));
    assert_eq!(revoke(&body, &[]).status, 202);
    assert_no_secret_in(&github.http().events(), &[&leaked]);
}

#[test]
fn github_registry_takes_classic_tokens_with_package_scopes_only() {
    let github = GithubDouble::start();
    let registry = github.start_registry();
    let env = Env::without_keychain();
    let host = registry.host.as_str();
    let (_, writer) = github.add_classic_token("octocat", &["write:packages"], None);
    let (_, reader) = github.add_classic_token("octocat", &["read:packages"], None);
    let (_, repo_only) = github.add_classic_token("octocat", &["repo"], None);
    let (_, fine) = github.add_fine_grained_token("octocat", None);
    ok(&push(&env, host, "octocat/app", "octocat", &writer));
    assert!(
        !push(&env, host, "octocat/app", "octocat", &reader)
            .status
            .success()
    );
    assert!(
        !push(&env, host, "someone/app", "octocat", &writer)
            .status
            .success()
    );
    github.add_org_member("octo-org", "octocat");
    ok(&push(&env, host, "octo-org/app", "octocat", &writer));

    assert!(docker_reads(&env, host, "octocat/app", "octocat", &reader));
    assert!(
        docker_reads(&env, host, "octocat/app", "octocat", &writer),
        "write:packages reads too"
    );
    assert!(
        !docker_reads(&env, host, "octocat/app", "someone", &reader),
        "the token's own login"
    );
    assert!(!docker_reads(
        &env,
        host,
        "octocat/app",
        "octocat",
        &repo_only
    ));
    assert!(
        !docker_reads(&env, host, "octocat/app", "octocat", &fine),
        "classic tokens only"
    );

    let mut headers = GH.to_vec();
    headers.push(JSON);
    let revoked = http(
        "POST",
        &format!("{}/credentials/revoke", github.url),
        &headers,
        &json!({"credentials": [reader]}).to_string(),
    );
    assert_eq!(revoked.status, 202);
    assert!(!docker_reads(&env, host, "octocat/app", "octocat", &reader));
    let (_, expiring) = github.add_classic_token(
        "octocat",
        &["read:packages"],
        Some(Utc::now() + chrono::Duration::hours(1)),
    );
    assert!(docker_reads(
        &env,
        host,
        "octocat/app",
        "octocat",
        &expiring
    ));
    github.advance_clock(chrono::Duration::hours(2));
    assert!(!docker_reads(
        &env,
        host,
        "octocat/app",
        "octocat",
        &expiring
    ));
    assert_no_secret_in(
        &github.http().events(),
        &[&writer, &reader, &repo_only, &fine, &expiring],
    );
}

// ---- Faults, shared by every double ----

#[test]
fn faults_fail_delay_or_drop_the_nth_call_and_the_log_shows_them() {
    let lab = lab();
    let gitlab = &lab.gitlab;
    let (id, _) = gitlab.add_personal_token(lab.alice, "deploy", &["read_registry"]);
    let rotate = format!("/personal_access_tokens/{id}/rotate");

    // An error status, without acting.
    gitlab.http().fault_call(1, Fault::Status(503));
    let failed = lab.call("POST", &rotate, &lab.admin_token, None);
    assert_eq!(failed.status, 503);
    assert_eq!(failed.json(), json!({"message": "503 Service Unavailable"}));
    assert!(!gitlab.token(id).unwrap().revoked, "nothing happened");
    gitlab
        .http()
        .fault_call(2, Fault::Reply(500, r#"{"message":"boom"}"#.into()));
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens/self",
            &lab.admin_token,
            None
        )
        .status,
        200
    );
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens/self",
            &lab.admin_token,
            None
        )
        .json(),
        json!({"message": "boom"})
    );

    // Dropped after acting: the client sees no answer, but the rotation happened.
    gitlab.http().fault_route("POST", "/rotate", Fault::Drop);
    let lost = send(
        "POST",
        &lab.url(&rotate),
        &[("PRIVATE-TOKEN", &lab.admin_token)],
        "",
        Duration::from_secs(10),
    );
    assert!(lost.is_err(), "no answer");
    assert!(gitlab.token(id).unwrap().revoked, "but GitLab acted");
    let successor = *gitlab.family(id).last().unwrap();
    assert_ne!(successor, id);

    // Late: acted, then answered after the client gave up.
    gitlab
        .http()
        .fault_call(1, Fault::LateAnswer(Duration::from_secs(3)));
    let started = Instant::now();
    let late = send(
        "POST",
        &lab.url(&format!("/personal_access_tokens/{successor}/rotate")),
        &[("PRIVATE-TOKEN", &lab.admin_token)],
        "",
        Duration::from_secs(1),
    );
    assert!(late.is_err() && started.elapsed() < Duration::from_secs(3));
    assert!(
        gitlab.token(successor).unwrap().revoked,
        "acted before the answer was lost"
    );
    // Slow: waits, then acts and answers.
    gitlab
        .http()
        .fault_call(1, Fault::Delay(Duration::from_millis(700)));
    let started = Instant::now();
    assert_eq!(
        lab.call(
            "GET",
            "/personal_access_tokens/self",
            &lab.admin_token,
            None
        )
        .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(700));

    let events = gitlab.http().events();
    let faults: Vec<(Option<Fault>, Option<u16>)> = events
        .iter()
        .filter(|e| e.fault.is_some())
        .map(|e| (e.fault.clone(), e.status))
        .collect();
    assert_eq!(
        faults,
        [
            (Some(Fault::Status(503)), Some(503)),
            (
                Some(Fault::Reply(500, r#"{"message":"boom"}"#.into())),
                Some(500)
            ),
            (Some(Fault::Drop), None),
            (Some(Fault::LateAnswer(Duration::from_secs(3))), Some(200)),
            (Some(Fault::Delay(Duration::from_millis(700))), Some(200)),
        ]
    );
    let dropped = events
        .iter()
        .find(|e| e.fault == Some(Fault::Drop))
        .unwrap();
    assert_eq!(dropped.who.as_deref(), Some("token 1 (manage)"));
    assert_eq!(dropped.path(), format!("/api/v4{rotate}"));
    // A secret in a URL is masked in the log.
    let in_url = format!("/personal_access_tokens?private_token={}", lab.admin_token);
    assert_eq!(lab.call("GET", &in_url, &lab.admin_token, None).status, 400);
    let events = gitlab.http().events();
    assert!(
        events
            .last()
            .unwrap()
            .target
            .ends_with("private_token=[masked]")
    );
    assert_no_secret_in(&events, &[&lab.admin_token]);
    assert!(
        !format!("{:?}", gitlab.tokens()).contains(&lab.admin_token),
        "no secret in Debug"
    );

    // The same faults on the other doubles, each with its own error body.
    let (hub, bearer) = hub_with_org();
    hub.http().fault_call(1, Fault::Status(500));
    let failed = http(
        "GET",
        &format!("{}/v2/orgs/acme/access-tokens", hub.url),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(
        (failed.status, failed.keys()),
        (500, vec!["detail".to_owned()])
    );
    hub.http().throttle(1);
    let throttled = http(
        "GET",
        &format!("{}/v2/orgs/acme/access-tokens", hub.url),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(throttled.status, 429);
    let retry: i64 = throttled.header("x-retry-after").unwrap().parse().unwrap();
    assert!(
        retry > Utc::now().timestamp(),
        "Hub's X-Retry-After is a unix time"
    );
    let github = GithubDouble::start();
    let (_, secret) = github.add_classic_token("octocat", &["read:packages"], None);
    github.http().fault_call(1, Fault::Status(503));
    let unavailable = gh_user(&github, &format!("Bearer {secret}"));
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.json()["message"], "Service Unavailable");
    github.http().throttle(1);
    let throttled = gh_user(&github, &format!("Bearer {secret}"));
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("60"));
    assert_eq!(gh_user(&github, &format!("Bearer {secret}")).status, 200);
    assert_eq!(github.http().calls(), 3);
}
