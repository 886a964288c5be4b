//! The GitLab double: token shapes, auth and scopes, rotation and reuse
//! detection, pagination and filters, throttling, and its registry.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::support::gitlab::{GitlabDouble, Owner};
use crate::support::http_double::Fault;

/// A GitLab with `alice`, Owner of group `team`, Maintainer of `team/app`
/// (and so Owner there too, by the group), and an `api` token of hers.
pub(super) struct Lab {
    pub(super) gitlab: GitlabDouble,
    pub(super) alice: u64,
    group: u64,
    project: u64,
    pub(super) admin_token: String,
}

pub(super) fn lab() -> Lab {
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
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gitlab.api_url())
    }

    /// A call with `PRIVATE-TOKEN: token`.
    pub(super) fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
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
fn tokens_are_held_to_the_documented_shapes_auth_and_scopes() {
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
fn rotation_revokes_the_old_token_and_issues_one_in_the_same_family() {
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
fn reuse_of_a_rotated_token_revokes_its_whole_family_and_is_recorded() {
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
fn lists_walk_every_page_by_link_and_filter_as_documented() {
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
fn throttles_on_demand_with_retry_after_in_seconds() {
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
fn registry_takes_exactly_the_active_tokens_with_registry_scopes() {
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
