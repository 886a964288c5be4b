//! `hub …` against the Docker Hub double (tests/support/hub.rs), with the real
//! GNOME Keyring, and for the rotation and the audit a real registry that
//! takes its tokens from the double, reached through Docker and skopeo.

use std::process::Output;

use crate::support::hub::HubDouble;
use crate::support::hub_setup::*;
use crate::support::openbao::{DevServer, ROOT_TOKEN};
use crate::support::readme::*;
use crate::support::*;

mod oat;

fn run_hub(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["hub"];
    all.extend_from_slice(args);
    env.run(&all, "")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(output)).unwrap()
}

fn tokens_json(env: &Env) -> serde_json::Value {
    json(&env.run(&["tokens", "--json"], ""))
}

fn local<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

#[test]
fn login_keeps_the_session_in_the_kernel_keyring_only_and_logout_ends_it() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    assert_eq!(
        error_line(&hub_tokens(&env)),
        "not signed in to Docker Hub: run `docker-credential-pat hub login --username USER`"
    );
    let wrong = env.run(
        &["hub", "login", "--username", USER, "--password-stdin"],
        "not the password",
    );
    assert!(
        error_line(&wrong)
            .starts_with("Docker Hub refused the sign-in: Incorrect authentication credentials")
    );
    let token = env.run(
        &["hub", "login", "--username", USER, "--password-stdin"],
        PAT,
    );
    assert!(error_line(&token).contains("an access token cannot manage tokens"));
    assert!(!hub.saw(PAT), "an access token is never sent as a password");
    assert!(
        hub.saw("not the password"),
        "the double records what was sent, so it would have seen the token"
    );

    let out = login(&env);
    assert!(
        out.starts_with("Signed in to Docker Hub as alice for 5 minutes"),
        "{out}"
    );
    ok(&hub_tokens(&env));
    assert_not_on_disk(env.root.path(), "hubjwt.");
    assert_not_on_disk(env.root.path(), PASSWORD);

    assert_eq!(
        ok(&run_hub(&env, &["logout"])),
        "Signed out of Docker Hub\n"
    );
    assert!(error_line(&hub_tokens(&env)).starts_with("not signed in"));
    let again = run_hub(&env, &["logout"]);
    assert!(stderr(&again).contains("no Docker Hub session was open"));

    // A session Hub no longer accepts is dropped, and the message says to sign in again.
    login(&env);
    hub.expire_sessions();
    assert_eq!(
        error_line(&hub_tokens(&env)),
        "the Docker Hub session has expired: run `docker-credential-pat hub login`"
    );
    assert!(error_line(&hub_tokens(&env)).starts_with("not signed in"));

    // hub_session_seconds bounds the session.
    env.write_config_toml("hub_session_seconds = 1\n");
    let out = login(&env);
    assert!(out.contains("for 1 seconds"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(error_line(&hub_tokens(&env)).starts_with("not signed in"));
}

/// Gives the calling thread (and the processes it starts) a new session
/// keyring of its own, as pam_keyinit gives a login.
fn join_new_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a null name takes no pointer from us.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    assert!(id > 0, "keyctl join: {}", std::io::Error::last_os_error());
}

/// `keyctl ARGS`, run from this thread (so in its session keyring).
fn keyctl(args: &[&str]) -> Output {
    std::process::Command::new("keyctl")
        .args(args)
        .output()
        .unwrap()
}

/// The Hub session is kept in the session keyring of the login that signed
/// in, with possessor permissions only: the same login session's processes
/// read it, a process of the same user in another session keyring (another
/// login, a cron job) cannot, not even by its id. In the user's default
/// session keyring, `hub login` says who shares it.
#[test]
fn the_session_is_readable_only_by_the_login_session_that_signed_in() {
    require_tool("keyctl", "keyutils");
    let Setup {
        env,
        hub: _hub,
        keyring: _keyring,
    } = setup();
    join_new_session_keyring();
    let out = login(&env);
    assert!(
        out.contains("The session is kept in this login session's kernel keyring, readable only by the processes of this login session (and root)"),
        "{out}"
    );
    ok(&hub_tokens(&env));
    let shown = stdout(&keyctl(&["show", "@s"]));
    let line = shown
        .lines()
        .find(|l| l.contains("docker-credential-pat:hub-session:"))
        .unwrap_or_else(|| panic!("the session is in this session keyring: {shown}"));
    let id = line.split_whitespace().next().unwrap().to_owned();
    let description = line.split_whitespace().last().unwrap();
    assert!(
        !stdout(&keyctl(&["show", "@u"])).contains(description),
        "nothing in the user keyring"
    );
    // Possessor: view, read, write, search, setattr; no user, group or other bits.
    let described = stdout(&keyctl(&["rdescribe", &id]));
    assert_eq!(described.split(';').nth(3), Some("2f000000"), "{described}");
    // This session reads it (so the check below can see), another cannot.
    let mine = keyctl(&["pipe", &id]);
    assert!(stdout(&mine).starts_with("alice"), "{}", stderr(&mine));
    let other = keyctl(&["session", "-", "keyctl", "pipe", &id]);
    assert!(!other.status.success(), "{}", stdout(&other));
    assert!(
        stderr(&other).contains("Permission denied"),
        "{}",
        stderr(&other)
    );
    assert!(!stdout(&other).contains("alice"));
    let mut elsewhere = env.command("keyctl");
    elsewhere.args(["session", "-", BIN, "hub", "tokens", "--json"]);
    let elsewhere = run_with_input(elsewhere, "", "hub tokens in another session");
    assert!(
        stderr(&elsewhere).contains("not signed in to Docker Hub"),
        "{}",
        stderr(&elsewhere)
    );
    ok(&hub_tokens(&env));
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains("ok       caches: the Docker Hub session of alice is kept in this login session's kernel keyring with possessor-only permissions: only processes of this login session (and root) can read it"),
        "{doctor}"
    );

    // In the user's default session keyring, the message says who shares it.
    let uid = stdout(&std::process::Command::new("id").arg("-u").output().unwrap());
    let mut shared = env.command("keyctl");
    shared.args([
        "session",
        &format!("_uid_ses.{}", uid.trim()),
        BIN,
        "hub",
        "login",
        "--username",
        USER,
        "--password-stdin",
    ]);
    let out = ok(&run_with_input(shared, PASSWORD, "hub login"));
    assert!(
        out.contains("The session is kept in this user's default session keyring, since this login has no session keyring of its own: every process of this user without one"),
        "{out}"
    );
    let mut doctor = env.command("keyctl");
    doctor.args([
        "session",
        &format!("_uid_ses.{}", uid.trim()),
        BIN,
        "doctor",
    ]);
    let doctor = stdout(&run_with_input(doctor, "", "doctor"));
    assert!(
        doctor.contains("warning  caches: the Docker Hub session of alice is kept in this user's default session keyring")
            && doctor.contains("sign in from a shell started with `keyctl session`"),
        "{doctor}"
    );
    // Signed out, doctor says where a session would be kept.
    ok(&env.run(&["hub", "logout"], ""));
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains("ok       caches: a Docker Hub session, once signed in, is kept in this login session's kernel keyring"),
        "{doctor}"
    );
}

fn hub_tokens(env: &Env) -> Output {
    run_hub(env, &["tokens", "--json"])
}

#[test]
fn a_second_factor_is_asked_for_and_marks_the_account() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    hub.add_user_with_second_factor("bob", "bob's password", "246810");
    // The code comes on the line after the password, never on the command line.
    let login = |otp: Option<&str>| {
        let input = match otp {
            Some(otp) => format!("bob's password\n{otp}\n"),
            None => "bob's password\n".to_owned(),
        };
        env.run(&["hub", "login", "-u", "bob", "--password-stdin"], &input)
    };
    let line = error_line(&login(None));
    assert!(
        line.contains("Docker Hub asks for a two-factor code")
            && line.contains("on the line after the password"),
        "{line}"
    );
    let line = error_line(&login(Some("111111")));
    assert!(
        line.contains("Invalid two-factor authentication code"),
        "{line}"
    );
    // --otp is refused in one line saying how to give the code, before anything is read or sent.
    let calls = hub.requests().len();
    for args in [&["--otp", "246810"][..], &["--otp=246810"], &["--otp"]] {
        let mut all = vec!["hub", "login", "-u", "bob", "--password-stdin"];
        all.extend_from_slice(args);
        let line = error_line(&env.run(&all, "bob's password\n"));
        assert_eq!(
            line,
            "--otp is no longer taken: a code on the command line is visible to every user of this machine; type it when asked, or give it on the second line of stdin after the password with --password-stdin"
        );
    }
    assert_eq!(hub.requests().len(), calls, "nothing was sent to Hub");
    let out = ok(&login(Some("246810")));
    assert!(out.contains("Signed in to Docker Hub as bob"), "{out}");
    assert!(out.contains("now marked in config.toml"), "{out}");
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert!(
        config.contains("[two_factor]") && config.contains("\"bob\""),
        "{config}"
    );
    // Passwords are refused for bob from now on; his tokens are welcome.
    let refused = env.store("docker.io", "bob", "bob's password");
    assert!(stdout(&refused).contains("two-factor authentication is on"));
    ok(&env.store("docker.io", "bob", PAT));
    // Signing in again does not mark the account twice.
    let out = ok(&login(Some("246810")));
    assert!(!out.contains("marked"), "{out}");
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert_eq!(config.matches("bob").count(), 1, "{config}");
}

#[test]
fn create_makes_the_token_on_hub_and_stores_it_at_once() {
    let Setup {
        mut env,
        hub,
        keyring,
    } = setup();
    login(&env);
    let out = ok(&run_hub(
        &env,
        &[
            "create",
            "--integration",
            "ci",
            "--scopes",
            "write",
            "--expires",
            "30",
            "--description",
            "GitHub Actions runner",
        ],
    ));
    let tokens = hub.tokens();
    assert_eq!(tokens.len(), 1);
    let made = &tokens[0];
    assert!(
        made.label.starts_with("ci@") && made.label.ends_with(": GitHub Actions runner"),
        "{}",
        made.label
    );
    assert_eq!(made.scopes, ["repo:write"]);
    let days = (made.expires_at.unwrap() - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days}");
    assert!(
        out.starts_with(&format!(
            "Created ci@docker.io on Docker Hub as token {}",
            &made.uuid[..8]
        )),
        "{out}"
    );
    assert!(out.contains("scope write (read, write)"), "{out}");
    assert!(
        out.contains("it is Docker Hub's default token here"),
        "{out}"
    );
    assert!(!out.contains(&made.secret));

    // Stored at once, with its Hub id, scopes and expiry; never on disk in clear.
    assert_eq!(served(&env).as_deref(), Some(made.secret.as_str()));
    assert!(keyring.holds(&made.secret));
    assert_not_on_disk(env.root.path(), &made.secret);
    let list = tokens_json(&env);
    let ci = local(&list, "ci@docker.io");
    assert_eq!(ci["hub_id"], made.uuid.as_str());
    assert_eq!(ci["username"], USER);
    assert_eq!(ci["description"], "GitHub Actions runner");
    assert_eq!(
        ci["expires_at"].as_str().unwrap(),
        made.expires_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    // Defaults: scope read, no expiry; a second Hub token is not the default.
    let out = ok(&run_hub(&env, &["create", "--integration", "laptop"]));
    assert!(
        out.contains("scope read (read-only), never expires"),
        "{out}"
    );
    assert!(out.contains("DOCKER_PAT_INTEGRATION=laptop"), "{out}");
    let laptop = hub.tokens().pop().unwrap();
    assert_eq!(laptop.scopes, ["repo:read"]);
    assert!(laptop.expires_at.is_none());
    env.set("DOCKER_PAT_INTEGRATION", "laptop");
    assert_eq!(served(&env).as_deref(), Some(laptop.secret.as_str()));
    assert_eq!(
        local(&tokens_json(&env), "laptop@docker.io")["expires_at"],
        serde_json::Value::Null
    );

    // The same name again, bad input: one line each, nothing created on Hub.
    let count = hub.tokens().len();
    let line = error_line(&run_hub(&env, &["create", "--integration", "ci"]));
    assert!(
        line.contains("ci@docker.io already exists") && line.contains("hub rotate ci@docker.io"),
        "{line}"
    );
    for (args, expected) in [
        (vec!["--scopes", "delete"], "unknown scope \"delete\""),
        (vec!["--expires", "0"], "--expires 0"),
        (vec!["--expires", "2001-01-01"], "has passed"),
        (
            vec!["--username", "carol"],
            "this Docker Hub session is alice's",
        ),
    ] {
        let mut all = vec!["create", "--integration", "other"];
        all.extend(args);
        let line = error_line(&run_hub(&env, &all));
        assert!(line.contains(expected), "{line}");
    }
    let line = error_line(&run_hub(&env, &["create", "--integration", "bad name"]));
    assert!(line.contains("invalid integration name"), "{line}");
    assert_eq!(hub.tokens().len(), count);

    // A long description is cut to Hub's 100 characters in the label, kept whole here.
    let long = "x".repeat(150);
    ok(&run_hub(
        &env,
        &["create", "--integration", "long", "--description", &long],
    ));
    assert_eq!(hub.tokens().pop().unwrap().label.chars().count(), 100);
}

#[test]
fn hub_tokens_lists_every_page_beside_the_local_tokens() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    login(&env);
    for i in 0..130 {
        hub.add_token(USER, &format!("made on Hub's page {i}"), &["repo:read"]);
    }
    hub.add_token("someone-else", "not alice's", &["repo:read"]);
    ok(&run_hub(&env, &["create", "--integration", "ci"]));
    ok(&env.get("docker.io"));
    let list = json(&hub_tokens(&env));
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 131, "every page, only alice's tokens");
    let pages: Vec<String> = hub
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.starts_with("/v2/access-tokens?"))
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        pages[pages.len() - 2..],
        [
            "/v2/access-tokens?page=1&page_size=100",
            "/v2/access-tokens?page=2&page_size=100"
        ]
    );
    let ci = rows.iter().find(|r| r["local"] == "ci@docker.io").unwrap();
    assert!(ci["local_last_used"].is_string());
    assert_eq!(ci["scopes"], serde_json::json!(["repo:read"]));
    assert_eq!(ci["is_active"], true);
    for key in ["uuid", "label", "created_at", "last_used", "expires_at"] {
        assert!(ci.get(key).is_some(), "{key} in {ci}");
    }
    let other = rows
        .iter()
        .find(|r| r["label"] == "made on Hub's page 7")
        .unwrap();
    assert_eq!(other["local"], serde_json::Value::Null);

    // The table, wide.
    let table = ok(&run_hub(&env, &["tokens", "--wide"]));
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID        LABEL") && header.ends_with("LOCAL         LOCAL USE"),
        "{header}"
    );
    assert!(table.contains("ci@docker.io  just now"), "{table}");
}

#[test]
fn link_then_deactivate_activate_and_delete_act_on_hub_and_here_together() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    let (uuid, secret) = hub.add_token(USER, "made on Hub's page", &["repo:read", "repo:write"]);
    // Stored by `docker login`, before the helper knew about Hub.
    ok(&env.store("https://index.docker.io/v1/", USER, &secret));
    ok(&env.store("ghcr.io", "octo", "ghcr-secret"));
    login(&env);
    let line = error_line(&run_hub(&env, &["deactivate", "default@docker.io"]));
    assert!(
        line.contains("default@docker.io is not linked to a Docker Hub token")
            && line.contains("hub link default@docker.io"),
        "{line}"
    );
    let line = error_line(&run_hub(&env, &["link", "default@ghcr.io", &uuid]));
    assert!(line.contains("not a Docker Hub token"), "{line}");
    let line = error_line(&run_hub(
        &env,
        &[
            "link",
            "default@docker.io",
            "0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab",
        ],
    ));
    assert_eq!(line, "Docker Hub refused to read the token: Not found.");

    // Linked by the first 8 characters of the id, as `hub tokens` shows it.
    let date = (chrono::Utc::now() + chrono::Duration::days(200))
        .format("%Y-%m-%d")
        .to_string();
    let out = ok(&run_hub(
        &env,
        &["link", "default@docker.io", &uuid[..8], "--expires", &date],
    ));
    assert_eq!(
        out,
        format!(
            "Linked default@docker.io to Docker Hub token {uuid} (label \"made on Hub's page\", scope read,write)\n"
        )
    );
    let list = tokens_json(&env);
    assert_eq!(local(&list, "default@docker.io")["hub_id"], uuid.as_str());
    assert_eq!(
        local(&list, "default@docker.io")["expires_at"],
        format!("{date}T00:00:00Z")
    );

    // Hub refuses: nothing changes here, and Hub's own words say why.
    hub.fail_next(
        403,
        r#"{"detail": "You do not have permission to perform this action."}"#,
    );
    let line = error_line(&run_hub(&env, &["deactivate", "default@docker.io"]));
    assert_eq!(
        line,
        "Docker Hub refused to deactivate the token: You do not have permission to perform this action."
    );
    assert!(hub.token(&uuid).unwrap().is_active);
    assert_eq!(served(&env).as_deref(), Some(secret.as_str()));

    let out = ok(&run_hub(&env, &["deactivate", "default@docker.io"]));
    assert_eq!(
        out,
        "Deactivated default@docker.io on Docker Hub and here\n"
    );
    assert!(!hub.token(&uuid).unwrap().is_active);
    assert!(!hub.accepts(&secret));
    assert_eq!(served(&env), None, "an inactive token is not served");
    assert_eq!(
        local(&tokens_json(&env), "default@docker.io")["active"],
        false
    );

    let out = ok(&run_hub(&env, &["activate", &uuid]));
    assert_eq!(out, "Activated default@docker.io on Docker Hub and here\n");
    assert!(hub.accepts(&secret));
    assert_eq!(served(&env).as_deref(), Some(secret.as_str()));

    // A token only on Hub, by its id; then both together in one delete.
    let (other, _) = hub.add_token(USER, "forgotten", &["repo:read"]);
    let out = ok(&run_hub(&env, &["deactivate", &other]));
    assert_eq!(
        out,
        format!("Deactivated Docker Hub token {other} (not stored here)\n")
    );
    let out = ok(&run_hub(
        &env,
        &["delete", "default@docker.io", &other[..12]],
    ));
    assert_eq!(
        out,
        format!(
            "Deleted default@docker.io on Docker Hub and here\nDeleted Docker Hub token {other} (not stored here)\n"
        )
    );
    assert!(hub.tokens().is_empty());
    assert_eq!(served(&env), None);
    let list = tokens_json(&env);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only ghcr.io is left: {list}"
    );
    let line = error_line(&run_hub(&env, &["delete", "deadbeef"]));
    assert!(
        line.contains("no token on Docker Hub has an id starting with deadbeef"),
        "{line}"
    );
}

#[test]
fn hub_errors_are_one_line_saying_what_to_do() {
    let Setup {
        mut env,
        hub,
        keyring: _keyring,
    } = setup();
    login(&env);
    hub.set_rate_limited(true);
    let line = error_line(&hub_tokens(&env));
    assert!(
        line.starts_with("Docker Hub's rate limit was reached: retry after "),
        "{line}"
    );
    assert!(line.contains(" UTC (in "), "{line}");
    hub.set_rate_limited(false);
    let seen = hub.call(
        "GET",
        "/v2/access-tokens",
        &[("Authorization", &hub.bearer_for(USER, PASSWORD))],
        "",
    );
    for header in [
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ] {
        assert!(seen.1.contains(header), "{header} in {}", seen.1);
    }

    // The listing first, then the create.
    hub.fail_after(1, 400, r#"{"fields": {"token_label": ["Ensure this field has no more than 100 characters."]}, "text": "Invalid request"}"#);
    let line = error_line(&run_hub(&env, &["create", "--integration", "ci"]));
    assert_eq!(
        line,
        "Docker Hub refused to create the token: Invalid request; token_label: Ensure this field has no more than 100 characters."
    );
    hub.fail_next(404, r#"{"message": "token not found"}"#);
    assert!(error_line(&hub_tokens(&env)).ends_with("token not found"));
    hub.fail_next(503, "");
    assert!(
        error_line(&hub_tokens(&env))
            .contains("status 503: Docker Hub has a problem of its own; try again later")
    );
    hub.fail_next(200, r#"{"results": "not a list"}"#);
    assert!(error_line(&hub_tokens(&env)).contains("is not in the documented form"));

    // A Hub that cannot be reached, and one that never answers, within hub_timeout_seconds.
    let closed = format!("http://127.0.0.1:{}", free_port());
    env.set("DOCKER_PAT_HUB_URL", &closed);
    let line = error_line(&env.run(&["hub", "login", "-u", USER, "--password-stdin"], PASSWORD));
    assert!(
        line.starts_with(&format!(
            "cannot reach Docker Hub: cannot connect to {closed}"
        )),
        "{line}"
    );
    assert!(line.contains("DOCKER_PAT_HUB_URL"), "{line}");
    env.set("DOCKER_PAT_HUB_URL", &hub.url);
    env.write_config_toml("hub_timeout_seconds = 1\n");
    hub.set_delay(5);
    let started = std::time::Instant::now();
    let line = error_line(&hub_tokens(&env));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(line.contains("did not answer within 1 s"), "{line}");
    hub.set_delay(0);

    env.set("DOCKER_PAT_HUB_URL", "hub.docker.com");
    let line = error_line(&hub_tokens(&env));
    assert!(
        line.contains("DOCKER_PAT_HUB_URL") && line.contains("https://"),
        "{line}"
    );
    env.vars.retain(|(k, _)| k != "DOCKER_PAT_HUB_URL");
    env.write_config_toml("hub_timeout_seconds = 0\n");
    let line = error_line(&hub_tokens(&env));
    assert!(
        line.contains("config.toml")
            && line.contains("line 1")
            && line.contains("hub_timeout_seconds"),
        "{line}"
    );
}

#[test]
fn the_double_holds_requests_to_the_documented_shapes() {
    let hub = HubDouble::start();
    hub.add_user(USER, PASSWORD);
    let bearer = hub.bearer_for(USER, PASSWORD);
    let json_type = ("Content-Type", "application/json");
    let auth = ("Authorization", bearer.as_str());
    let create = |body: &str| hub.call("POST", "/v2/access-tokens", &[json_type, auth], body);
    assert_eq!(
        create(r#"{"token_label":"ok","scopes":["repo:read"]}"#).0,
        201
    );
    for bad in [
        r#"{"scopes":["repo:read"]}"#,
        r#"{"token_label":"","scopes":["repo:read"]}"#,
        &format!(
            r#"{{"token_label":"{}","scopes":["repo:read"]}}"#,
            "x".repeat(101)
        ),
        r#"{"token_label":"x"}"#,
        r#"{"token_label":"x","scopes":[]}"#,
        r#"{"token_label":"x","scopes":["repo:delete"]}"#,
        r#"{"token_label":"x","scopes":["repo:read"],"expires_at":"next week"}"#,
        r#"{"token_label":"x","scopes":["repo:read"],"expires_at":"2001-01-01T00:00:00Z"}"#,
        "[]",
        "not json",
    ] {
        let (status, _, body) = create(bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(hub.call("POST", "/v2/access-tokens", &[auth], "{}").0, 415);
    assert_eq!(hub.call("GET", "/v2/access-tokens", &[], "").0, 401);
    assert_eq!(
        hub.call(
            "GET",
            "/v2/access-tokens",
            &[("Authorization", "Bearer forged")],
            ""
        )
        .0,
        401
    );
    assert_eq!(
        hub.call("GET", "/v2/access-tokens?page_size=101", &[auth], "")
            .0,
        400
    );
    assert_eq!(
        hub.call("GET", "/v2/access-tokens?page=9", &[auth], "").0,
        404
    );
    let (uuid, secret) = hub.add_token(USER, "t", &["repo:read"]);
    let path = format!("/v2/access-tokens/{uuid}");
    assert_eq!(hub.call("PATCH", &path, &[json_type, auth], "{}").0, 400);
    assert_eq!(
        hub.call("PATCH", &path, &[json_type, auth], r#"{"is_active":"no"}"#)
            .0,
        400
    );
    assert_eq!(hub.use_directly(USER, &secret), 200);
    assert!(
        hub.token(&uuid).unwrap().last_used.is_some(),
        "a use is recorded"
    );
    assert_eq!(
        hub.call("PATCH", &path, &[json_type, auth], r#"{"is_active":false}"#)
            .0,
        200
    );
    assert_eq!(
        hub.use_directly(USER, &secret),
        401,
        "an inactive token is refused"
    );
    assert_eq!(hub.call("DELETE", &path, &[auth], "").0, 204);
    assert_eq!(hub.call("GET", &path, &[auth], "").0, 404);
    // Two steps for an account with a second factor.
    hub.add_user_with_second_factor("bob", "pw", "123456");
    let (status, _, body) = hub.call(
        "POST",
        "/v2/users/login",
        &[json_type],
        r#"{"username":"bob","password":"pw"}"#,
    );
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "Require secondary authentication on MFA enabled account"
    );
    let challenge = body["login_2fa_token"].as_str().unwrap();
    let second = |code: &str| {
        hub.call(
            "POST",
            "/v2/users/2fa-login",
            &[json_type],
            &serde_json::json!({"login_2fa_token": challenge, "code": code}).to_string(),
        )
    };
    assert_eq!(second("654321").0, 401);
    let (status, _, body) = second("123456");
    assert_eq!(status, 200);
    assert!(body["token"].is_string());
}

#[test]
fn rotate_stores_a_checked_token_the_registry_accepts_and_switches_the_old_one_off() {
    let Setup { env, hub, keyring } = setup();
    let registry = HubRegistry::start(&hub);
    let bridge = bridge(&env);
    login(&env);
    ok(&run_hub(
        &env,
        &words("create --integration ci --scopes write --expires 90 --default"),
    ));
    let old = served(&env).unwrap();
    let old_token = hub.token_with_secret(&old).unwrap();
    registry.push(&env);
    assert!(registry.accepts(&env, &old));
    assert!(!registry.accepts(&env, "dckr_pat_notatokenatallnotatokenat"));

    let out = ok(&run_hub(&env, &["rotate", "ci@docker.io"]));
    let new = served(&env).unwrap();
    assert_ne!(new, old);
    let new_token = hub.token_with_secret(&new).unwrap();
    assert_eq!(
        out,
        format!(
            "Rotated ci@docker.io: the new token {} was checked at Docker Hub and stored, and is in use; it expires on {} (in 90d)\nThe old token {} was deactivated on Docker Hub\n",
            &new_token.uuid[..8],
            new_token.expires_at.unwrap().format("%Y-%m-%d"),
            &old_token.uuid[..8]
        )
    );
    // Same label and scopes, same expiry length; the check counted as a use.
    assert_eq!(new_token.label, old_token.label);
    assert_eq!(new_token.scopes, ["repo:write"]);
    let length =
        |t: &crate::support::hub::HubToken| (t.expires_at.unwrap() - t.created_at).num_minutes();
    assert!((length(&new_token) - length(&old_token)).abs() <= 1);
    assert!(new_token.last_used.is_some());
    assert!(!hub.token(&old_token.uuid).unwrap().is_active);
    assert!(!keyring.holds(&old) && keyring.holds(&new));
    assert_eq!(
        local(&tokens_json(&env), "ci@docker.io")["hub_id"],
        new_token.uuid.as_str()
    );

    // The registry takes the new token (Docker and skopeo get it from the helper) and refuses the old.
    assert!(!registry.accepts(&env, &old));
    assert!(registry.accepts(&env, &new));
    env.write_config_json(&format!(
        "{{\"credHelpers\":{{\"{}\":\"hubpat\"}}}}",
        registry.registry.host
    ));
    let inspected = client(
        &env,
        &bridge,
        "docker",
        &["manifest", "inspect", "--insecure", &registry.reference],
    );
    assert!(
        stdout(&inspected).contains("schemaVersion"),
        "{}",
        stderr(&inspected)
    );
    let authfile = bridged_authfile(&env, &registry.registry);
    ok(&client(
        &env,
        &bridge,
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--authfile",
            &authfile,
            &format!("docker://{}", registry.reference),
        ],
    ));
    let history = ok(&env.run(&["history", "ci@docker.io"], ""));
    assert!(
        history.contains("hub-check") && history.contains("docker") && history.contains("skopeo"),
        "{history}"
    );

    // --delete-old deletes it instead.
    ok(&run_hub(&env, &["rotate", "ci@docker.io", "--delete-old"]));
    assert!(hub.token(&new_token.uuid).is_none());
    let newest = served(&env).unwrap();
    assert!(registry.accepts(&env, &newest));

    // A token without a link cannot be rotated; one that fails its check is taken back.
    ok(&env.store("ghcr.io", "octo", "x"));
    let line = error_line(&run_hub(&env, &["rotate", "default@ghcr.io"]));
    assert!(line.starts_with("rotating default@ghcr.io stopped while reading the token: default@ghcr.io is not a Docker Hub token"), "{line}");
    let before = hub.tokens().len();
    hub.fail_next(500, "");
    let line = error_line(&run_hub(&env, &["rotate", "ci@docker.io"]));
    assert_eq!(
        line,
        "rotating ci@docker.io stopped while reading the token: Docker Hub answered the request to list the tokens with status 500: Docker Hub has a problem of its own; try again later"
    );
    assert_eq!(hub.tokens().len(), before);
    assert_eq!(served(&env).as_deref(), Some(newest.as_str()));
}

#[test]
fn rotate_says_which_step_failed_and_what_is_left() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    login(&env);
    ok(&run_hub(&env, &["create", "--integration", "ci"]));
    let old = served(&env).unwrap();
    let old_uuid = hub.token_with_secret(&old).unwrap().uuid;
    // Hub refuses to create: nothing changes.
    let count = hub.tokens().len();
    let line = error_line(&rotate_failing_at(
        &env,
        &hub,
        2,
        403,
        r#"{"detail": "Token limit reached for your plan"}"#,
    ));
    assert_eq!(
        line,
        "rotating ci@docker.io stopped while creating the new token: Docker Hub refused to create the token: Token limit reached for your plan; ci@docker.io still holds the old token, which stays active and in use"
    );
    assert_eq!(hub.tokens().len(), count);
    assert_eq!(served(&env).as_deref(), Some(old.as_str()));

    // Switching the old token off is refused: the new one is in use, and the line says how to finish.
    let line = error_line(&rotate_failing_at(
        &env,
        &hub,
        4,
        403,
        r#"{"detail": "Not allowed right now"}"#,
    ));
    let new = served(&env).unwrap();
    assert_ne!(new, old);
    assert!(hub.token(&old_uuid).unwrap().is_active);
    assert!(
        line.starts_with("rotating ci@docker.io stopped while switching off the old token:")
            && line.ends_with(&format!(
                "ci@docker.io now holds the new token, which is in use, but the old token {old_uuid} is still active on Docker Hub: `docker-credential-pat hub deactivate {old_uuid}` switches it off"
            )),
        "{line}"
    );
    // The audit points at it, and the next rotation finishes it first.
    let audit = run_hub(&env, &["audit"]);
    assert!(
        stdout(&audit).contains(&format!(
            "replaced Hub token {old_uuid}, which is still active"
        )),
        "{}",
        stdout(&audit)
    );
    let out = ok(&run_hub(&env, &["rotate", "ci@docker.io"]));
    assert!(
        out.starts_with(&format!("First deactivated Docker Hub token {old_uuid}")),
        "{out}"
    );
    assert!(!hub.token(&old_uuid).unwrap().is_active);
    let active: Vec<_> = hub.tokens().into_iter().filter(|t| t.is_active).collect();
    assert_eq!(active.len(), 1, "only the newest token is active");
    assert_eq!(served(&env).as_deref(), Some(active[0].secret.as_str()));
}

/// `hub rotate ci@docker.io` with Hub's answer to its `call`-th request
/// (1 list, 2 create, 3 check, 4 switch off) replaced by `status` and `body`.
fn rotate_failing_at(env: &Env, hub: &HubDouble, call: usize, status: u16, body: &str) -> Output {
    hub.fail_after(call - 1, status, body);
    let output = run_hub(env, &["rotate", "ci@docker.io"]);
    hub.fail_after(0, 0, "");
    output
}

/// The JSON on stdout, whatever the exit status (an audit's 3 included).
fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", stderr(output)))
}

#[test]
fn audit_finds_a_use_made_directly_against_hub() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    let registry = HubRegistry::start(&hub);
    env.write_config_toml("audit_tolerance_minutes = 5\n");
    login(&env);
    assert!(stderr(&run_hub(&env, &["audit"])).contains("no stored token is linked"));
    ok(&run_hub(
        &env,
        &["create", "--integration", "ci", "--scopes", "write"],
    ));
    let out = ok(&run_hub(&env, &["audit"]));
    assert_eq!(
        out,
        "ok         ci@docker.io: Docker Hub has not seen it used\n"
    );

    // Docker's own use: the helper serves the token, the registry asks Hub.
    registry.push(&env);
    let secret = served(&env).unwrap();
    let uuid = hub.token_with_secret(&secret).unwrap().uuid;
    assert!(hub.token(&uuid).unwrap().last_used.is_some());
    let out = ok(&run_hub(&env, &["audit"]));
    assert!(
        out.starts_with("ok         ci@docker.io: Docker Hub's last use ("),
        "{out}"
    );
    assert_eq!(
        stdout_json(&env.run(&["doctor", "--json"], ""))
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "hub-audit")
            .map(|f| f["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["ok"]
    );

    // Twenty minutes later someone else uses it, straight against Hub.
    hub.advance_clock(chrono::Duration::minutes(20));
    assert_eq!(hub.use_directly(USER, &secret), 200);
    let audit = run_hub(&env, &["audit"]);
    assert_eq!(audit.status.code(), Some(3));
    let out = stdout(&audit);
    assert!(
        out.starts_with("suspicious ci@docker.io: Docker Hub saw it used at "),
        "{out}"
    );
    assert!(out.contains("min after the last use known here"), "{out}");
    assert!(
        out.contains("`docker-credential-pat hub rotate ci@docker.io` replaces it, or `docker-credential-pat hub deactivate ci@docker.io` stops it now"),
        "{out}"
    );
    let list = stdout_json(&run_hub(&env, &["audit", "--json"]));
    assert_eq!(list[0]["status"], "suspicious");
    assert_eq!(list[0]["token"], "ci@docker.io");
    assert!(list[0]["hub_last_used"].is_string() && list[0]["known_last_used"].is_string());
    let doctor = env.run(&["doctor"], "");
    assert_eq!(doctor.status.code(), Some(3));
    assert!(
        stdout(&doctor).contains("problem  hub-audit: ci@docker.io: Docker Hub saw it used"),
        "{}",
        stdout(&doctor)
    );

    // A token used on Hub and never here is suspicious too.
    let (other, other_secret) = hub.add_token(USER, "on Hub's page", &["repo:read"]);
    ok(&env.run(
        &["add", "docker.io", "-u", USER, "-i", "laptop"],
        &format!("{other_secret}\n"),
    ));
    ok(&run_hub(&env, &["link", "laptop@docker.io", &other]));
    assert_eq!(hub.use_directly(USER, &other_secret), 200);
    let out = stdout(&run_hub(&env, &["audit"]));
    assert!(
        out.contains("suspicious laptop@docker.io: Docker Hub saw it used at ")
            && out.contains("never used where this helper can see"),
        "{out}"
    );
    // Uses Hub saw before a token was linked here were not this helper's to see.
    let (older, older_secret) = hub.add_token(USER, "used for years", &["repo:read"]);
    assert_eq!(hub.use_directly(USER, &older_secret), 200);
    ok(&env.run(
        &["add", "docker.io", "-u", USER, "-i", "old"],
        &format!("{older_secret}\n"),
    ));
    ok(&run_hub(&env, &["link", "old@docker.io", &older]));
    let out = stdout(&run_hub(&env, &["audit"]));
    assert!(
        out.contains("ok         old@docker.io: Docker Hub's last use ("),
        "{out}"
    );

    // Without a session, doctor leaves Hub alone.
    ok(&run_hub(&env, &["logout"]));
    let doctor = stdout_json(&env.run(&["doctor", "--json"], ""));
    assert!(
        doctor
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["check"] != "hub-audit")
    );
}

/// Secrets of the sign-in and of new tokens (personal and organisation
/// tokens) cross only the sockets to Hub and the Secret Service (and the
/// kernel keyring): no file, argv or environment.
#[test]
fn hub_secrets_go_only_to_hub_the_keychain_and_the_kernel_keyring() {
    require_tool("strace", "strace");
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    let dir = tempfile::tempdir().unwrap();
    let traced = |args: &[&str], input: &str| -> String {
        let log = dir.path().join("strace.log");
        let mut command = env.command("strace");
        command
            .args(["-f", "-yy", "-s", "65536", "-e"])
            .arg("trace=write,pwrite64,writev,pwritev,sendto,sendmsg,execve,add_key,keyctl")
            .arg("-o")
            .arg(&log)
            .arg("--")
            .arg(BIN)
            .args(args);
        ok(&run_with_input(command, input, "traced helper"));
        std::fs::read_to_string(&log).unwrap()
    };
    let check = |trace: &str, secret: &str, allowed: &[&str]| -> usize {
        let mut hits = 0;
        for line in trace.lines().filter(|l| l.contains(secret)) {
            hits += 1;
            assert!(
                allowed.iter().any(|a| line.contains(a)),
                "a secret went elsewhere: {line}"
            );
        }
        hits
    };
    let trace = traced(&["hub", "login", "-u", USER, "--password-stdin"], PASSWORD);
    assert!(
        check(&trace, PASSWORD, &["TCP:[127.0.0.1"]) >= 1,
        "the password went to Hub"
    );
    let jwt = hub.session_tokens().pop().expect("signed in");
    assert!(
        check(&trace, &jwt, &["add_key("]) >= 1,
        "the session went to the kernel keyring"
    );

    let trace = traced(&["hub", "create", "-i", "ci"], "");
    let secret = hub.tokens()[0].secret.clone();
    assert!(check(&trace, &jwt, &["TCP:[127.0.0.1", "keyctl("]) >= 1);
    assert!(
        check(&trace, &secret, &["UNIX-STREAM:", "UNIX:"]) >= 1,
        "the token went to the keychain"
    );

    let trace = traced(&["hub", "rotate", "ci@docker.io"], "");
    let new = hub.tokens().last().unwrap().secret.clone();
    check(&trace, &jwt, &["TCP:[127.0.0.1", "keyctl("]);
    assert!(
        check(&trace, &new, &["UNIX-STREAM:", "UNIX:", "TCP:[127.0.0.1"]) >= 2,
        "checked at Hub, stored in the keychain"
    );

    // The same for an organisation's access token, made and rotated.
    hub.add_org("acme", &[USER]);
    let trace = traced(
        &[
            "hub", "create", "--org", "acme", "-i", "oat", "--repo", "acme/*",
        ],
        "",
    );
    let oat = hub.org_tokens("acme")[0].secret.clone();
    assert!(
        check(&trace, &oat, &["UNIX-STREAM:", "UNIX:"]) >= 1,
        "the organisation token went to the keychain"
    );
    let trace = traced(&["hub", "rotate", "oat@docker.io"], "");
    let new_oat = hub.org_tokens("acme").last().unwrap().secret.clone();
    assert_ne!(new_oat, oat);
    assert!(
        check(
            &trace,
            &new_oat,
            &["UNIX-STREAM:", "UNIX:", "TCP:[127.0.0.1"]
        ) >= 2,
        "checked at Hub, stored in the keychain"
    );
    for secret in [
        PASSWORD,
        jwt.as_str(),
        secret.as_str(),
        new.as_str(),
        oat.as_str(),
        new_oat.as_str(),
    ] {
        assert_not_on_disk(env.root.path(), secret);
    }
}

/// As a person signs in: the password and the code typed at hidden prompts.
/// While Hub takes its time over the code, no process on the machine has the
/// code (or the password) in its command line.
#[test]
fn login_asks_for_the_password_and_code_on_the_terminal_without_echo() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    hub.add_user_with_second_factor("bob", "typed password", "135790");
    hub.http().fault_route(
        "POST",
        "/v2/users/2fa-login",
        crate::support::http_double::Fault::LateAnswer(std::time::Duration::from_secs(2)),
    );
    let terminal = Terminal::start(&env, "login", &format!("'{BIN}' hub login -u bob"));
    terminal.wait_for("Docker Hub password for bob:", 1);
    let helper = terminal.children();
    assert!(
        helper.len() == 1 && helper[0].1.contains("hub login -u bob"),
        "the helper is seen waiting: {helper:?}"
    );
    terminal.type_line("typed password");
    terminal.wait_for("Two-factor authentication code:", 1);
    terminal.type_line("135790");
    // The code is on its way to Hub, which holds it for 2 s: the helper is still running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !hub.saw("135790") {
        assert!(
            std::time::Instant::now() < deadline,
            "the code never reached Hub"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(terminal.children(), helper, "still running");
    assert!(
        !command_lines_with("hub login -u bob").is_empty(),
        "the scan sees the helper's own command line"
    );
    for secret in ["135790", "typed password"] {
        let shown = command_lines_with(secret);
        assert!(shown.is_empty(), "{secret:?} in a command line: {shown:?}");
    }
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("typed password") && !screen.contains("135790"),
        "{screen}"
    );
    assert!(
        screen.contains("Signed in to Docker Hub as bob"),
        "{screen}"
    );
    ok(&run_hub(&env, &["tokens"]));
}

/// The command lines (as `/proc/PID/cmdline` shows them to every user) that contain `text`.
fn command_lines_with(text: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(text))
        .collect()
}

/// The session in the README's "Managing Docker Hub tokens", run against the
/// double and a registry that takes its tokens: every `$` line of its console
/// blocks runs as written, and prints what the README shows, but for token ids,
/// dates and times (each replaced by a placeholder of the same width, so the
/// tables' columns are compared too). The prose between the blocks is done here:
/// CI pushes with `ci@docker.io`, then 25 minutes later the laptop token is used
/// somewhere else.
#[test]
fn readme_hub_session_runs_as_shown() {
    let blocks = console_blocks(readme_section(&readme(), "## Managing Docker Hub tokens"));
    assert_eq!(blocks.len(), 3, "the session is in three console blocks");
    let Setup {
        mut env,
        hub,
        keyring: _keyring,
    } = setup();
    let registry = HubRegistry::start(&hub);
    // The README's terminal is 80 columns wide, on a machine named vm, in a
    // login with a session keyring of its own.
    join_new_session_keyring();
    env.set("COLUMNS", "80");
    env.write_config_toml("machine_name = \"vm\"\n");
    let (laptop_uuid, laptop_secret) = hub.add_token(USER, "laptop", &["repo:read"]);
    let mut commands = 0;
    for (part, block) in blocks.iter().enumerate() {
        match part {
            1 => registry.push(&env),
            2 => {
                hub.advance_clock(chrono::Duration::minutes(25));
                hub.use_directly(USER, &laptop_secret);
            }
            _ => {}
        }
        for (shown, expected) in block {
            let (words, from) = shell_words(shown);
            assert_eq!(words[0], "docker-credential-pat", "{shown}");
            let input = match from.as_deref() {
                None => String::new(),
                Some("password.txt") => PASSWORD.to_owned(),
                Some("laptop-token.txt") => format!("{laptop_secret}\n"),
                Some(other) => panic!("the README reads {other}, which this test does not know"),
            };
            // A short Hub id in the README's command is the laptop token's id here.
            let args: Vec<&str> = words[1..]
                .iter()
                .map(|w| {
                    if is_hub_id(w) {
                        &laptop_uuid[..8]
                    } else {
                        w.as_str()
                    }
                })
                .collect();
            // Exit status 3, attention needed: `hub audit` finds a suspicious use here,
            // and `tokens --expiring` lists a token (README, "Exit status").
            let attention =
                args.starts_with(&["hub", "audit"]) || args.starts_with(&["tokens", "--expiring"]);
            let code = if attention { 3 } else { 0 };
            runs_as_shown(&env, (shown, expected), &args, &input, code);
            commands += 1;
        }
    }
    assert_eq!(commands, 10, "the README's session has ten commands");
}

fn is_hub_id(word: &str) -> bool {
    word.len() == 8
        && word
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A machine whose tokens are on the OpenBao dev server, pointed at `hub`.
fn team_machine(server: &DevServer, hub: &HubDouble, name: &str) -> Env {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN)
        .set("DOCKER_PAT_HUB_URL", &hub.url);
    env.write_config_toml(&format!("machine_name = \"{name}\"\n"));
    env
}

/// The custom metadata the server keeps for `ci@docker.io`.
fn server_metadata(server: &DevServer) -> serde_json::Value {
    let read: serde_json::Value = serde_json::from_str(&server.ok(&words(
        "kv metadata get -format=json secret/docker-credential-pat/docker.io/ci",
    )))
    .unwrap();
    read["data"]["custom_metadata"].clone()
}

/// The Hub flow with the team backend: created on a workstation, served to
/// a runner through the protocol, rotated, audited with the runner's uses.
#[test]
fn create_serve_rotate_and_audit_work_on_the_team_server() {
    let server = DevServer::start();
    let hub = HubDouble::start();
    hub.add_user(USER, PASSWORD);
    let registry = HubRegistry::start(&hub);
    let laptop = team_machine(&server, &hub, "laptop");
    let runner = team_machine(&server, &hub, "runner-7");
    login(&laptop);

    let out = ok(&run_hub(
        &laptop,
        &words("create --integration ci --scopes write --expires 90"),
    ));
    assert!(
        out.contains("Stored it in the OpenBao server; it is Docker Hub's default token here"),
        "{out}"
    );
    let old = served(&runner).expect("the runner serves the new token at once");
    let old_token = hub.token_with_secret(&old).unwrap();
    let custom = server_metadata(&server);
    let link: serde_json::Value = serde_json::from_str(custom["hub"].as_str().unwrap()).unwrap();
    assert_eq!(link["uuid"], old_token.uuid.as_str(), "{custom}");
    assert_eq!(link["scopes"], serde_json::json!(["repo:write"]));
    assert!(
        custom["expires_at"].as_str().unwrap().ends_with('Z'),
        "{custom}"
    );
    assert!(
        absent(&laptop.pat_home().join("index.json"))
            && absent(&runner.pat_home().join("index.json")),
        "nothing in a local index"
    );

    // Docker on the runner pushes with it; only the runner has used it.
    registry.push(&runner);
    assert!(hub.token(&old_token.uuid).unwrap().last_used.is_some());
    let listed = json(&run_hub(&laptop, &["tokens", "--json"]));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["uuid"] == old_token.uuid.as_str())
        .unwrap();
    assert_eq!(row["local"], "ci@docker.io");
    assert!(
        row["local_last_used"].is_string(),
        "the runner's use: {row}"
    );
    let out = ok(&run_hub(&laptop, &["audit"]));
    assert!(
        out.starts_with("ok         ci@docker.io: Docker Hub's last use ("),
        "the runner's use, reported to the server, accounts for Hub's: {out}"
    );

    // Rotated on the laptop: the runner serves the new token on its next pull.
    ok(&run_hub(&laptop, &["rotate", "ci@docker.io"]));
    let new = served(&runner).unwrap();
    assert_ne!(new, old);
    let new_token = hub.token_with_secret(&new).unwrap();
    assert!(!hub.token(&old_token.uuid).unwrap().is_active);
    let custom = server_metadata(&server);
    let link: serde_json::Value = serde_json::from_str(custom["hub"].as_str().unwrap()).unwrap();
    assert_eq!(link["uuid"], new_token.uuid.as_str(), "{custom}");
    assert!(
        link.get("retiring").is_none(),
        "the old one is switched off: {link}"
    );
    assert!(registry.accepts(&runner, &new));
    assert!(!registry.accepts(&runner, &old));
    let out = ok(&run_hub(&laptop, &["audit"]));
    assert!(out.starts_with("ok         ci@docker.io: "), "{out}");

    // The runner signs in too: the laptop's check of the new token counts there.
    login(&runner);
    let out = ok(&run_hub(&runner, &["audit"]));
    assert!(
        out.starts_with("ok         ci@docker.io: Docker Hub's last use ("),
        "{out}"
    );

    // A use nobody in the fleet made is found from any machine.
    hub.advance_clock(chrono::Duration::minutes(20));
    assert_eq!(hub.use_directly(USER, &new), 200);
    let audit = run_hub(&runner, &["audit"]);
    assert_eq!(audit.status.code(), Some(3), "{}", stdout(&audit));
    assert!(
        stdout(&audit).starts_with("suspicious ci@docker.io: Docker Hub saw it used at "),
        "{}",
        stdout(&audit)
    );

    // Expiry travels too: once it has passed, `get` says so, once a day.
    server.ok(&words("kv metadata patch -custom-metadata=expires_at=2020-01-01T00:00:00Z secret/docker-credential-pat/docker.io/ci"));
    let first = runner.get("docker.io");
    assert_eq!(ok(&first), get_reply("docker.io", USER, &new));
    assert!(
        stderr(&first).contains(
            "ci@docker.io expired on 2020-01-01; the registry will refuse it, so rotate it: `docker-credential-pat hub rotate ci@docker.io`"
        ),
        "{}",
        stderr(&first)
    );
    assert_eq!(stderr(&runner.get("docker.io")), "");
    let tokens = json(&laptop.run(&["tokens", "--json"], ""));
    assert_eq!(tokens[0]["expires_at"], "2020-01-01T00:00:00Z");
    assert_eq!(tokens[0]["hub_id"], new_token.uuid.as_str());
}
