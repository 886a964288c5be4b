//! One token per integration: the environment rules, last-used records and management commands.

use crate::support::*;

fn tokens_json(env: &Env) -> serde_json::Value {
    serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap()
}

fn token<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

fn add(
    env: &Env,
    registry: &str,
    user: &str,
    integration: &str,
    secret: &str,
    extra: &[&str],
) -> String {
    let mut args = add_args(registry, user, integration).to_vec();
    args.extend_from_slice(extra);
    ok(&env.run(&args, &format!("{secret}\n")))
}

#[test]
fn integration_variable_picks_the_token_and_never_falls_back() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    assert_eq!(
        fails(&env.get("docker.io")),
        NOT_FOUND,
        "no fallback to default"
    );
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n", "list matches get");
    ok(&env.store("docker.io", "alice-ci", PAT2));
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice-ci", PAT2)
    );
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"https://index.docker.io/v1/\":\"alice-ci\"}\n"
    );
    env.vars.clear();
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT),
        "default untouched"
    );
    let list = tokens_json(&env);
    assert_eq!(token(&list, "default@docker.io")["default"], true);
    assert_eq!(token(&list, "ci@docker.io")["default"], false);
}

#[test]
fn erase_removes_only_the_token_get_would_return() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "default-secret"));
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    ok(&env.store("ghcr.io", "octo", "ci-secret"));
    ok(&env.run(&["erase"], "ghcr.io"));
    fails(&env.get("ghcr.io"));
    env.vars.clear();
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "default-secret")
    );
    assert!(keyring.holds("default-secret") && !keyring.holds("ci-secret"));
    // Erasing the default leaves the registry without one until a default is chosen.
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    ok(&env.store("ghcr.io", "octo", "ci-secret"));
    env.vars.clear();
    ok(&env.run(&["erase"], "ghcr.io"));
    fails(&env.get("ghcr.io"));
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n");
    ok(&env.run(&["default", "ci@ghcr.io"], ""));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "ci-secret")
    );
}

#[test]
fn invalid_integration_variable_is_a_clear_error() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.set("DOCKER_PAT_INTEGRATION", "not valid!");
    let out = fails(&env.store("docker.io", "alice", PAT));
    assert!(
        out.contains("DOCKER_PAT_INTEGRATION") && out.contains("invalid integration name"),
        "{out}"
    );
}

#[test]
fn deactivated_token_is_not_served_or_listed_until_activated() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    assert_eq!(
        ok(&env.run(&["deactivate", "default@docker.io"], "")),
        "Deactivated default@docker.io\n"
    );
    not_found(&env.get("docker.io"));
    assert_eq!(ok(&env.run(&["list"], "")), "{}\n");
    assert!(keyring.holds(PAT), "an inactive token stays stored");
    assert_eq!(
        token(&tokens_json(&env), "default@docker.io")["active"],
        false
    );
    ok(&env.run(&["activate", "default@docker.io"], ""));
    ok(&env.get("docker.io"));
}

#[test]
fn every_get_records_time_count_and_client() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    let before = tokens_json(&env);
    assert_eq!(
        token(&before, "default@docker.io")["last_used_at"],
        serde_json::Value::Null
    );
    assert_eq!(token(&before, "default@docker.io")["use_count"], 0);
    for _ in 0..3 {
        ok(&env.get("docker.io"));
    }
    let after = tokens_json(&env);
    let t = token(&after, "default@docker.io");
    assert_eq!(t["use_count"], 3);
    assert!(
        t["last_used_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );
    // The test binary ran the helper, so the client is this test process's name.
    assert!(
        t["last_client"]
            .as_str()
            .unwrap()
            .starts_with("integration"),
        "{t}"
    );
    let history: serde_json::Value = serde_json::from_str(&ok(
        &env.run(&["history", "default@docker.io", "--json"], "")
    ))
    .unwrap();
    assert_eq!(history["history"].as_array().unwrap().len(), 3);
}

#[test]
fn tokens_json_has_exactly_the_documented_keys() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    add(
        &env,
        "ghcr.io",
        "octo",
        "deploy-bot",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        &["--description", "deploys prod"],
    );
    let list = tokens_json(&env);
    let t = token(&list, "deploy-bot@ghcr.io");
    let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "active",
            "created_at",
            "default",
            "description",
            "expires_at",
            "hub_id",
            "hub_org",
            "hub_resources",
            "integration",
            "last_chosen_by",
            "last_client",
            "last_machine",
            "last_used_at",
            "registry",
            "registry_view",
            "remote_api",
            "remote_id",
            "rotated_at",
            "token",
            "use_count",
            "username"
        ]
    );
    assert_eq!(t["registry"], "ghcr.io");
    assert_eq!(t["integration"], "deploy-bot");
    assert_eq!(t["description"], "deploys prod");
    assert_eq!(
        t["default"], true,
        "the first token of a registry becomes its default"
    );
}

#[test]
fn fifty_concurrent_gets_count_exactly_fifty() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    let children: Vec<_> = (0..50)
        .map(|_| {
            let mut child = env
                .command(BIN)
                .arg("get")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"docker.io").unwrap();
            child
        })
        .collect();
    for child in children {
        let output = wait_with_timeout(child, std::time::Duration::from_secs(60), "get");
        assert_eq!(ok(&output), get_reply("docker.io", "alice", PAT));
    }
    assert_eq!(
        token(&tokens_json(&env), "default@docker.io")["use_count"],
        50
    );
}

#[test]
fn add_reads_the_token_from_stdin_and_manages_default_and_description() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    assert_eq!(
        add(&env, "docker.io", "alice", "laptop", PAT, &[]),
        "Added laptop@docker.io (stored in the keychain)\n"
    );
    add(
        &env,
        "https://index.docker.io/v1/",
        "alice",
        "ci",
        PAT2,
        &["--description", "GitHub Actions"],
    );
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT),
        "first token is the default"
    );
    add(&env, "docker.io", "alice", "ci", PAT2, &["--default"]);
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT2)
    );
    env.set("DOCKER_PAT_INTEGRATION", "laptop");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
    env.vars.clear();
    ok(&env.run(&["describe", "ci@docker.io", "CI runners"], ""));
    assert_eq!(
        token(&tokens_json(&env), "ci@docker.io")["description"],
        "CI runners"
    );
    ok(&env.run(&["describe", "ci@docker.io", ""], ""));
    assert_eq!(
        token(&tokens_json(&env), "ci@docker.io")["description"],
        serde_json::Value::Null
    );
    let empty = env.run(&["add", "docker.io", "--username", "alice"], "\n");
    assert!(fails(&empty).is_empty() && stderr(&empty).contains("no token given"));
}

#[test]
fn rename_moves_the_token_and_keeps_its_secret_and_usage() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.get("docker.io"));
    assert_eq!(
        ok(&env.run(&["rename", "default@docker.io", "laptop"], "")),
        "Renamed default@docker.io to laptop@docker.io\n"
    );
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT),
        "still the default"
    );
    let list = tokens_json(&env);
    assert_eq!(
        token(&list, "laptop@docker.io")["use_count"],
        2,
        "usage follows the token"
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(keyring.item_count(), 1, "rename touches only the index");
    add(&env, "docker.io", "alice", "ci", PAT2, &[]);
    let clash = env.run(&["rename", "ci@docker.io", "laptop"], "");
    fails(&clash);
    assert!(
        stderr(&clash).contains("already exists"),
        "{}",
        stderr(&clash)
    );
    let bad = env.run(&["rename", "ci@docker.io", "no spaces"], "");
    assert!(stderr(&bad).contains("invalid integration name"));
}

#[test]
fn delete_takes_several_tokens_or_a_whole_registry() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    add(
        &env,
        "docker.io",
        "alice",
        "a",
        "dckr_pat_aaaaaaaaaaaaaaaaaaaaaaaaaaa",
        &[],
    );
    add(
        &env,
        "docker.io",
        "alice",
        "b",
        "dckr_pat_bbbbbbbbbbbbbbbbbbbbbbbbbbb",
        &[],
    );
    add(
        &env,
        "docker.io",
        "alice",
        "c",
        "dckr_pat_ccccccccccccccccccccccccccc",
        &[],
    );
    add(
        &env,
        "ghcr.io",
        "octo",
        "a",
        "ghp_dddddddddddddddddddddddddddddddddddd",
        &[],
    );
    add(
        &env,
        "ghcr.io",
        "octo",
        "b",
        "ghp_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        &[],
    );
    ok(&env.run(&["delete", "a@docker.io", "b@docker.io"], ""));
    assert_eq!(keyring.item_count(), 3);
    ok(&env.run(&["delete", "--all", "https://ghcr.io/"], ""));
    let list = tokens_json(&env);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(keyring.holds("dckr_pat_ccccccccccccccccccccccccccc") && keyring.item_count() == 1);
}

#[test]
fn unknown_token_names_the_closest_and_changes_nothing() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    add(&env, "docker.io", "alice", "ci", PAT2, &[]);
    let index = env.index_bytes();
    for args in [
        vec!["deactivate", "ci@docker.io", "cj@docker.io"],
        vec!["delete", "defualt@docker.io"],
        vec!["rename", "c@docker.io", "x"],
        vec!["history", "ci@ghcr.io"],
        vec!["describe", "cii@docker.io", "x"],
        vec!["default", "cli@docker.io"],
    ] {
        let output = env.run(&args, "");
        fails(&output);
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("no token named"), "{err}");
    }
    let output = env.run(&["delete", "defualt@docker.io"], "");
    assert!(
        stderr(&output).contains("did you mean default@docker.io"),
        "{}",
        stderr(&output)
    );
    assert_eq!(env.index_bytes(), index);
}

#[test]
fn stale_lists_unused_tokens_and_exits_3() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    let fresh = env.run(&["tokens", "--stale"], "");
    assert_eq!(fresh.status.code(), Some(0));
    env.write_config_toml("stale_after_days = 0\n");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let stale = env.run(&["tokens", "--stale", "--json"], "");
    assert_eq!(stale.status.code(), Some(3));
    let list: serde_json::Value = serde_json::from_str(&stdout(&stale)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn tokens_table_never_cuts_a_name_or_a_word_and_says_what_it_left_out() {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    ok(&env.store("docker.io", "alice", PAT));
    add(
        &env,
        "registry.example.com:5000",
        "someone-with-a-long-name",
        "deploy-bot-production",
        "pw-secret",
        &[
            "--description",
            "the deploy bot that pushes release images every night",
        ],
    );
    ok(&env.get("docker.io"));
    env.set("COLUMNS", "80");
    let table = ok(&env.run(&["tokens"], ""));
    let header = table.lines().next().unwrap();
    assert_eq!(
        header
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["TOKEN", "USER", "STATE", "CREATED", "LAST USED", "EXPIRES"],
        "{table}"
    );
    assert!(!table.contains('…'), "{table}");
    assert!(
        table.contains(
            "deploy-bot-production@registry.example.com:5000  someone-with-a-long-name  active*"
        ) && table.contains("active*")
            && table.contains("never")
            && table.contains("just now"),
        "{table}"
    );
    assert!(
        table.contains(
            "\nDESCRIPTION, CLIENT and USES left out to fit; `--wide` or `--json` shows them\n"
        ),
        "{table}"
    );
    // Wide enough, nothing is left out; --wide never leaves anything out.
    env.set("COLUMNS", "200");
    let table = ok(&env.run(&["tokens"], ""));
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("  USES  CLIENT ") && header.ends_with("  DESCRIPTION"),
        "{table}"
    );
    assert!(table.contains("the deploy bot that pushes release images every night"));
    env.set("COLUMNS", "40");
    let table = ok(&env.run(&["tokens", "--wide"], ""));
    assert!(
        table.contains("every night") && !table.contains("left out"),
        "{table}"
    );
}

/// As a new user sees it: `tokens` in a real 80-column terminal.
#[test]
fn tokens_fit_a_real_80_column_terminal_with_every_name_whole() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("reg1.example.com", "alice", "reg1-secret"));
    add(
        &env,
        "reg1.example.com",
        "alice",
        "ci",
        "reg1-ci-secret",
        &[
            "--description",
            "GitHub Actions runner for the main repository",
        ],
    );
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.get("reg1.example.com"));
    ok(&env.get("docker.io"));
    let terminal = Terminal::sized(&env, "tokens", &format!("'{BIN}' tokens"), 80, 24);
    let (code, _) = terminal.finish();
    assert_eq!(code, 0);
    let screen = terminal.joined_screen();
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &lines {
        assert!(line.chars().count() <= 80, "{line:?} wrapped:\n{screen}");
    }
    assert!(!screen.contains('…'), "{screen}");
    for name in [
        "default@reg1.example.com",
        "ci@reg1.example.com",
        "default@docker.io",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{name} "))),
            "{name} whole:\n{screen}"
        );
    }
    assert!(
        screen.contains("just now") && screen.contains("EXPIRES"),
        "{screen}"
    );
    assert!(
        screen.contains("left out to fit; `--wide` or `--json` shows them"),
        "{screen}"
    );
    assert!(!lines[0].contains("DESCRIPTION"), "{screen}");
}

#[test]
fn every_command_has_help() {
    let env = Env::without_keychain();
    for command in [
        "tokens",
        "add",
        "rename",
        "default",
        "deactivate",
        "activate",
        "delete",
        "history",
        "describe",
        "2fa",
        "vault",
        "migrate",
        "doctor",
        "import",
        "configure-docker",
        "completions",
        "hub",
    ] {
        let help = ok(&env.run(&[command, "--help"], ""));
        assert!(
            help.contains("Usage: docker-credential-pat"),
            "{command}: {help}"
        );
    }
}

#[test]
fn docker_with_an_integration_updates_only_that_tokens_last_use() {
    let keyring = SecretService::start();
    let registry = Registry::start(PAT);
    let mut env = Env::new(&keyring);
    let host = registry.host.clone();
    env.write_config_json("{\"credsStore\":\"pat\"}");
    ok(&env.store(&host, REGISTRY_USER, PAT));
    ok(&env.push_small_image(&format!("{host}/demo/small:1")));
    let before = tokens_json(&env);
    let default_before = token(&before, &format!("default@{host}")).clone();
    assert_eq!(default_before["last_client"], "skopeo");
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    ok(&env.docker_login(&host, REGISTRY_USER, PAT));
    ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
    env.vars.clear();
    let list = tokens_json(&env);
    let ci = token(&list, &format!("ci@{host}"));
    assert!(ci["use_count"].as_u64().unwrap() >= 1, "{ci}");
    assert_eq!(ci["last_client"], "docker");
    assert!(ci["last_used_at"].is_string());
    let default = token(&list, &format!("default@{host}"));
    assert_eq!(
        default["last_used_at"], default_before["last_used_at"],
        "default untouched: {default}"
    );
    assert_eq!(default["use_count"], default_before["use_count"]);
}

#[test]
fn deactivating_makes_the_registry_refuse_docker_and_activating_restores_it() {
    let (_keyring, registry, env) = docker_setup(PAT);
    let host = registry.host.clone();
    ok(&env.docker_login(&host, REGISTRY_USER, PAT));
    ok(&env.push_small_image(&format!("{host}/demo/small:1")));
    ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
    ok(&env.run(&["deactivate", &format!("default@{host}")], ""));
    let refused = env.docker_inspect(&format!("{host}/demo/small:1"));
    assert!(
        !refused.status.success() && stderr(&refused).contains("no basic auth credentials"),
        "docker has no credentials while the token is inactive: {}",
        stderr(&refused)
    );
    ok(&env.run(&["activate", &format!("default@{host}")], ""));
    ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
}
