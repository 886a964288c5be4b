//! Expiry, for every token: the EXPIRES column and `expires_at`, `--expires`,
//! `tokens --expiring`, doctor's warnings, and the note `get` gives once a day
//! for a token that has expired.

use crate::support::*;

fn tokens_json(env: &Env) -> serde_json::Value {
    serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap()
}

fn expires_at(list: &serde_json::Value, name: &str) -> serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))["expires_at"]
        .clone()
}

fn add(env: &Env, registry: &str, secret: &str, expires: Option<&str>) {
    let mut args = vec!["add", registry, "--username", "alice"];
    if let Some(expires) = expires {
        args.extend(["--expires", expires]);
    }
    ok(&env.run(&args, &format!("{secret}\n")));
}

/// Rewrites one token's record in its index file, as if time had passed.
fn edit_record(
    env: &Env,
    registry: &str,
    integration: &str,
    change: impl FnOnce(&mut serde_json::Value),
) {
    let path = env.index_file_of(registry);
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut index["registries"][registry]["tokens"][integration]);
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn expiry_shows_in_tokens_and_expiring_lists_the_tokens_close_to_it() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    add(&env, "ghcr.io", "ghcr-secret", Some("5"));
    add(&env, "quay.io", "quay-secret", Some("60"));
    add(&env, "registry.example.com", "never-secret", None);
    let date = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    add(&env, "docker.io", PAT, Some(&date));

    let list = tokens_json(&env);
    let soon = expires_at(&list, "default@ghcr.io");
    let at: chrono::DateTime<chrono::Utc> = soon.as_str().unwrap().parse().unwrap();
    assert!(soon.as_str().unwrap().ends_with('Z') && !soon.as_str().unwrap().contains('.'));
    assert!(
        (at - chrono::Utc::now() - chrono::Duration::days(5))
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(
        expires_at(&list, "default@docker.io"),
        format!("{date}T00:00:00Z")
    );
    assert_eq!(
        expires_at(&list, "default@registry.example.com"),
        serde_json::Value::Null
    );

    let table = ok(&env.run(&["tokens"], ""));
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(
        row("default@ghcr.io").contains("in 4d") || row("default@ghcr.io").contains("in 5d"),
        "{table}"
    );
    assert!(
        row("default@registry.example.com").contains(" - "),
        "{table}"
    );

    // Within warn_expiry_days (14): only ghcr.io; exit 3 like --stale.
    let expiring = env.run(&["tokens", "--expiring"], "");
    assert_eq!(expiring.status.code(), Some(3));
    let text = stdout(&expiring);
    assert!(
        text.contains("default@ghcr.io") && !text.contains("quay.io"),
        "{text}"
    );
    let none = env.run(&["tokens", "--expiring", "3"], "");
    assert_eq!(none.status.code(), Some(0));
    assert!(stderr(&none).contains("no token expires within 3 days"));
    let wide: serde_json::Value = serde_json::from_slice(
        &env.run(&["tokens", "--expiring", "90", "--json"], "")
            .stdout,
    )
    .unwrap();
    assert_eq!(wide.as_array().unwrap().len(), 3);
    env.write_config_toml("warn_expiry_days = 45\n");
    assert_eq!(
        stdout(&env.run(&["tokens", "--expiring"], ""))
            .matches("@")
            .count(),
        2,
        "warn_expiry_days sets the default window"
    );

    // doctor warns about what expires within warn_expiry_days.
    env.write_config_toml("");
    let doctor: serde_json::Value =
        serde_json::from_slice(&env.run(&["doctor", "--json"], "").stdout).unwrap();
    let expiry: Vec<&serde_json::Value> = doctor
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "expiry")
        .collect();
    assert_eq!(expiry.len(), 1, "{doctor}");
    assert_eq!(expiry[0]["status"], "warn");
    assert!(
        expiry[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("default@ghcr.io expires on ")
    );
    assert!(
        expiry[0]["fix"]
            .as_str()
            .unwrap()
            .contains("docker login ghcr.io")
    );

    // Bad --expires: one line, nothing stored.
    for bad in ["0", "yesterday", "2001-02-03", "99999"] {
        let out = fails(&env.run(
            &[
                "add",
                "ghcr.io",
                "-u",
                "alice",
                "-i",
                "bad",
                "--expires",
                bad,
            ],
            "x\n",
        ));
        assert!(out.is_empty());
    }
    assert_eq!(tokens_json(&env).as_array().unwrap().len(), 4);
}

#[test]
fn an_expired_token_is_still_served_with_one_note_a_day() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "ghcr-secret"));
    ok(&env.store("docker.io", "alice", PAT));
    edit_record(&env, "ghcr.io", "default", |t| {
        t["expires_at"] = "2026-01-05T00:00:00Z".into()
    });
    edit_record(&env, "docker.io", "default", |t| {
        t["expires_at"] = "2026-01-06T00:00:00Z".into();
        t["hub"] = serde_json::json!({"uuid": "0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab", "scopes": ["repo:read"]});
    });

    let first = env.get("ghcr.io");
    assert_eq!(
        ok(&first),
        get_reply("ghcr.io", "octo", "ghcr-secret"),
        "still answered"
    );
    assert_eq!(
        stderr(&first),
        "docker-credential-pat: default@ghcr.io expired on 2026-01-05; the registry will refuse it, so create a new token and store it: `docker login ghcr.io` (or `docker-credential-pat add`)\n"
    );
    let again = env.get("ghcr.io");
    ok(&again);
    assert_eq!(stderr(&again), "", "once a day");
    let hub = env.get("docker.io");
    assert_eq!(
        stderr(&hub),
        "docker-credential-pat: default@docker.io expired on 2026-01-06; the registry will refuse it, so rotate it: `docker-credential-pat hub rotate default@docker.io`\n"
    );
    assert_eq!(stderr(&env.get("docker.io")), "");

    let table = ok(&env.run(&["tokens"], ""));
    assert_eq!(table.matches("expired").count(), 2, "{table}");
    let doctor = env.run(&["doctor"], "");
    assert_eq!(doctor.status.code(), Some(3));
    let report = stdout(&doctor);
    assert!(
        report.contains("problem  expiry: default@ghcr.io expired on 2026-01-05; the registry refuses it — create a new token at the registry and store it: `docker login ghcr.io`"),
        "{report}"
    );
    assert!(
        report.contains("default@docker.io expired on 2026-01-06; the registry refuses it — `docker-credential-pat hub rotate default@docker.io` replaces it"),
        "{report}"
    );

    // The same secret again keeps what is known of it; a different one drops it, and says so.
    ok(&env.store("docker.io", "alice", PAT));
    let list = tokens_json(&env);
    assert_eq!(
        expires_at(&list, "default@docker.io"),
        "2026-01-06T00:00:00Z"
    );
    let replaced = env.store("docker.io", "alice", PAT2);
    ok(&replaced);
    assert!(
        stderr(&replaced).contains("expiry and Docker Hub link were dropped"),
        "{}",
        stderr(&replaced)
    );
    let list = tokens_json(&env);
    assert_eq!(
        expires_at(&list, "default@docker.io"),
        serde_json::Value::Null
    );
    let token = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == "default@docker.io")
        .unwrap();
    assert_eq!(token["hub_id"], serde_json::Value::Null);
}
