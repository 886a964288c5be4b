//! Hostile input: a table of bad requests for every protocol verb and the
//! commands for people. Each must be answered with one line, exit status 1,
//! no panic, and leave every file and the keychain byte for byte as it was.

use std::path::PathBuf;

use crate::support::*;

/// Everything a bad request could change: every file under the test's root
/// (data folder, Docker config, HOME) and every item in the Secret Service.
#[derive(PartialEq, Eq, Debug)]
struct Snapshot {
    files: Vec<(PathBuf, Vec<u8>)>,
    keychain: Vec<String>,
}

fn snapshot(env: &Env, keyring: &SecretService) -> Snapshot {
    let mut files: Vec<(PathBuf, Vec<u8>)> = files_under(env.root.path())
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p)
                .unwrap_or_else(|e| panic!("cannot read {} for the snapshot: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    files.sort();
    let mut keychain: Vec<String> = keyring.dump().lines().map(str::to_owned).collect();
    keychain.sort();
    Snapshot { files, keychain }
}

/// A helper with two tokens, a config file and a Docker config in place.
fn populated() -> (SecretService, Env) {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("stale_after_days = 30\n");
    env.write_config_json("{\"credsStore\":\"pat\"}\n");
    ok(&env.store("https://index.docker.io/v1/", "alice", PAT));
    ok(&env.run(&add_args("ghcr.io", "octo", "ci"), "ghp_secretvalue\n"));
    (keyring, env)
}

struct Case {
    what: String,
    args: Vec<String>,
    stdin: Vec<u8>,
    env: Vec<(String, String)>,
}

fn case(what: &str, args: &[&str], stdin: impl Into<Vec<u8>>) -> Case {
    Case {
        what: what.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        stdin: stdin.into(),
        env: Vec::new(),
    }
}

fn store_json(server: &str, user: &str, secret: &str) -> Vec<u8> {
    serde_json::json!({"ServerURL": server, "Username": user, "Secret": secret})
        .to_string()
        .into_bytes()
}

/// Addresses no verb may accept.
const BAD_ADDRESSES: &[&str] = &[
    "https://user:pass@docker.io",
    "user@ghcr.io",
    "ghcr.io?token=1",
    "https://ghcr.io/#frag",
    "bücher.example",
    "xn--bcher-kva.example\u{200b}",
    "ghcr.io\u{0}evil.example",
    "ghcr.io\tx",
    "ghcr.io\u{1b}[2J",
    "ftp://ghcr.io",
    "https://",
    "ghcr.io:0",
    "ghcr.io:99999",
    "[zz::1]:5000",
];

fn protocol_cases() -> Vec<Case> {
    let over_limit = vec![b'x'; 1024 * 1024 + 1];
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    // Deep nesting in an ignored field parses without recursion; the missing username is the error.
    let deep_field = format!(
        "{{\"ServerURL\":\"docker.io\",\"Secret\":\"s\",\"Extra\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let ten_mb_user = store_json("docker.io", &"u".repeat(10 * 1024 * 1024), "s");
    let big_user = store_json("docker.io", &"u".repeat(100 * 1024), "s");
    let mut cases = vec![
        case("store: input over 1 MiB", &["store"], over_limit.clone()),
        case("get: input over 1 MiB", &["get"], over_limit.clone()),
        case("erase: input over 1 MiB", &["erase"], over_limit),
        case("store: binary input", &["store"], binary.clone()),
        case("get: binary input", &["get"], binary.clone()),
        case("erase: binary input", &["erase"], binary),
        case("store: deep arrays", &["store"], deep_arrays),
        case("store: deep objects", &["store"], deep_objects),
        case("store: deep unknown field", &["store"], deep_field),
        case("store: 10 MB username", &["store"], ten_mb_user),
        case("store: 100 KB username", &["store"], big_user),
        case("store: not JSON", &["store"], "{not json"),
        case(
            "store: truncated",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Usern",
        ),
        case(
            "store: trailing garbage",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":\"s\"} x",
        ),
        case(
            "store: two objects",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":\"s\"}{}",
        ),
        case(
            "store: byte-order mark",
            &["store"],
            "\u{feff}{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":\"s\"}",
        ),
        case(
            "store: invalid UTF-8 in a string",
            &["store"],
            b"{\"ServerURL\":\"docker.io\",\"Username\":\"a\xff\",\"Secret\":\"s\"}".to_vec(),
        ),
        case(
            "store: lone surrogate",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":\"\\ud800\"}",
        ),
        case("store: empty input", &["store"], ""),
        case("store: null", &["store"], "null"),
        case("store: a string", &["store"], "\"docker.io\""),
        case("store: a number", &["store"], "42"),
        case("store: true", &["store"], "true"),
        case("store: an array", &["store"], "[\"docker.io\",\"a\",\"b\"]"),
        case(
            "store: ServerURL is a number",
            &["store"],
            "{\"ServerURL\":5,\"Username\":\"a\",\"Secret\":\"b\"}",
        ),
        case(
            "store: Username is an array",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":[\"a\"],\"Secret\":\"b\"}",
        ),
        case(
            "store: Secret is a number",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":5}",
        ),
        case(
            "store: Secret is an object",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Username\":\"a\",\"Secret\":{\"v\":\"s\"}}",
        ),
        case(
            "store: NUL in the username",
            &["store"],
            store_json("docker.io", "a\u{0}b", "s"),
        ),
        case(
            "store: newline in the username",
            &["store"],
            store_json("docker.io", "a\nb", "s"),
        ),
        case(
            "store: escape sequence in the username",
            &["store"],
            store_json("docker.io", "a\u{1b}[31mb", "s"),
        ),
        case(
            "store: DEL and C1 controls in the username",
            &["store"],
            store_json("docker.io", "a\u{7f}\u{85}b", "s"),
        ),
        case(
            "store: missing username",
            &["store"],
            "{\"ServerURL\":\"docker.io\",\"Secret\":\"s\"}",
        ),
        case(
            "store: missing server",
            &["store"],
            "{\"Username\":\"a\",\"Secret\":\"s\"}",
        ),
        case(
            "store: address over 1 KiB",
            &["store"],
            store_json(&format!("{}.example", "a".repeat(2000)), "a", "s"),
        ),
        case("get: whitespace only", &["get"], " \t\n"),
        case("erase: empty", &["erase"], ""),
        case("get: address over 1 KiB", &["get"], "a".repeat(2000)),
    ];
    for address in BAD_ADDRESSES {
        cases.push(case(
            &format!("store: address {address:?}"),
            &["store"],
            store_json(address, "a", "s"),
        ));
        for verb in ["get", "erase"] {
            cases.push(case(
                &format!("{verb}: address {address:?}"),
                &[verb],
                *address,
            ));
        }
    }
    for value in ["not valid!", "ci\u{1b}[2J", "a@b", &"x".repeat(65)] {
        for verb in ["store", "get", "erase", "list"] {
            let mut c = case(
                &format!("{verb}: DOCKER_PAT_INTEGRATION={value:?}"),
                &[verb],
                if verb == "store" {
                    store_json("docker.io", "alice", PAT2)
                } else {
                    b"docker.io".to_vec()
                },
            );
            c.env
                .push(("DOCKER_PAT_INTEGRATION".into(), value.to_owned()));
            cases.push(c);
        }
    }
    for value in ["vault", "KEYCHAIN", "file\n"] {
        let mut c = case(
            &format!("store: DOCKER_PAT_BACKEND={value:?}"),
            &["store"],
            store_json("docker.io", "alice", PAT2),
        );
        c.env.push(("DOCKER_PAT_BACKEND".into(), value.to_owned()));
        cases.push(c);
    }
    cases
}

fn command_cases() -> Vec<Case> {
    let add = |user: &str, extra: &[&str], stdin: Vec<u8>, what: &str| {
        let mut args = vec![
            "add",
            "docker.io",
            "--username",
            user,
            "--integration",
            "ci",
        ];
        args.extend_from_slice(extra);
        case(what, &args, stdin)
    };
    let token = b"dckr_pat_abcdefghijklmnopqrstuvwxyz9\n".to_vec();
    let long_description = "d".repeat(201);
    let long_user = "u".repeat(1025);
    let mut cases = vec![
        add("a\u{1b}[31m", &[], token.clone(), "add: escape in username"),
        add("a\nb", &[], token.clone(), "add: newline in username"),
        add("a\u{7f}", &[], token.clone(), "add: DEL in username"),
        add(&long_user, &[], token.clone(), "add: username over 1 KiB"),
        add("", &[], token.clone(), "add: empty username"),
        add(
            "alice",
            &["--description", "line\nbreak"],
            token.clone(),
            "add: newline in description",
        ),
        add(
            "alice",
            &["--description", "\u{1b}]0;title\u{7}"],
            token.clone(),
            "add: OSC escape in description",
        ),
        add(
            "alice",
            &["--description", &long_description],
            token.clone(),
            "add: description over 200 characters",
        ),
        add(
            "alice",
            &[],
            vec![b'x'; 2 * 1024 * 1024],
            "add: 2 MiB on stdin",
        ),
        add(
            "alice",
            &[],
            (0..=255u8).cycle().take(5000).collect(),
            "add: binary stdin",
        ),
        add("alice", &[], Vec::new(), "add: empty stdin"),
        add("alice", &[], b"\n".to_vec(), "add: only a newline"),
        case(
            "add: bad integration",
            &add_args("docker.io", "alice", "bad name"),
            token.clone(),
        ),
        case(
            "add: escape in integration",
            &add_args("docker.io", "alice", "c\u{1b}i"),
            token.clone(),
        ),
        case(
            "rename: bad new name",
            &["rename", "default@docker.io", "bad name"],
            "",
        ),
        case(
            "rename: escape in new name",
            &["rename", "default@docker.io", "x\u{1b}[2J"],
            "",
        ),
        case(
            "rename: onto an existing token",
            &["rename", "ci@ghcr.io", "ci"],
            "",
        ),
        case(
            "rename: unknown token",
            &["rename", "nope@docker.io", "x"],
            "",
        ),
        case(
            "describe: escape",
            &["describe", "default@docker.io", "\u{1b}]0;evil\u{7}"],
            "",
        ),
        case(
            "describe: too long",
            &["describe", "default@docker.io", &long_description],
            "",
        ),
        case(
            "default: unicode host",
            &["default", "ci@bücher.example"],
            "",
        ),
        case("default: escape", &["default", "\u{1b}@docker.io"], ""),
        case("deactivate: unknown", &["deactivate", "nope@docker.io"], ""),
        case(
            "activate: one unknown among known",
            &["activate", "default@docker.io", "nope@docker.io"],
            "",
        ),
        case("delete: unknown", &["delete", "nope@docker.io"], ""),
        case(
            "delete: userinfo",
            &["delete", "default@https://u:p@docker.io"],
            "",
        ),
        case(
            "delete --all: nothing there",
            &["delete", "--all", "nowhere.example"],
            "",
        ),
        case("history: not a token name", &["history", "garbage"], ""),
        case(
            "2fa enable: newline in username",
            &["2fa", "enable", "--username", "a\nb"],
            "",
        ),
        case(
            "2fa enable: bad registry",
            &[
                "2fa",
                "enable",
                "--username",
                "alice",
                "--registry",
                "ftp://x",
            ],
            "",
        ),
        case(
            "2fa disable: query string",
            &[
                "2fa",
                "disable",
                "--username",
                "alice",
                "--registry",
                "docker.io?x",
            ],
            "",
        ),
    ];
    for address in BAD_ADDRESSES.iter().filter(|a| !a.contains('\u{0}')) {
        cases.push(case(
            &format!("add: address {address:?}"),
            &["add", address, "--username", "alice"],
            token.clone(),
        ));
    }
    cases
}

#[track_caller]
fn check_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r'),
        "{what}: a control character reached the terminal: {text:?}"
    );
}

#[test]
fn bad_protocol_input_is_one_line_exit_1_and_changes_nothing() {
    let (keyring, env) = populated();
    let before = snapshot(&env, &keyring);
    for c in protocol_cases() {
        let mut command = env.command(BIN);
        for (k, v) in &c.env {
            command.env(k, v);
        }
        let output = run_command(command, &c.args, &c.stdin, &c.what);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: exit status; stdout {:?}",
            c.what,
            stdout(&output)
        );
        let out = stdout(&output);
        assert_eq!(out.lines().count(), 1, "{}: one line, got {out:?}", c.what);
        assert!(
            out.ends_with('\n') && out.len() < 400,
            "{}: {out:?}",
            c.what
        );
        check_no_raw_controls(&c.what, &out);
        check_no_raw_controls(&c.what, &stderr(&output));
        assert!(
            !stderr(&output).contains("panicked"),
            "{}: {}",
            c.what,
            stderr(&output)
        );
        assert!(
            !out.contains("pass@") && !out.contains(":pass"),
            "{}: the error echoes userinfo: {out}",
            c.what
        );
    }
    assert_eq!(snapshot(&env, &keyring), before, "no state changed");
    assert_eq!(
        ok(&env.get("docker.io")),
        get_reply("docker.io", "alice", PAT)
    );
}

#[test]
fn bad_command_input_is_one_line_exit_1_and_changes_nothing() {
    let (keyring, env) = populated();
    let before = snapshot(&env, &keyring);
    for c in command_cases() {
        let output = run_command(env.command(BIN), &c.args, &c.stdin, &c.what);
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: exit status; stderr {err:?}",
            c.what
        );
        assert_eq!(stdout(&output), "", "{}: nothing on stdout", c.what);
        assert_eq!(err.lines().count(), 1, "{}: one line, got {err:?}", c.what);
        assert!(err.contains("error"), "{}: {err:?}", c.what);
        check_no_raw_controls(&c.what, &err);
        assert!(!err.contains("panicked"), "{}: {err}", c.what);
    }
    assert_eq!(snapshot(&env, &keyring), before, "no state changed");
}

fn run_command(
    mut command: std::process::Command,
    args: &[String],
    stdin: &[u8],
    what: &str,
) -> std::process::Output {
    command.args(args);
    run_with_input(command, stdin, what)
}

/// Sets the location hint of `registry`'s default token in its index file.
fn set_hint(env: &Env, registry: &str, hint: &serde_json::Value) {
    let path = env.index_file_of(registry);
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    index["registries"][registry]["tokens"]["default"]["secret"]["hint"] = hint.clone();
    std::fs::write(&path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
}

fn hint_of(env: &Env, registry: &str) -> serde_json::Value {
    let index = env.index_json();
    index["registries"][registry]["tokens"]["default"]["secret"]["hint"].clone()
}

/// Runs `verb` with `input`; true when it searched the Secret Service (seen with strace).
/// `false` counts only when the same trace shows the verb's other calls to the
/// Secret Service: a trace that shows none could not have shown a search either.
fn searched(env: &Env, verb: &str, input: &[u8], expected: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("trace");
    let mut command = env.command("strace");
    command
        .args(["-f", "-s", "4096", "-e", "trace=sendto,sendmsg,write", "-o"])
        .arg(&log)
        .arg("--")
        .arg(BIN)
        .arg(verb);
    let output = run_command(command, &[], input, "a verb under strace");
    assert_eq!(ok(&output), expected);
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("org.freedesktop.Secret.Service")
            && trace.contains("org.freedesktop.Secret.Item"),
        "the trace of `{verb}` shows its calls to the Secret Service and its items"
    );
    trace.contains("SearchItems")
}

/// True when a `get` of `registry` searched the Secret Service.
fn get_searched(env: &Env, registry: &str, expected: &str) -> bool {
    searched(env, "get", registry.as_bytes(), expected)
}

#[test]
fn replaced_and_erased_tokens_leave_the_keyring_by_their_remembered_location_only() {
    require_tool("strace", "strace");
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "first-secret"));
    ok(&env.store("quay.io", "q", "quay-secret"));
    // Replacing a token removes the old item where the index remembers it, without a search.
    let request = store_request("ghcr.io", "octo", "second-secret");
    assert!(!searched(&env, "store", request.as_bytes(), ""));
    assert!(!keyring.holds("first-secret"), "{}", keyring.dump());
    assert!(keyring.holds("second-secret"));
    assert!(!searched(&env, "erase", b"ghcr.io", ""));
    assert!(!keyring.holds("second-secret"));
    // A location that holds another token's item is never followed: that item stays.
    ok(&env.store("ghcr.io", "octo", "third-secret"));
    set_hint(&env, "ghcr.io", &hint_of(&env, "quay.io"));
    assert!(searched(&env, "erase", b"ghcr.io", ""));
    assert!(!keyring.holds("third-secret"), "{}", keyring.dump());
    assert!(keyring.holds("quay-secret"));
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "q", "quay-secret")
    );
    assert_eq!(keyring.items().len(), 1);
}

#[test]
fn get_uses_a_remembered_item_location_only_when_it_still_names_that_token() {
    require_tool("strace", "strace");
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    ok(&env.store("ghcr.io", "octo", "ghcr-secret"));
    ok(&env.store("quay.io", "q", "quay-secret"));
    let (ghcr, quay) = (hint_of(&env, "ghcr.io"), hint_of(&env, "quay.io"));
    assert!(
        ghcr.as_str()
            .is_some_and(|h| h.starts_with("/org/freedesktop/secrets/")),
        "store remembers where the Secret Service put the item: {ghcr}"
    );
    let ghcr_reply = get_reply("ghcr.io", "octo", "ghcr-secret");
    assert!(
        !get_searched(&env, "ghcr.io", &ghcr_reply),
        "a good location needs no search"
    );
    // A location that now holds another token's item (swapped by hand, or reused
    // after a deletion) is never followed to that secret.
    set_hint(&env, "ghcr.io", &quay);
    set_hint(&env, "quay.io", &ghcr);
    assert!(get_searched(&env, "ghcr.io", &ghcr_reply));
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "q", "quay-secret")
    );
    for stale in [
        serde_json::json!("/org/freedesktop/secrets/collection/login/99999"),
        serde_json::json!("/"),
        serde_json::json!("not a path"),
        serde_json::json!("/org/freedesktop/secrets"),
        serde_json::Value::Null,
    ] {
        set_hint(&env, "ghcr.io", &stale);
        assert_eq!(ok(&env.get("ghcr.io")), ghcr_reply, "{stale}");
    }
    set_hint(&env, "ghcr.io", &serde_json::json!(42));
    let out = fails(&env.get("ghcr.io"));
    let file = env.index_file_of("ghcr.io");
    assert!(
        out.contains(&*file.file_name().unwrap().to_string_lossy()),
        "a hint of the wrong type is damage: {out}"
    );
}
