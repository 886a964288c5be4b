//! `github …` and the first store of a ghcr.io token, against the GitHub
//! double (tests/support/github.rs) with the real GNOME Keyring, and
//! Debian's registry taking the double as its token service (as ghcr.io
//! does GitHub's), reached through Docker: a token stored is what `docker
//! manifest inspect` then uses, a revoked one is refused.

use chrono::Utc;

use crate::support::github::GithubDouble;
use crate::support::github_setup::*;
use crate::support::http_double::Fault;
use crate::support::*;

#[test]
fn docker_login_checks_a_new_token_once_and_tokens_shows_githubs_view() {
    let setup = setup();
    let env = &setup.env;
    let token = logged_in(&setup, Some(30));
    assert_eq!(checks(&setup), 1, "the first store checks the token");
    assert!(docker_reads(&setup));

    let mine = json(&env.run(&["tokens", "--json"], ""));
    let row = &mine[0];
    assert_eq!(row["remote_api"], "github", "{row}");
    assert_eq!(row["remote_id"], USER, "GitHub's login: {row}");
    let seen = &row["registry_view"];
    assert_eq!(seen["state"], "active");
    assert_eq!(seen["scopes"], serde_json::json!(PUSH));
    assert!(seen["seen_at"].is_string(), "{seen}");
    let expiry = setup.github.token_with_secret(&token).unwrap().expires_at;
    let recorded: chrono::DateTime<Utc> = row["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(Some(recorded.timestamp()), expiry.map(|e| e.timestamp()));
    let table = ok(&env.run(&["tokens", "--wide"], ""));
    assert!(
        table.contains("active (read:packages,write:packages; checked"),
        "{table}"
    );

    // The same secret again (every `docker login` stores it): no call.
    ok(&env.store(&setup.host, USER, &token));
    ok(&setup.env.docker_login(&setup.host, USER, &token));
    assert_eq!(checks(&setup), 1, "only a new secret is checked");
    // `get` makes no call.
    let calls = setup.github.http().calls();
    assert!(served(env, &setup.host).is_some());
    assert!(docker_reads(&setup));
    assert_eq!(
        checks(&setup),
        1,
        "get asks GitHub nothing ({} calls before)",
        calls
    );
}

#[test]
fn a_store_warns_on_stderr_only_and_always_keeps_the_token() {
    let setup = setup();
    let env = &setup.env;
    let host = setup.host.as_str();
    let expect = |secret: &str, user: &str, warning: &str| {
        let out = env.store(host, user, secret);
        ok(&out);
        assert!(
            out.stdout.is_empty(),
            "stdout stays the protocol's: {out:?}"
        );
        let err = stderr(&out);
        assert!(err.contains(warning), "{warning}: {err}");
        assert!(!err.contains(secret), "{err}");
        assert_eq!(served(env, host).as_deref(), Some(secret), "stored anyway");
    };
    // Without a packages scope, pulls and pushes fail.
    let (_, repo_only) = setup.github.add_classic_token(USER, &["repo"], None);
    expect(
        &repo_only,
        USER,
        "has neither read:packages nor write:packages",
    );
    let (_, pull_only) = setup
        .github
        .add_classic_token(USER, &["read:packages"], None);
    expect(&pull_only, USER, "has no write:packages: pushes to");
    let (_, fine) = setup.github.add_fine_grained_token(USER, None);
    expect(
        &fine,
        USER,
        "is a fine-grained token: ghcr.io accepts only classic tokens",
    );
    let (_, other) = setup.github.add_classic_token("hubot", PUSH, None);
    expect(
        &other,
        USER,
        "is GitHub user hubot's token but is stored with username octocat",
    );
    let unknown = "ghp_000000000000000000000000000000000000";
    expect(unknown, USER, "GitHub refused the token just stored");
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains(&format!(
            "GitHub refused default@{host} when it was last checked"
        )),
        "{doctor}"
    );
    // A good token says nothing.
    let (_, good) = setup.github.add_classic_token(USER, PUSH, None);
    let out = env.store(host, USER, &good);
    ok(&out);
    assert_eq!(stderr(&out), "", "nothing to say of a good token");

    // GitHub slow or away: the store waits a few seconds at most, and says how to check later.
    let (_, slow) = setup.github.add_classic_token(USER, PUSH, None);
    setup
        .github
        .http()
        .fault_call(1, Fault::Delay(std::time::Duration::from_secs(20)));
    let started = std::time::Instant::now();
    expect(&slow, USER, "could not be checked with GitHub");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "bounded: {:?}",
        started.elapsed()
    );
    let out = env.store(host, USER, &{
        let (_, t) = setup.github.add_classic_token(USER, PUSH, None);
        setup.github.http().fault_call(1, Fault::Status(502));
        t
    });
    ok(&out);
    assert!(
        stderr(&out).contains(&format!(
            "run `docker-credential-pat github verify default@{host}`"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_reads_scopes_and_expiry_in_both_forms_and_says_what_is_wrong() {
    let setup = setup();
    let env = &setup.env;
    let expiry = Utc::now() + chrono::Duration::days(3);
    let (_, pull) = setup
        .github
        .add_classic_token(USER, &["read:packages"], Some(expiry));
    ok(&env.store(&setup.host, USER, &pull));
    let name = format!("default@{}", setup.host);
    setup.github.set_expiration_offset(Some(9 * 3600));
    let out = run_github(env, &["verify", &name]);
    ok(&out);
    assert!(
        stdout(&out).starts_with(&format!(
            "{name}: GitHub user octocat, scopes read:packages; expires on {}",
            expiry.format("%Y-%m-%d")
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("has no write:packages"),
        "{}",
        stderr(&out)
    );
    let listed = json(&run_github(
        env,
        &["verify", "--registry", &setup.host, "--json"],
    ));
    assert_eq!(listed[0]["token"], name);
    assert_eq!(listed[0]["login"], USER);
    assert_eq!(listed[0]["classic"], true);
    let at: chrono::DateTime<Utc> = listed[0]["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        at.timestamp(),
        expiry.timestamp(),
        "+0900 read as the same instant"
    );

    // Expiring soon and without write: doctor and `tokens --expiring` say so.
    let doctor = env.run(&["doctor"], "");
    let report = stdout(&doctor);
    assert!(
        report.contains(&format!("{name} has no write:packages")),
        "{report}"
    );
    assert!(report.contains(&format!("{name} expires on")), "{report}");
    let expiring = env.run(&["tokens", "--expiring", "--json"], "");
    assert_eq!(expiring.status.code(), Some(3), "found some");
    let expiring: serde_json::Value = serde_json::from_slice(&expiring.stdout).unwrap();
    assert_eq!(expiring[0]["token"], name, "{expiring}");

    // Revoked at GitHub: refused, recorded, said in one line.
    let id = setup.github.token_with_secret(&pull).unwrap().id;
    setup.github.delete_directly(id);
    let out = run_github(env, &["verify", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        error_line(&out).contains("refused the token (wrong, expired or revoked)"),
        "{}",
        stderr(&out)
    );
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine[0]["registry_view"]["state"], "refused");
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(doctor.contains("GitHub refused"), "{doctor}");
}

#[test]
fn revoke_sends_the_token_to_github_unauthenticated_and_deletes_it_here() {
    let setup = setup();
    let env = &setup.env;
    let token = logged_in(&setup, None);
    assert!(docker_reads(&setup));
    let name = format!("default@{}", setup.host);
    let unconfirmed = run_github(env, &["revoke", &name]);
    assert!(
        error_line(&unconfirmed).contains("give --yes"),
        "{}",
        stderr(&unconfirmed)
    );
    assert!(setup.github.accepts(&token), "nothing sent without --yes");
    let out = ok(&run_github(env, &["revoke", &name, "--yes"]));
    assert!(
        out.contains(&format!(
            "GitHub accepted the revocation of {name} (final; the token's owner is notified), and {name} is deleted here"
        )),
        "{out}"
    );
    assert!(!setup.github.accepts(&token));
    assert!(served(env, &setup.host).is_none(), "deleted here");
    let posted = setup
        .github
        .http()
        .events()
        .iter()
        .filter(|e| e.method == "POST" && e.path() == "/credentials/revoke")
        .count();
    assert_eq!(posted, 1);
}

#[test]
fn revoke_whose_answer_is_lost_keeps_the_token_until_a_rerun_and_refusals_are_one_line() {
    let setup = setup_with("registry_timeout_seconds = 1\n");
    let env = &setup.env;
    let token = logged_in(&setup, None);
    let name = format!("default@{}", setup.host);
    let revoke = ["revoke", name.as_str(), "--yes"];
    // GitHub acted and the answer was lost: kept here, and the rerun is safe.
    for fault in [
        Fault::Drop,
        Fault::LateAnswer(std::time::Duration::from_millis(2500)),
    ] {
        setup.github.http().fault_call(1, fault);
        let lost = run_github(env, &revoke);
        let line = error_line(&lost);
        assert!(
            line.contains("may have been revoked; it is still stored here")
                && line.contains("revoking twice is safe"),
            "{line}"
        );
        assert_eq!(served(env, &setup.host).as_deref(), Some(token.as_str()));
    }
    assert!(!setup.github.accepts(&token), "GitHub did revoke it");
    // A server error, then GitHub's rate limit (403, then 429): nothing changes here.
    setup.github.http().fault_call(1, Fault::Status(500));
    let line = error_line(&run_github(env, &revoke));
    assert!(line.contains("GitHub has a problem of its own"), "{line}");
    setup.github.set_revoke_limit(0);
    let line = error_line(&run_github(env, &revoke));
    assert!(
        line.contains("rate limit was reached: retry after")
            && line.contains("nothing was revoked")
            && line.contains("still stored here"),
        "{line}"
    );
    setup.github.set_revoke_limited_status(429);
    let line = error_line(&run_github(env, &revoke));
    assert!(line.contains("rate limit was reached"), "{line}");
    assert!(served(env, &setup.host).is_some());
    setup.github.set_revoke_limit(1000);
    // 422: GitHub's words, one line.
    setup.github.http().fault_call(
        1,
        Fault::Reply(
            422,
            r#"{"message":"Validation Failed","errors":[{"resource":"Credential","field":"credentials","code":"invalid"}]}"#.into(),
        ),
    );
    let line = error_line(&run_github(env, &revoke));
    assert!(
        line.contains("refused to revoke the token: Validation Failed (invalid)"),
        "{line}"
    );
    ok(&run_github(env, &revoke));
    assert!(served(env, &setup.host).is_none());
}

#[test]
fn rotate_guides_checks_stores_then_revokes_the_old_token() {
    let setup = setup();
    let env = &setup.env;
    let old = logged_in(&setup, Some(30));
    let name = format!("default@{}", setup.host);

    // A token that would not do the old one's work is refused, changing nothing.
    let calls = setup.github.http().calls();
    let (_, pull_only) = setup
        .github
        .add_classic_token(USER, &["read:packages"], None);
    let (_, someone_else) = setup.github.add_classic_token("hubot", PUSH, None);
    let (_, fine) = setup.github.add_fine_grained_token(USER, None);
    for (new, why) in [
        (
            pull_only.as_str(),
            "that token lacks write:packages that the old one has",
        ),
        (
            someone_else.as_str(),
            "that token is GitHub user hubot's, but",
        ),
        (fine.as_str(), "that is a fine-grained token"),
        (old.as_str(), "that is the token"),
        ("", "no token given"),
    ] {
        let out = rotate(env, &name, new);
        let line = error_line(&out);
        assert!(line.contains(why), "{why}: {line}");
        assert_eq!(served(env, &setup.host).as_deref(), Some(old.as_str()));
        assert!(setup.github.accepts(&old));
    }
    assert!(setup.github.http().calls() > calls);

    let (_, new) =
        setup
            .github
            .add_classic_token(USER, PUSH, Some(Utc::now() + chrono::Duration::days(90)));
    let out = rotate(env, &name, &new);
    let text = ok(&out);
    let port = setup.github.http().port();
    assert!(
        text.contains(&format!(
            "http://127.0.0.1:{port}/settings/tokens/new?scopes=read:packages,write:packages&description=default%40127.0.0.1%3A"
        )),
        "where to make it, the old scopes ticked: {text}"
    );
    assert!(
        text.contains(&format!(
            "Rotated {name}: the new token (scopes read:packages, write:packages; expires on"
        )),
        "{text}"
    );
    assert!(!text.contains(&new) && !stderr(&out).contains(&new));
    assert_eq!(served(env, &setup.host).as_deref(), Some(new.as_str()));
    assert!(!setup.github.accepts(&old), "the old one is revoked");
    assert!(docker_reads(&setup), "Docker uses the new token");
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine.as_array().unwrap().len(), 1, "nothing kept: {mine}");
    let at: chrono::DateTime<Utc> = mine[0]["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        at > Utc::now() + chrono::Duration::days(89),
        "the new expiry"
    );
}

#[test]
fn rotate_whose_revoke_fails_keeps_the_old_secret_until_a_rerun_finishes() {
    let setup = setup();
    let env = &setup.env;
    let old = logged_in(&setup, None);
    let name = format!("default@{}", setup.host);
    let kept = format!("default.retiring@{}", setup.host);
    let (_, new) = setup.github.add_classic_token(USER, PUSH, None);
    // The calls: the old token checked, the new one checked, then the revocation.
    setup.github.http().fault_call(3, Fault::Status(422));
    let out = rotate(env, &name, &new);
    let line = error_line(&out);
    assert!(
        line.contains("the new token is stored and in use, but the old one could not be revoked")
            && line.contains(&format!(
                "`docker-credential-pat github rotate {name}` is run again"
            )),
        "{line}"
    );
    assert_eq!(served(env, &setup.host).as_deref(), Some(new.as_str()));
    assert!(docker_reads(&setup));
    assert!(setup.github.accepts(&old), "not yet revoked");
    let mine = json(&env.run(&["tokens", "--json"], ""));
    let retiring = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == kept.as_str())
        .unwrap_or_else(|| panic!("the old secret is kept: {mine}"));
    assert_eq!(retiring["active"], false);
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains("has not yet had GitHub revoke the old one"),
        "{doctor}"
    );
    // Never in clear: not in the index or anywhere in the helper's folder.
    for entry in files_under(&env.pat_home()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&old),
            "{}",
            entry.display()
        );
    }
    // The rerun asks for nothing and finishes.
    let text = ok(&env.run(&["github", "rotate", &name], ""));
    assert!(
        text.contains(&format!(
            "Finished the earlier rotation of {name}: the old one is revoked at GitHub, and {kept} is gone from here"
        )),
        "{text}"
    );
    assert!(!setup.github.accepts(&old));
    assert_eq!(served(env, &setup.host).as_deref(), Some(new.as_str()));
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert!(docker_reads(&setup));

    // `github revoke NAME.retiring` finishes a rotation the same way.
    let (_, newer) = setup.github.add_classic_token(USER, PUSH, None);
    setup.github.http().fault_call(3, Fault::Drop);
    let lost = rotate(env, &name, &newer);
    assert!(
        error_line(&lost).contains("it may be revoked"),
        "{}",
        stderr(&lost)
    );
    ok(&run_github(env, &["revoke", &kept, "--yes"]));
    assert!(!setup.github.accepts(&new));
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert!(mine[0]["registry_view"].is_object());
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        !doctor.contains("has not yet had GitHub revoke"),
        "{doctor}"
    );

    // The kept secret deleted by hand: the rerun says the old token may be live.
    let (_, newest) = setup.github.add_classic_token(USER, PUSH, None);
    setup.github.http().fault_call(3, Fault::Status(422));
    fails(&rotate(env, &name, &newest));
    ok(&env.run(&["delete", &kept], ""));
    let out = env.run(&["github", "rotate", &name], "");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was gone from here, so GitHub could not be asked to revoke it"),
        "{}",
        stderr(&out)
    );
    assert!(setup.github.accepts(&newer), "never sent: still live");
    assert_eq!(served(env, &setup.host).as_deref(), Some(newest.as_str()));
}

#[test]
fn every_github_command_has_help_and_bad_input_is_one_line_changing_nothing() {
    let setup = setup();
    let env = &setup.env;
    let token = logged_in(&setup, None);
    for command in ["verify", "rotate", "revoke"] {
        let help = ok(&env.run(&["github", command, "--help"], ""));
        assert!(
            help.contains("Usage: docker-credential-pat github"),
            "{command}: {help}"
        );
    }
    let calls = setup.github.http().calls();
    for (args, why) in [
        (vec!["verify", "nobody@ghcr.io"], "no token named"),
        (vec!["revoke", "nobody@ghcr.io", "--yes"], "no token named"),
        (
            vec!["rotate", "default@registry.gitlab.com", "--token-stdin"],
            "is not a GitHub registry",
        ),
        (vec!["verify", "--registry", "bad host!"], "--registry"),
    ] {
        let out = run_github(env, &args);
        let line = error_line(&out);
        assert!(
            line.to_lowercase().contains(&why.to_lowercase()),
            "{args:?}: {line}"
        );
    }
    assert_eq!(
        setup.github.http().calls(),
        calls,
        "nothing was asked of GitHub"
    );
    assert_eq!(served(env, &setup.host).as_deref(), Some(token.as_str()));

    // Plain http to anything but loopback is refused, naming the setting.
    let mut remote = Env::new(&setup.keyring);
    remote.set("DOCKER_PAT_GITHUB_API", "http://api.github.example");
    let out = remote.run(&["github", "verify"], "");
    let line = error_line(&out);
    assert!(
        line.starts_with("DOCKER_PAT_GITHUB_API") && line.contains("loopback"),
        "{line}"
    );
}

#[test]
fn add_and_import_check_a_new_ghcr_token_the_same_way() {
    let setup = setup();
    let env = &setup.env;
    let host = setup.host.as_str();
    let (_, repo_only) = setup.github.add_classic_token(USER, &["repo"], None);
    let out = env.run(&["add", host, "-u", USER, "-i", "laptop"], &repo_only);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!(
            "laptop@{host} has neither read:packages nor write:packages"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(checks(&setup), 1);
    // The same secret again: no call.
    ok(&env.run(&["add", host, "-u", USER, "-i", "laptop"], &repo_only));
    assert_eq!(checks(&setup), 1, "only a new secret is checked");

    ok(&env.run(&["delete", &format!("laptop@{host}")], ""));
    let (_, pull_only) = setup
        .github
        .add_classic_token(USER, &["read:packages"], None);
    let auth = base64(format!("{USER}:{pull_only}").as_bytes());
    env.write_config_json(&format!(
        "{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}},\"credsStore\":\"pat\"}}"
    ));
    let out = env.run(&["import"], "");
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("default@{host} has no write:packages")),
        "{}",
        stderr(&out)
    );
    assert_eq!(checks(&setup), 2);
    let mine = json(&env.run(&["tokens", "--json"], ""));
    assert_eq!(mine[0]["remote_api"], "github", "recorded: {mine}");
}

/// On a team's OpenBao server the old secret is kept there (never on a
/// machine), and a rerun on another machine finishes the rotation.
#[test]
fn a_rotation_on_the_team_server_is_finished_by_a_rerun_on_another_machine() {
    use crate::support::openbao::{DevServer, ROOT_TOKEN};
    let server = DevServer::start();
    let setup = setup();
    let machine = |name: &str| {
        let mut env = Env::without_keychain();
        env.set("DOCKER_PAT_BACKEND", "openbao")
            .set("BAO_ADDR", &server.url())
            .set("BAO_TOKEN", ROOT_TOKEN)
            .set("DOCKER_PAT_GITHUB_API", &setup.github.url);
        env.write_config_toml(&format!(
            "machine_name = \"{name}\"\n[registries.\"{}\"]\nkind = \"github\"\napi = \"{}\"\n",
            setup.host, setup.github.url
        ));
        env
    };
    let laptop = machine("laptop");
    let runner = machine("runner-7");
    let name = format!("default@{}", setup.host);
    let (_, old) = setup.github.add_classic_token(USER, PUSH, None);
    ok(&laptop.store(&setup.host, USER, &old));
    let mine = json(&runner.run(&["tokens", "--json"], ""));
    assert_eq!(mine[0]["registry_view"]["scopes"], serde_json::json!(PUSH));

    let (_, new) = setup.github.add_classic_token(USER, PUSH, None);
    setup.github.http().fault_call(3, Fault::Status(422));
    fails(&rotate(&laptop, &name, &new));
    assert_eq!(served(&runner, &setup.host).as_deref(), Some(new.as_str()));
    assert!(setup.github.accepts(&old));
    for entry in files_under(&laptop.pat_home()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&old),
            "{}",
            entry.display()
        );
    }
    let text = ok(&runner.run(&["github", "rotate", &name], ""));
    assert!(text.contains("Finished the earlier rotation"), "{text}");
    assert!(!setup.github.accepts(&old));
    let mine = json(&laptop.run(&["tokens", "--json"], ""));
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(served(&laptop, &setup.host).as_deref(), Some(new.as_str()));
}

/// The session in the README's "GitHub (ghcr.io)", run against the double and
/// a registry that takes its tokens: every `$` line runs as written (the
/// README's two ports are this test's), and prints what the README shows, but
/// for dates. `token.txt` is a classic token with `read:packages` that expires
/// in a week, `new-token.txt` one with both package scopes for 90 days.
#[test]
fn readme_github_session_runs_as_shown() {
    use crate::support::readme::*;

    let blocks = console_blocks(readme_section(&readme(), "## GitHub (ghcr.io)"));
    assert_eq!(blocks.len(), 1, "the session is one console block");
    let setup = setup();
    let env = &setup.env;
    let days = |n| Some(Utc::now() + chrono::Duration::days(n));
    let (_, token) = setup
        .github
        .add_classic_token(USER, &["read:packages"], days(7));
    let (_, new_token) = setup.github.add_classic_token(USER, PUSH, days(90));
    let registry_port = setup.host.rsplit(':').next().unwrap().to_owned();
    let api_port = setup.github.http().port().to_string();
    let here = |text: &str| {
        text.replace("42325", &registry_port)
            .replace("39261", &api_port)
    };
    let mut commands = 0;
    for (shown, expected) in &blocks[0] {
        let (shown, expected) = (here(shown), here(expected));
        let (words, from) = shell_words(&shown);
        let input = match from.as_deref() {
            None => "",
            Some("token.txt") => token.as_str(),
            Some("new-token.txt") => new_token.as_str(),
            Some(other) => panic!("the README reads {other}, which this test does not know"),
        };
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        match words[0].as_str() {
            "docker" => {
                assert_eq!(args[..1], ["login"], "{shown}");
                let output = env.docker_login(args[1], args[3], input);
                // The helper's warning comes while Docker logs in, before its last
                // line. Docker's own log of trying https first is the local
                // registry's (ghcr.io speaks https).
                let printed = format!(
                    "{}{}",
                    without_docker_log(&stderr(&output)),
                    stdout(&output)
                );
                printed_as_shown(&output, &printed, (&shown, &expected), 0);
            }
            "docker-credential-pat" => runs_as_shown(env, (&shown, &expected), &args, input, 0),
            other => panic!("the README runs {other}, which this test does not know"),
        }
        commands += 1;
    }
    assert_eq!(commands, 5, "the README's session has five commands");
    assert!(!setup.github.accepts(&token), "revoked by the rotation");
    assert!(!setup.github.accepts(&new_token), "revoked at the end");
}

/// On a GitHub Enterprise Server (its API at `/api/v3`), revocation must be
/// authenticated: the token authenticates its own revocation, and `rotate`
/// revokes the old token the same way. Sent again after a lost answer, the
/// revoked token is refused (401): the rerun says so and finishes.
#[test]
fn revoke_on_a_github_enterprise_server_is_authenticated_with_the_token_itself() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    let github = GithubDouble::start_enterprise();
    let api = format!("{}/api/v3", github.url);
    let host = "containers.github.example.com";
    env.set("DOCKER_PAT_GITHUB_API", &api);
    env.write_config_toml(&format!(
        "[registries.\"{host}\"]\nkind = \"github\"\napi = \"{api}\"\n"
    ));
    let (_, token) = github.add_classic_token("octocat", &["read:packages"], None);
    ok(&env.store(host, "octocat", &token));
    let name = format!("default@{host}");
    let out = ok(&run_github(&env, &["revoke", &name, "--yes"]));
    assert!(
        out.contains(&format!("GitHub accepted the revocation of {name}")),
        "{out}"
    );
    assert!(!github.accepts(&token), "revoked on the server");
    assert!(served(&env, host).is_none(), "deleted here");
    let revokes: Vec<_> = github
        .http()
        .events()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path() == "/api/v3/credentials/revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "one authenticated call");

    // The answer is lost after the server revoked: kept here; the rerun finishes.
    let (_, lost) = github.add_classic_token("octocat", &["read:packages"], None);
    ok(&env.store(host, "octocat", &lost));
    github.http().fault_call(1, Fault::Drop);
    let line = error_line(&run_github(&env, &["revoke", &name, "--yes"]));
    assert!(
        line.contains("may have been revoked; it is still stored here"),
        "{line}"
    );
    assert!(!github.accepts(&lost), "the server did revoke it");
    assert_eq!(served(&env, host).as_deref(), Some(lost.as_str()));
    let out = ok(&run_github(&env, &["revoke", &name, "--yes"]));
    assert!(
        out.contains(&format!(
            "no longer accepts {name} (revoked already, or expired), so nothing was left to revoke; {name} is deleted here"
        )),
        "{out}"
    );
    assert!(served(&env, host).is_none(), "deleted here");

    // rotate: the new token is checked, stored, and the old one revoked.
    let (_, old) = github.add_classic_token("octocat", &["read:packages"], None);
    ok(&env.store(host, "octocat", &old));
    let (_, new) = github.add_classic_token("octocat", &["read:packages"], None);
    ok(&rotate(&env, &name, &new));
    assert!(!github.accepts(&old), "the old token is revoked");
    assert!(github.accepts(&new));
    assert_eq!(served(&env, host).as_deref(), Some(new.as_str()));

    // An old token that has expired cannot authenticate its revocation: said as it is.
    let (_, expired) = github.add_classic_token(
        "octocat",
        &["read:packages"],
        Some(Utc::now() - chrono::Duration::days(1)),
    );
    ok(&env.store(host, "octocat", &expired));
    let (_, fresh) = github.add_classic_token("octocat", &["read:packages"], None);
    let out = ok(&rotate(&env, &name, &fresh));
    assert!(
        out.contains("the old one no longer works at GitHub (revoked already, or expired)"),
        "{out}"
    );
    assert_eq!(served(&env, host).as_deref(), Some(fresh.as_str()));
}
