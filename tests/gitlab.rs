//! `gitlab …` against the GitLab double (tests/support/gitlab.rs), with the
//! real GNOME Keyring, and Debian's registry taking its tokens from the
//! double, reached through Docker and skopeo: a token created or rotated is
//! what `docker manifest inspect` then uses, a revoked one is refused.

use crate::support::gitlab_setup::*;
use crate::support::http_double::Fault;
use crate::support::*;

#[test]
fn login_keeps_the_api_token_in_the_kernel_keyring_only_and_logout_drops_it() {
    let setup = setup();
    let env = &setup.env;
    let host = &setup.host;
    let tokens = || run_gitlab(env, &["tokens", "--registry", host]);
    assert_eq!(
        error_line(&tokens()),
        format!(
            "not logged in to GitLab (127.0.0.1:{}) for {host}: run `docker-credential-pat gitlab login --registry {host} --token-stdin` with a token that has the api scope",
            setup.gitlab.http().port()
        )
    );
    let unknown = env.run(
        &["gitlab", "login", "--registry", host, "--token-stdin"],
        "glpat-notatokenatgitlab000",
    );
    assert!(error_line(&unknown).contains("refused that token"));
    let alice = setup.gitlab.tokens()[0].user_id;
    let (_, reader) = setup
        .gitlab
        .add_personal_token(alice, "reader", &["read_registry"]);
    let weak = env.run(
        &["gitlab", "login", "--registry", host, "--token-stdin"],
        &reader,
    );
    assert!(
        error_line(&weak).contains("managing tokens needs `api`"),
        "{}",
        stderr(&weak)
    );

    let out = login(&setup);
    assert!(
        out.starts_with(&format!(
            "Logged in to GitLab (127.0.0.1:{}) for {host} with token 1 (manage) for 8 h;",
            setup.gitlab.http().port()
        )),
        "{out}"
    );
    let listed = ok(&tokens());
    assert!(
        listed.contains("manage") && listed.contains("reader"),
        "{listed}"
    );
    assert_not_on_disk(env.root.path(), &setup.manage);
    assert!(
        !setup.keyring.holds(&setup.manage),
        "not in the keychain either"
    );

    assert!(ok(&run_gitlab(env, &["logout", "--registry", host])).starts_with("Logged out"));
    assert!(error_line(&tokens()).starts_with("not logged in"));
    // A login GitLab stops accepting is dropped at the first refusal.
    login(&setup);
    setup.gitlab.revoke(1);
    assert!(error_line(&tokens()).starts_with("not logged in"));
}

#[test]
fn create_stores_a_project_token_docker_uses_and_tokens_shows_gitlabs_view() {
    let setup = logged_in("");
    let env = &setup.env;
    let out = create_ci(&setup, "read_registry,write_registry");
    assert!(
        out.starts_with(&format!(
            "Created ci@{} at GitLab (127.0.0.1:{}) as project team/app token 2",
            setup.host,
            setup.gitlab.http().port()
        )),
        "{out}"
    );
    let made = setup.gitlab.token(2).unwrap();
    assert!(!out.contains(&made.secret), "the secret is never shown");
    assert_eq!(made.access_level, Some(30));
    assert_eq!(
        made.expires_at,
        Some(setup.gitlab.today() + chrono::Duration::days(30))
    );
    assert_eq!(
        served(env, &setup.host).as_deref(),
        Some(made.secret.as_str())
    );
    push(&setup);
    assert!(docker_reads(&setup));

    let listed = project_tokens(&setup);
    let row = &listed[0];
    assert_eq!(row["id"], "2");
    assert_eq!(row["local"], format!("ci@{}", setup.host));
    assert_eq!(row["state"], "active");
    assert!(row["last_used_at"].is_string(), "the push was a use: {row}");

    // `tokens` shows GitLab's view, from what the last call recorded: no call of its own.
    let calls = setup.gitlab.http().calls();
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(setup.gitlab.http().calls(), calls, "tokens calls nobody");
    let seen = &mine[0]["registry_view"];
    assert_eq!(seen["state"], "active", "{mine}");
    assert_eq!(
        seen["scopes"],
        serde_json::json!(["read_registry", "write_registry"])
    );
    assert!(seen["last_used_at"].is_string(), "{seen}");
    assert_eq!(mine[0]["remote_id"], "2");
    let table = ok(&env.run(&["tokens"], ""));
    assert!(table.contains("active"), "{table}");
}

#[test]
fn rotate_with_the_login_stores_the_new_token_and_gitlab_refuses_the_old_one() {
    let setup = logged_in("");
    let env = &setup.env;
    create_ci(&setup, "read_registry,write_registry");
    push(&setup);
    let old = served(env, &setup.host).unwrap();
    let out = ok(&run_gitlab(env, &["rotate", &format!("ci@{}", setup.host)]));
    assert!(
        out.contains("GitLab revoked token 2 and issued token 3, which is stored and in use"),
        "{out}"
    );
    let new = served(env, &setup.host).unwrap();
    assert_ne!(new, old);
    assert!(setup.gitlab.token(2).unwrap().revoked);
    assert!(setup.gitlab.accepts(&new) && !setup.gitlab.accepts(&old));
    let fresh = setup.gitlab.token(3).unwrap();
    assert_eq!(
        fresh.expires_at,
        Some(setup.gitlab.today() + chrono::Duration::days(30)),
        "as long as the old one"
    );
    assert!(docker_reads(&setup), "Docker uses the new token");
    assert!(setup.gitlab.reuse_detections().is_empty());
    assert!(
        posted(&setup, "/access_tokens/2/rotate"),
        "rotated by id with the login"
    );
}

#[test]
fn a_token_with_self_rotate_rotates_itself_without_a_login() {
    let setup = logged_in("");
    let env = &setup.env;
    create_ci(&setup, "read_registry,write_registry,self_rotate");
    push(&setup);
    ok(&run_gitlab(env, &["logout", "--registry", &setup.host]));
    let out = ok(&run_gitlab(env, &["rotate", &format!("ci@{}", setup.host)]));
    assert!(
        out.contains("Rotated ci@") && out.contains("with itself"),
        "{out}"
    );
    let new = served(env, &setup.host).unwrap();
    assert_eq!(setup.gitlab.token_with_secret(&new).unwrap().id, 3);
    assert!(posted(&setup, "/access_tokens/self/rotate"));
    assert!(docker_reads(&setup));
    // Rotated elsewhere: the stored token is never presented to a rotate call again.
    setup.gitlab.rotate_directly(3);
    let refused = run_gitlab(env, &["rotate", &format!("ci@{}", setup.host)]);
    assert!(
        error_line(&refused).contains("so it was not presented to a rotate call"),
        "{}",
        stderr(&refused)
    );
    assert!(setup.gitlab.reuse_detections().is_empty());
}

#[test]
fn revoke_stops_the_token_at_gitlab_and_deletes_it_here() {
    let setup = logged_in("");
    let env = &setup.env;
    create_ci(&setup, "read_registry,write_registry");
    push(&setup);
    let name = format!("ci@{}", setup.host);
    let out = ok(&run_gitlab(env, &["revoke", &name]));
    assert!(
        out.starts_with(&format!("Revoked {name}'s token 2 at GitLab")),
        "{out}"
    );
    assert!(setup.gitlab.token(2).unwrap().revoked);
    assert!(served(env, &setup.host).is_none());
    assert!(
        !docker_reads(&setup),
        "the registry refuses a revoked token"
    );
    // By id, of a token not stored here.
    let (id, _) = setup
        .gitlab
        .add_project_token(setup.project, "other", &["read_registry"], 20);
    let out = ok(&run_gitlab(
        env,
        &[
            "revoke",
            &id.to_string(),
            "--registry",
            &setup.host,
            "--project",
            "team/app",
        ],
    ));
    assert!(out.contains("(not stored here)"), "{out}");
    assert!(setup.gitlab.token(id).unwrap().revoked);
}

#[test]
fn audit_flags_a_use_gitlab_saw_that_nobody_here_made() {
    let setup = logged_in("");
    let env = &setup.env;
    create_ci(&setup, "read_registry,write_registry");
    push(&setup);
    let audit = |json_out: bool| {
        let mut args = vec!["audit", "--registry", setup.host.as_str()];
        if json_out {
            args.push("--json");
        }
        run_gitlab(env, &args)
    };
    let clean = audit(false);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("matches a use known here"),
        "{}",
        stdout(&clean)
    );
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    setup.gitlab.set_last_used(2, later, "203.0.113.9");
    let flagged = audit(false);
    assert_eq!(flagged.status.code(), Some(3), "{}", stdout(&flagged));
    assert!(
        stdout(&flagged).contains("suspicious"),
        "{}",
        stdout(&flagged)
    );
    assert!(
        stdout(&flagged).contains("gitlab rotate ci@")
            && stdout(&flagged).contains("gitlab revoke ci@"),
        "{}",
        stdout(&flagged)
    );
    let items: serde_json::Value = serde_json::from_str(&stdout(&audit(true))).unwrap();
    assert_eq!(items[0]["status"], "suspicious", "{items}");

    // doctor runs the same audit while the GitLab login is kept, and says
    // where that login is kept.
    let doctor = stdout(&env.run(&["doctor"], ""));
    let flagged_line = doctor
        .lines()
        .find(|l| l.contains("gitlab-audit"))
        .unwrap_or_else(|| panic!("no GitLab audit: {doctor}"));
    assert!(flagged_line.contains("ci@"), "{doctor}");
    assert!(doctor.contains("gitlab rotate ci@"), "{doctor}");
    assert!(
        doctor
            .lines()
            .any(|l| l.contains("caches") && l.contains("the GitLab login for")),
        "{doctor}"
    );
    // Without a login it says the audit was not made, and never asks for one.
    ok(&run_gitlab(env, &["logout", "--registry", &setup.host]));
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains("not audited here: no `gitlab login` is kept"),
        "{doctor}"
    );
    assert!(!doctor.contains("the GitLab login for"), "{doctor}");
}

#[test]
fn reads_wait_out_a_short_429_and_creates_are_never_sent_twice() {
    let setup = logged_in("");
    let env = &setup.env;
    let tokens = || run_gitlab(env, &["tokens", "--registry", &setup.host]);
    setup.gitlab.throttle(1, 1);
    ok(&tokens());
    setup.gitlab.throttle(1, 3600);
    let line = error_line(&tokens());
    assert!(
        line.contains("rate limit was reached: retry after") && line.contains(" UTC (in 59 min"),
        "{line}"
    );
    setup.gitlab.throttle(1, 1);
    let before = setup.gitlab.http().calls();
    let line = error_line(&create(env, &setup.host, "ci", &[]));
    assert!(line.contains("rate limit"), "{line}");
    let creates = setup.gitlab.http().events()[before..]
        .iter()
        .filter(|e| e.method == "POST")
        .count();
    assert_eq!(creates, 1, "a create is never sent twice");
    assert!(served(env, &setup.host).is_none());
}

#[test]
fn every_page_of_a_listing_is_read() {
    let setup = setup();
    login(&setup);
    for n in 0..230 {
        setup
            .gitlab
            .add_project_token(setup.project, &format!("bot-{n}"), &["read_registry"], 20);
    }
    let listed = project_tokens(&setup);
    assert_eq!(listed.as_array().unwrap().len(), 230);
    let pages = setup
        .gitlab
        .http()
        .events()
        .iter()
        .filter(|e| e.path().ends_with("/access_tokens"))
        .count();
    assert_eq!(pages, 3, "100 a page");
}

#[test]
fn plain_http_is_refused_except_to_loopback_naming_the_setting() {
    let setup = setup();
    let mut env = Env::new(&setup.keyring);
    env.write_config_toml(
        "[registries.\"gitlab.example.com\"]\nkind = \"gitlab\"\napi = \"http://gitlab.example.com/api/v4\"\n",
    );
    let line = error_line(&env.run(
        &["gitlab", "tokens", "--registry", "gitlab.example.com"],
        "",
    ));
    assert!(
        line.contains("[registries.\"gitlab.example.com\"]")
            && line.contains("only for a loopback address"),
        "{line}"
    );
    env.write_config_toml("");
    env.set("DOCKER_PAT_GITLAB_API", "http://gitlab.example.com/api/v4");
    let line = error_line(&env.run(&["gitlab", "tokens"], ""));
    assert!(
        line.starts_with("DOCKER_PAT_GITLAB_API") && line.contains("loopback"),
        "{line}"
    );
    env.set("DOCKER_PAT_GITLAB_API", &setup.gitlab.api_url());
    let line = error_line(&env.run(
        &["gitlab", "tokens", "--registry", "gitlab.example.com"],
        "",
    ));
    assert!(
        line.starts_with("not logged in to GitLab (127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn a_token_expiring_soon_is_flagged_by_tokens_expiring_and_doctor() {
    let setup = logged_in("");
    let env = &setup.env;
    ok(&create(env, &setup.host, "ci", &["--expires", "5"]));
    let soon = env.run(&["tokens", "--expiring"], "");
    assert_eq!(soon.status.code(), Some(3), "{}", stdout(&soon));
    assert!(stdout(&soon).contains(&format!("ci@{}", setup.host)));
    let doctor = env.run(&["doctor"], "");
    assert!(
        stdout(&doctor).contains(&format!("ci@{}", setup.host))
            && stdout(&doctor).contains("expires"),
        "{}",
        stdout(&doctor)
    );
}

#[test]
fn a_rotate_whose_answer_is_lost_is_finished_by_the_next_run_without_reuse() {
    for fault in [
        Fault::Drop,
        Fault::Status(500),
        Fault::LateAnswer(std::time::Duration::from_secs(3)),
    ] {
        let setup = setup_with("registry_timeout_seconds = 1");
        let env = &setup.env;
        login(&setup);
        create_ci(&setup, "read_registry,write_registry");
        push(&setup);
        let name = format!("ci@{}", setup.host);
        setup
            .gitlab
            .http()
            .fault_route("POST", "/rotate", fault.clone());
        let first = run_gitlab(env, &["rotate", &name]);
        let line = error_line(&first);
        assert!(
            line.contains("rotating the token at GitLab"),
            "{fault:?}: {line}"
        );
        let again = run_gitlab(env, &["rotate", &name]);
        ok(&again);
        let now = served(env, &setup.host).unwrap();
        assert!(
            setup.gitlab.accepts(&now),
            "{fault:?}: a working token is stored"
        );
        assert!(docker_reads(&setup), "{fault:?}");
        assert!(
            setup.gitlab.reuse_detections().is_empty(),
            "{fault:?}: {:?}",
            setup.gitlab.reuse_detections()
        );
        let live: Vec<u64> = setup
            .gitlab
            .tokens()
            .iter()
            .filter(|t| t.active(setup.gitlab.today()) && t.name != "manage")
            .map(|t| t.id)
            .collect();
        assert_eq!(
            live.len(),
            1,
            "{fault:?}: no live token nobody holds: {live:?}"
        );
    }
}

/// The GitLab flow with the team backend: created on a laptop, served to a
/// runner through the protocol, audited with the runner's uses, rotated on
/// the laptop and served by the runner at once. The laptop's requests are
/// counted: `rotate` reads the token, record and secret, in one request.
#[test]
fn create_audit_and_rotate_work_on_the_team_server_with_the_fleets_last_use() {
    use crate::support::faultproxy::FaultProxy;
    use crate::support::openbao::{DevServer, ROOT_TOKEN};
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let setup = setup();
    let machine = |name: &str| {
        let mut env = Env::without_keychain();
        let address = if name == "laptop" {
            proxy.url()
        } else {
            server.url()
        };
        env.set("DOCKER_PAT_BACKEND", "openbao")
            .set("BAO_ADDR", &address)
            .set("BAO_TOKEN", ROOT_TOKEN);
        env.write_config_toml(&format!(
            "machine_name = \"{name}\"\n[registries.\"{}\"]\nkind = \"gitlab\"\napi = \"{}\"\n",
            setup.host,
            setup.gitlab.api_url()
        ));
        env.write_config_json(&format!(
            "{{\"credHelpers\":{{\"{}\":\"pat\"}}}}",
            setup.host
        ));
        env
    };
    let laptop = machine("laptop");
    let runner = machine("runner-7");
    let name = format!("ci@{}", setup.host);
    login_on(&laptop, &setup);
    ok(&create(&laptop, &setup.host, "ci", PUSHER));
    let old = served(&runner, &setup.host).expect("the runner serves it at once");
    ok(&runner.push_small_image(&reference(&setup)));
    let audit = run_gitlab(&laptop, &["audit", "--registry", &setup.host]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
    assert!(
        stdout(&audit).contains("matches a use known here"),
        "the runner's use, reported to the server, accounts for GitLab's: {}",
        stdout(&audit)
    );
    proxy.reset();
    ok(&run_gitlab(&laptop, &["rotate", &name]));
    let read = format!(
        "GET /v1/secret/data/docker-credential-pat/{}/ci",
        setup.host
    );
    // Once for record and secret, then before each write: the intent, the new secret.
    let seen = proxy.seen();
    assert_eq!(
        seen.iter().filter(|r| **r == read).count(),
        3,
        "rotate: {seen:?}"
    );
    let new = served(&runner, &setup.host).unwrap();
    assert_ne!(new, old);
    assert!(setup.gitlab.accepts(&new) && !setup.gitlab.accepts(&old));
    ok(&runner.docker_inspect(&reference(&setup)));
    let custom = server.ok(&[
        "kv",
        "metadata",
        "get",
        "-format=json",
        &format!("secret/docker-credential-pat/{}/ci", setup.host),
    ]);
    let custom: serde_json::Value = serde_json::from_str(&custom).unwrap();
    let link: serde_json::Value = serde_json::from_str(
        custom["data"]["custom_metadata"]["remote"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        link["id"],
        setup.gitlab.token_with_secret(&new).unwrap().id.to_string()
    );
    assert!(link.get("rotating").is_none(), "{link}");
    // A use nobody in the fleet made is found from any machine.
    login_on(&runner, &setup);
    let id = setup.gitlab.token_with_secret(&new).unwrap().id;
    setup.gitlab.set_last_used(
        id,
        chrono::Utc::now() + chrono::Duration::hours(1),
        "198.51.100.7",
    );
    let audit = run_gitlab(&runner, &["audit", "--registry", &setup.host]);
    assert_eq!(audit.status.code(), Some(3), "{}", stdout(&audit));
    assert!(setup.gitlab.reuse_detections().is_empty());
    // `link` of a token made at GitLab and added here: one read, then one before its write.
    let alice = setup.gitlab.tokens()[0].user_id;
    let (_, personal) = setup
        .gitlab
        .add_personal_token(alice, "laptop", &["read_registry"]);
    ok(&laptop.run(&["add", &setup.host, "-u", USER, "-i", "laptop"], &personal));
    proxy.reset();
    ok(&run_gitlab(
        &laptop,
        &["link", &format!("laptop@{}", setup.host)],
    ));
    let read = format!(
        "GET /v1/secret/data/docker-credential-pat/{}/laptop",
        setup.host
    );
    let seen = proxy.seen();
    assert_eq!(
        seen.iter().filter(|r| **r == read).count(),
        2,
        "link: {seen:?}"
    );
}

/// The common case: a personal token made in GitLab's settings and stored
/// by `docker login`, linked, then rotating itself with no login kept.
#[test]
fn a_personal_token_stored_by_docker_login_is_linked_and_rotates_itself() {
    let setup = setup();
    let env = &setup.env;
    let alice = setup.gitlab.tokens()[0].user_id;
    let (id, laptop) = setup.gitlab.add_personal_token(
        alice,
        "laptop",
        &["read_registry", "write_registry", "self_rotate"],
    );
    ok(&env.docker_login(&setup.host, USER, &laptop));
    push(&setup);
    let name = format!("default@{}", setup.host);
    let unlinked = run_gitlab(env, &["rotate", &name]);
    assert!(
        error_line(&unlinked).contains("is not linked to a GitLab token"),
        "{}",
        stderr(&unlinked)
    );
    let out = ok(&run_gitlab(env, &["link", &name]));
    assert!(
        out.starts_with(&format!("Linked {name} to GitLab (127.0.0.1:")),
        "{out}"
    );
    assert!(
        out.contains(&format!("personal token {id} (\"laptop\")")),
        "{out}"
    );
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine[0]["remote_id"], id.to_string());
    assert!(mine[0]["expires_at"].is_string(), "GitLab's expiry: {mine}");
    let out = ok(&run_gitlab(env, &["rotate", &name]));
    assert!(out.contains("with itself"), "{out}");
    let new = served(env, &setup.host).unwrap();
    assert_ne!(new, laptop);
    assert!(setup.gitlab.accepts(&new) && !setup.gitlab.accepts(&laptop));
    assert!(docker_reads(&setup));
    assert!(setup.gitlab.reuse_detections().is_empty());
}

#[test]
fn every_gitlab_command_has_help_and_bad_input_is_one_line_changing_nothing() {
    let setup = logged_in("");
    let env = &setup.env;
    for command in [
        "login", "logout", "tokens", "link", "create", "rotate", "revoke", "audit",
    ] {
        let help = ok(&env.run(&["gitlab", command, "--help"], ""));
        assert!(
            help.contains("Usage: docker-credential-pat gitlab"),
            "{command}: {help}"
        );
    }
    let host = setup.host.as_str();
    let calls = setup.gitlab.http().calls();
    let before = env.index_bytes();
    for (args, expected) in [
        (
            vec!["create", "--registry", host, "--integration", "ci"],
            "give --project ID or --group ID",
        ),
        (
            vec![
                "create",
                "--registry",
                host,
                "-i",
                "ci",
                "--group",
                "team",
                "--role",
                "wizard",
            ],
            "unknown role \"wizard\"",
        ),
        (
            vec![
                "create",
                "--registry",
                host,
                "-i",
                "ci",
                "--group",
                "team",
                "--scopes",
                "read registry",
            ],
            "--scopes \"read registry\"",
        ),
        (
            vec![
                "create",
                "--registry",
                host,
                "-i",
                "ci",
                "--group",
                "team",
                "--expires",
                "soon",
            ],
            "soon",
        ),
        (
            vec![
                "create",
                "--registry",
                host,
                "-i",
                "bad name",
                "--group",
                "team",
            ],
            "bad name",
        ),
        (
            vec!["rotate", "nobody@registry.gitlab.com"],
            "no token named nobody@registry.gitlab.com",
        ),
        (vec!["tokens", "--registry", "a b"], "--registry \"a b\""),
        (
            vec!["tokens", "--registry", host, "--project", "../../users"],
            "not a project or group id",
        ),
        (vec!["revoke", "12/../13", "--registry", host], "12/../13"),
    ] {
        let output = run_gitlab(env, &args);
        let code = output.status.code();
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            code == Some(1) || code == Some(2),
            "{args:?}: {code:?} {text}"
        );
        assert_eq!(
            stderr(&output).trim_end().lines().count(),
            1,
            "{args:?}: one line: {text}"
        );
        assert!(!text.contains("panicked"), "{args:?}: {text}");
        if code == Some(1) {
            assert!(text.contains(expected), "{args:?}: {text}");
        }
    }
    assert_eq!(
        setup.gitlab.http().calls(),
        calls,
        "nothing asked of GitLab"
    );
    assert_eq!(env.index_bytes(), before, "nothing written");
}

/// The session in the README's "GitLab", run against the double and the
/// registry it feeds: every `$` line runs as written (the README's two ports
/// are this test's), in an 80-column terminal on a machine named vm, and
/// prints what the README shows, but for dates and times. The prose between
/// the blocks is done here: CI pushes with `ci@…`, `old-deploy` was made in
/// GitLab's settings, and 25 minutes later GitLab sees the CI token used.
#[test]
fn readme_gitlab_session_runs_as_shown() {
    use crate::support::readme::*;

    let blocks = console_blocks(readme_section(&readme(), "## GitLab"));
    assert_eq!(blocks.len(), 3, "the session is in three console blocks");
    let mut setup = setup_with("machine_name = \"vm\"");
    setup.env.set("COLUMNS", "80");
    let registry_port = setup.host.rsplit(':').next().unwrap().to_owned();
    let api_port = setup.gitlab.http().port().to_string();
    // GitLab's tokens die at midnight UTC of their expiry date, so the day
    // count, to the nearest day, is one more before noon UTC than the README's.
    let morning = {
        use chrono::Timelike;
        chrono::Utc::now().num_seconds_from_midnight() <= 43_200
    };
    let days = |shown: u32| format!("in {}d", shown + u32::from(morning));
    let here = |text: &str| {
        text.replace("42545", &registry_port)
            .replace("42801", &api_port)
            .replace("in 89d", &days(89))
            .replace("in 364d", &days(364))
    };
    let mut commands = 0;
    for (part, block) in blocks.iter().enumerate() {
        match part {
            1 => {
                push(&setup);
                let (id, _) = setup.gitlab.add_project_token(
                    setup.project,
                    "old-deploy",
                    &["read_registry"],
                    20,
                );
                assert_eq!(id, 3, "the README's old-deploy is token 3");
            }
            2 => {
                let ci = setup.gitlab.token(2).expect("ci is token 2");
                let later = chrono::Utc::now() + chrono::Duration::minutes(25);
                setup.gitlab.set_last_used(ci.id, later, "203.0.113.9");
            }
            _ => {}
        }
        for (shown, expected) in block {
            let (shown, expected) = (here(shown), here(expected));
            let (words, from) = shell_words(&shown);
            assert_eq!(words[0], "docker-credential-pat", "{shown}");
            let input = match from.as_deref() {
                None => "",
                Some("api-token.txt") => setup.manage.as_str(),
                Some(other) => panic!("the README reads {other}, which this test does not know"),
            };
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            // Exit status 3, attention needed: the audit finds a suspicious use.
            let code = if args.starts_with(&["gitlab", "audit"]) {
                3
            } else {
                0
            };
            runs_as_shown(&setup.env, (&shown, &expected), &args, input, code);
            commands += 1;
        }
    }
    assert_eq!(commands, 7, "the README's session has seven commands");
}
