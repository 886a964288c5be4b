//! Docker Hub's organisation access tokens on the Hub double, and the
//! strictness of its personal-token routes.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::support::hub::{HubDouble, OatResource};

pub(super) const OWNER_PASSWORD: &str = "owner password";

/// A Hub with `alice` owning `acme` and `bob`, a member who owns nothing;
/// returns it and alice's bearer header.
pub(super) fn hub_with_org() -> (HubDouble, String) {
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
fn org_tokens_are_held_to_the_documented_shapes_and_owners() {
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
fn org_token_lists_page_with_full_urls_and_the_cap_is_a_400() {
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
fn registry_takes_org_tokens_by_their_resources_until_switched_off() {
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
fn personal_token_routes_refuse_unknown_fields_too() {
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
