//! The GitHub double: `GET /user` and its headers, credential revocation,
//! and ghcr.io's registry.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::support::github::GithubDouble;

pub(super) const GH: [(&str, &str); 3] = [
    ("User-Agent", "docker-credential-pat-tests"),
    ("Accept", "application/vnd.github+json"),
    ("X-GitHub-Api-Version", "2022-11-28"),
];

pub(super) fn gh_user(github: &GithubDouble, authorization: &str) -> Reply {
    let mut headers = GH.to_vec();
    headers.push(("Authorization", authorization));
    http("GET", &format!("{}/user", github.url), &headers, "")
}

#[test]
fn user_reports_login_scopes_and_expiry_in_headers() {
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
fn revocation_is_unauthenticated_capped_and_final() {
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
fn registry_takes_classic_tokens_with_package_scopes_only() {
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
