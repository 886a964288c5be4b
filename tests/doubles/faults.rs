//! The faults every double shares: an error status, a delay, a late or
//! dropped answer after acting, throttling, and the call log.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use super::github::gh_user;
use super::gitlab::lab;
use super::hub::hub_with_org;
use super::*;
use crate::support::github::GithubDouble;
use crate::support::http_double::Fault;

#[test]
fn fail_delay_or_drop_the_nth_call_and_the_log_shows_them() {
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
