//! The team backend against a real OpenBao: `bao server -dev` for the
//! protocol, Docker, skopeo, logins and faults; a three-node Raft cluster for
//! failover under load.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::openbao::{Cluster, DevServer, ROOT_TOKEN};
use crate::support::*;

const PREFIX: &str = "secret/docker-credential-pat";

/// A machine whose tokens are on `server`, logged in with the root token.
fn machine(server: &DevServer) -> Env {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN);
    env
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn protocol_round_trip_keeps_the_token_on_the_server() {
    let server = DevServer::start();
    let env = machine(&server);
    assert_eq!(
        ok(&env.store("https://index.docker.io/v1/", "alice", PAT)),
        ""
    );
    for address in [
        "https://index.docker.io/v1/",
        "docker.io",
        "registry-1.docker.io",
    ] {
        assert_eq!(ok(&env.get(address)), get_reply(address, "alice", PAT));
    }
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"https://index.docker.io/v1/\":\"alice\"}\n"
    );
    let stored = json(&server.ok(&[
        "kv",
        "get",
        "-format=json",
        &format!("{PREFIX}/docker.io/default"),
    ]));
    let data = &stored["data"]["data"];
    assert_eq!(data["username"], "alice");
    assert_eq!(data["secret"], PAT);
    assert_eq!(
        stored["data"]["metadata"]["custom_metadata"]["active"], "true",
        "the record travels in custom metadata: {stored}"
    );
    ok(&env.store("http://127.0.0.1:5000", "bob", "pw"));
    assert_eq!(
        ok(&env.run(&["list"], "")),
        "{\"http://127.0.0.1:5000\":\"bob\",\"https://index.docker.io/v1/\":\"alice\"}\n"
    );
    assert_eq!(ok(&env.run(&["erase"], "https://index.docker.io/v1/")), "");
    not_found(&env.get("docker.io"));
    not_found(&env.run(&["erase"], "docker.io"));
    let gone = server.bao(&["kv", "get", &format!("{PREFIX}/docker.io/default")], "");
    assert!(
        !gone.status.success()
            && format!("{}{}", stdout(&gone), stderr(&gone)).contains("No value found at"),
        "the server no longer holds the token: {}{}",
        stdout(&gone),
        stderr(&gone)
    );
    assert!(
        absent(&env.pat_home().join("index.json")),
        "nothing in the local index"
    );
    assert_not_on_disk(env.root.path(), PAT);
}

#[test]
fn a_token_put_there_by_an_admin_is_served_listed_and_shown() {
    let server = DevServer::start();
    server.put_token("ghcr.io/ci", "bot", "ghp_shared");
    let mut env = machine(&server);
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bot", "ghp_shared")
    );
    assert_eq!(ok(&env.run(&["list"], "")), "{\"ghcr.io\":\"bot\"}\n");
    let tokens = json(&ok(&env.run(&["tokens", "--json"], "")));
    assert_eq!(tokens[0]["token"], "ci@ghcr.io");
    assert_eq!(tokens[0]["active"], true);
    // Rotated by the admin: every runner serves the new one at once.
    server.put_token("ghcr.io/ci", "bot", "ghp_rotated");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bot", "ghp_rotated")
    );
}

#[test]
fn management_commands_act_on_the_server() {
    let server = DevServer::start();
    let env = machine(&server);
    ok(&env.store("ghcr.io", "octo", "pw-one"));
    ok(&env.run(&["rename", "default@ghcr.io", "laptop"], ""));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-one"),
        "the default moves with it"
    );
    let pointer = json(&server.ok(&[
        "kv",
        "get",
        "-format=json",
        &format!("{PREFIX}/ghcr.io/@default"),
    ]));
    assert_eq!(pointer["data"]["data"]["integration"], "laptop");
    // A token named `default` beside it does not win over the pointer.
    server.put_token("ghcr.io/default", "other", "pw-other");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-one"),
        "the pointer names the default"
    );
    ok(&env.run(&["delete", "default@ghcr.io"], ""));
    ok(&env.run(&["describe", "laptop@ghcr.io", "my laptop"], ""));
    ok(&env.run(&["deactivate", "laptop@ghcr.io"], ""));
    fails(&env.get("ghcr.io"));
    ok(&env.run(&["activate", "laptop@ghcr.io"], ""));
    let tokens = json(&ok(&env.run(&["tokens", "--json"], "")));
    assert_eq!(tokens[0]["description"], "my laptop");
    assert_eq!(tokens[0]["default"], true);
    let history = ok(&env.run(&["history", "laptop@ghcr.io", "--json"], ""));
    assert!(history.contains("laptop@ghcr.io"), "{history}");
    let out = env.run(&["rename", "lapotp@ghcr.io", "x"], "");
    assert!(
        stderr(&out).contains("did you mean laptop@ghcr.io?"),
        "{}",
        stderr(&out)
    );
    ok(&env.run(&["delete", "laptop@ghcr.io"], ""));
    assert!(
        json(&ok(&env.run(&["tokens", "--json"], "")))
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_first_token_added_for_a_registry_becomes_its_default() {
    let server = DevServer::start();
    let env = machine(&server);
    let ghcr_after_adding = |integration: &str, secret: &str| {
        let args = ["add", "ghcr.io", "--username", "octo", "-i", integration];
        ok(&env.run(&args, &format!("{secret}\n")));
        ok(&env.get("ghcr.io"))
    };
    assert_eq!(
        ghcr_after_adding("ci", "pw-ci"),
        get_reply("ghcr.io", "octo", "pw-ci"),
        "a registry's only token is what get serves"
    );
    assert_eq!(
        ghcr_after_adding("laptop", "pw-laptop"),
        get_reply("ghcr.io", "octo", "pw-ci"),
        "a second token does not take the default"
    );
    ok(&env.run(&["add", "quay.io", "--username", "q"], "pw-quay\n"));
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "q", "pw-quay")
    );
    let tokens = json(&ok(&env.run(&["tokens", "--json"], "")));
    let defaults: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["default"] == true)
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, ["ci@ghcr.io", "default@quay.io"], "{tokens}");
}

#[test]
fn two_machines_share_tokens_states_and_uses() {
    let server = DevServer::start();
    let laptop = machine(&server);
    laptop.write_config_toml("machine_name = \"laptop\"\n");
    let runner = machine(&server);
    runner.write_config_toml("machine_name = \"runner-7\"\n");
    ok(&laptop.store("ghcr.io", "octo", "shared-secret"));
    assert_eq!(
        ok(&runner.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "shared-secret")
    );
    let tokens = json(&ok(&laptop.run(&["tokens", "--json"], "")));
    assert_eq!(tokens[0]["last_machine"], "runner-7", "{tokens}");
    assert!(tokens[0]["last_used_at"].is_string());
    let table = ok(&laptop.run(&["tokens"], ""));
    assert!(table.contains("on runner-7"), "{table}");
    ok(&laptop.run(&["deactivate", "default@ghcr.io"], ""));
    not_found(&runner.get("ghcr.io"));
    ok(&runner.run(&["activate", "default@ghcr.io"], ""));
    ok(&laptop.get("ghcr.io"));
    let tokens = json(&ok(&runner.run(&["tokens", "--json"], "")));
    assert_eq!(tokens[0]["last_machine"], "laptop", "{tokens}");
}

#[test]
fn docker_cli_and_skopeo_log_in_push_inspect_and_log_out_through_the_server() {
    let server = DevServer::start();
    let registry = Registry::start(PAT);
    let env = machine(&server);
    let host = registry.host.clone();
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}}}}"
    ));
    let login = env.docker_login(&host, REGISTRY_USER, PAT);
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    assert!(!env.config_json().contains(PAT));
    let stored = json(&server.ok(&[
        "kv",
        "get",
        "-format=json",
        &format!("{PREFIX}/{host}/default"),
    ]));
    assert_eq!(stored["data"]["data"]["secret"], PAT);
    ok(&env.push_small_image(&format!("{host}/demo/small:1")));
    let manifest = ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
    assert!(manifest.contains("schemaVersion"), "{manifest}");
    ok(&env.docker(&["logout", &host], ""));
    not_found(&env.get(&host));
    assert!(
        !env.docker_inspect(&format!("{host}/demo/small:1"))
            .status
            .success()
    );
}

const CI_POLICY: &str = r#"
path "secret/data/docker-credential-pat/+/ci" { capabilities = ["read"] }
path "secret/metadata/docker-credential-pat/*" { capabilities = ["list"] }
"#;

/// A server with a `ci` and a `default` token for ghcr.io and a policy that allows only `ci`.
fn ci_server() -> DevServer {
    let server = DevServer::start();
    server.put_token("ghcr.io/ci", "bot", "ghp_ci");
    server.put_token("ghcr.io/default", "me", "ghp_mine");
    let out = server.bao(&["policy", "write", "ci-only", "-"], CI_POLICY);
    assert!(out.status.success(), "{}", stderr(&out));
    server
}

/// `ci` is served; `default` is "not found" on stdout and the refusal on stderr.
fn check_ci_only(env: &mut Env) {
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bot", "ghp_ci")
    );
    env.set("DOCKER_PAT_INTEGRATION", "default");
    let refused = env.get("ghcr.io");
    not_found(&refused);
    let why = stderr(&refused);
    assert!(
        why.contains("secret/data/docker-credential-pat/ghcr.io/default") && why.contains("policy"),
        "{why}"
    );
    assert_eq!(why.lines().count(), 1, "{why}");
    let tokens = json(&ok(&env.run(&["tokens", "--json"], "")));
    assert_eq!(
        tokens.as_array().unwrap().len(),
        1,
        "only what the policy lets it read: {tokens}"
    );
}

/// A machine that logs in to `server` by AppRole as `role`, made with
/// `settings` and a 10-minute token lifetime; and the file of its secret id.
fn approle_machine(server: &DevServer, role: &str, settings: &[&str]) -> (Env, PathBuf) {
    server.ok(&["auth", "enable", "approle"]);
    let path = format!("auth/approle/role/{role}");
    let mut write = vec!["write", path.as_str(), "token_ttl=10m"];
    write.extend_from_slice(settings);
    server.ok(&write);
    let role_id = server.ok(&["read", "-field=role_id", &format!("{path}/role-id")]);
    let secret_id = server.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        &format!("{path}/secret-id"),
    ]);
    let secret_file = server.file("secret-id", &secret_id);
    let mut env = Env::without_keychain();
    env.set("BAO_ADDR", &server.url());
    env.write_config_toml(&format!(
        "backend = \"openbao\"\n[openbao]\nauth = \"approle\"\nrole_id = \"{}\"\nsecret_id_file = \"{}\"\n",
        role_id.trim(),
        secret_file.display()
    ));
    (env, secret_file)
}

#[test]
fn approle_login_with_a_ci_only_policy_and_its_cached_token() {
    let server = ci_server();
    let (mut env, secret_file) = approle_machine(&server, "ci", &["token_policies=ci-only"]);
    check_ci_only(&mut env);
    // The login's token is cached in the kernel keyring: the secret id is no longer needed.
    std::fs::remove_file(&secret_file).unwrap();
    env.set("DOCKER_PAT_INTEGRATION", "ci");
    ok(&env.get("ghcr.io"));
    assert_not_on_disk(env.root.path(), "ghp_ci");
    // Doctor says who can read that cache.
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(
        report.contains("caches: the OpenBao client token from the approle login is cached for its lifetime in this user's kernel keyring, which every process of this user can read"),
        "{report}"
    );
    // A revoked token is dropped and replaced by a new login.
    std::fs::write(
        &secret_file,
        server.ok(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/ci/secret-id",
        ]),
    )
    .unwrap();
    server.ok(&[
        "token",
        "revoke",
        "-accessor",
        &accessors_of(&server, "ci-only"),
    ]);
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "bot", "ghp_ci")
    );
    // A wrong secret id is an authentication error naming the method, not "not found".
    std::fs::write(&secret_file, "not-a-secret-id").unwrap();
    server.ok(&[
        "token",
        "revoke",
        "-accessor",
        &accessors_of(&server, "ci-only"),
    ]);
    let out = fails(&env.get("ghcr.io"));
    assert!(out.contains("approle") && out.contains("secret"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

/// The README's `ci-runner.hcl`, as a reader would copy it.
fn readme_runner_policy() -> String {
    let readme = crate::support::readme::readme();
    let start = readme
        .find("# ci-runner.hcl")
        .expect("the README shows ci-runner.hcl");
    let block = &readme[start..];
    block[..block.find("```").unwrap()].to_owned()
}

/// A runner set up as the README says, its role without OpenBao's `default`
/// policy: the token is served, a refusal is told apart from a dead token, and
/// doctor can ask what the policy allows.
#[test]
fn the_readme_runner_role_without_the_default_policy() {
    let server = DevServer::start();
    server.put_token("ghcr.io/ci", "bot", "ghp_ci");
    server.put_token("ghcr.io/default", "me", "ghp_mine");
    let policy = readme_runner_policy();
    let out = server.bao(&["policy", "write", "ci-runner", "-"], &policy);
    assert!(out.status.success(), "{}", stderr(&out));
    let (mut env, _) = approle_machine(
        &server,
        "ci-runner",
        &["token_policies=ci-runner", "token_no_default_policy=true"],
    );
    // The refused `default` token is the policy's answer, not a login failure.
    check_ci_only(&mut env);
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(
        report.contains("the token's policies: ci-runner;"),
        "no default policy: {report}"
    );
    assert!(report.contains("reading 1 of the 2 token(s)"), "{report}");
    let openbao: Vec<_> = report
        .lines()
        .filter(|l| l.contains(" openbao: "))
        .collect();
    assert!(openbao.iter().all(|l| l.starts_with("ok ")), "{report}");
}

/// The accessor of the newest token holding `policy`.
fn accessors_of(server: &DevServer, policy: &str) -> String {
    let list = json(&server.ok(&["list", "-format=json", "auth/token/accessors"]));
    for accessor in list.as_array().unwrap() {
        let accessor = accessor.as_str().unwrap();
        let info = json(&server.ok(&["token", "lookup", "-format=json", "-accessor", accessor]));
        if info["data"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == policy)
        {
            return accessor.to_owned();
        }
    }
    panic!("no token with {policy}");
}

fn base64url(bytes: &[u8]) -> String {
    base64(bytes)
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned()
}

/// A JWT signed RS256 by `key` (PEM), as a CI system's OIDC provider would issue it.
fn sign_jwt(key: &std::path::Path, claims: &serde_json::Value) -> String {
    let signing_input = format!(
        "{}.{}",
        base64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let signature = openssl.wait_with_output().unwrap().stdout;
    format!("{signing_input}.{}", base64url(&signature))
}

#[test]
fn jwt_login_signed_by_the_tests_own_key_with_a_ci_only_policy() {
    let server = ci_server();
    let key = server.dir.path().join("key.pem");
    assert!(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let public = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&key)
        .stderr(Stdio::null())
        .output()
        .unwrap()
        .stdout;
    server.ok(&["auth", "enable", "jwt"]);
    let config = serde_json::json!({
        "jwt_validation_pubkeys": [String::from_utf8(public).unwrap()],
        "bound_issuer": "https://ci.example.test",
    });
    assert!(
        server
            .bao(&["write", "auth/jwt/config", "-"], &config.to_string())
            .status
            .success()
    );
    let role = serde_json::json!({
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_audiences": ["docker-credential-pat"],
        "bound_subject": "repo:team/app:ref:refs/heads/main",
        "token_policies": ["ci-only"],
        "token_ttl": "10m",
    });
    let out = server.bao(&["write", "auth/jwt/role/runner", "-"], &role.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |subject: &str| {
        serde_json::json!({
            "iss": "https://ci.example.test", "sub": subject, "aud": "docker-credential-pat",
            "iat": now, "nbf": now - 5, "exp": now + 600,
        })
    };
    let jwt_file = server.file(
        "id-token",
        &sign_jwt(&key, &claims("repo:team/app:ref:refs/heads/main")),
    );
    let mut env = Env::without_keychain();
    env.set("BAO_ADDR", &server.url());
    env.write_config_toml(&format!(
        "backend = \"openbao\"\n[openbao]\nauth = \"jwt\"\nrole = \"runner\"\njwt_file = \"{}\"\n",
        jwt_file.display()
    ));
    check_ci_only(&mut env);
    // Another subject is refused at login: an authentication error, not "not found".
    let other = machine(&server);
    let jwt_file = server.file(
        "other-token",
        &sign_jwt(&key, &claims("repo:evil/app:ref:refs/heads/main")),
    );
    other.write_config_toml(&format!(
        "backend = \"openbao\"\n[openbao]\nauth = \"jwt\"\nrole = \"runner\"\njwt_file = \"{}\"\n",
        jwt_file.display()
    ));
    let out = fails(&other.get("ghcr.io"));
    assert!(out.contains("jwt") && out.contains("role"), "{out}");
}

#[test]
fn a_bad_client_token_is_an_authentication_error_not_not_found() {
    let server = DevServer::start();
    server.put_token("ghcr.io/default", "me", "x");
    let mut env = machine(&server);
    env.set("BAO_TOKEN", "s.not-a-token");
    let out = fails(&env.get("ghcr.io"));
    assert!(
        out.contains("token") && out.contains("BAO_TOKEN") && out.contains("bao login"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
}

/// A one-line failure within the timeout (2 s here), with nothing local changed.
#[track_caller]
fn fails_in_time(env: &Env, expect: &str) {
    let started = Instant::now();
    let out = fails(&env.get("ghcr.io"));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "took {took:?}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(expect), "expected {expect:?} in {out}");
}

#[test]
fn a_stopped_hung_sealed_or_failing_server_is_one_line_within_the_timeout() {
    let mut server = DevServer::start();
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN);
    env.write_config_toml("[openbao]\ntimeout_seconds = 2\n");
    ok(&env.store("ghcr.io", "octo", "pw"));
    ok(&env.get("ghcr.io"));
    let root = env.root.path().to_owned();
    let files = || -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = files_under(&root)
            .into_iter()
            .map(|f| (f.clone(), std::fs::read(&f).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = files();

    server.signal("STOP");
    fails_in_time(&env, "within 2 s");
    server.signal("CONT");

    server.ok(&["operator", "seal"]);
    fails_in_time(&env, "sealed");

    // A stand-in that answers 500 to everything.
    let stub_url = failing_stand_in(Duration::ZERO);
    env.set("BAO_ADDR", &stub_url);
    fails_in_time(&env, "500");

    server.stop();
    env.set("BAO_ADDR", &server.url());
    fails_in_time(&env, "cannot reach OpenBao");
    assert!(files() == before, "no local file changed");
    assert_eq!(keyring.item_count(), 0, "the keychain is untouched");
}

/// A stand-in that answers 500 to everything, each answer `delay` late.
fn failing_stand_in(delay: Duration) -> String {
    stand_in(
        "500 Internal Server Error",
        "{\"errors\":[\"internal error\"]}",
        delay,
    )
}

/// A stand-in that answers every request with `status` and `body`, `delay` late.
fn stand_in(status: &'static str, body: &'static str, delay: Duration) -> String {
    let stub = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", stub.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in stub.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let _ = write!(
                    &stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A server that answers, but too slowly for the time left, is said to be
/// slow, not out of reach: here the default token's read is answered ("not
/// found") after 0.7 of the 1 s, and the pointer's read after it cannot be.
#[test]
fn a_server_too_slow_for_the_time_left_is_said_to_be_slow() {
    let mut env = Env::without_keychain();
    let url = stand_in(
        "404 Not Found",
        "{\"errors\":[]}",
        Duration::from_millis(700),
    );
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &url)
        .set("BAO_TOKEN", ROOT_TOKEN);
    env.write_config_toml("[openbao]\ntimeout_seconds = 1\n");
    let out = fails(&env.get("ghcr.io"));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(&format!("OpenBao at {url} answered too slowly: the 1 s of [openbao] timeout_seconds ran out before secret/data/docker-credential-pat/ghcr.io/@default was answered"))
            && !out.contains("cannot reach"),
        "{out}"
    );
}

/// A server that keeps answering 500, slowly enough that its retries take the
/// whole time, is reported by its answer, not as out of reach.
#[test]
fn a_slow_500_until_the_time_runs_out_is_said_as_the_500() {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &failing_stand_in(Duration::from_millis(400)))
        .set("BAO_TOKEN", ROOT_TOKEN);
    env.write_config_toml("[openbao]\ntimeout_seconds = 1\n");
    let started = Instant::now();
    let out = fails(&env.get("ghcr.io"));
    assert!(started.elapsed() < Duration::from_secs(2), "bounded");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("500") && out.contains("internal error") && !out.contains("cannot reach"),
        "{out}"
    );
}

#[test]
fn the_keychain_and_the_vault_stay_untouched() {
    let server = DevServer::start();
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN);
    ok(&env.store("docker.io", "alice", PAT));
    ok(&env.get("docker.io"));
    ok(&env.run(&["rename", "default@docker.io", "laptop"], ""));
    assert!(keyring.items().is_empty(), "{}", keyring.dump());
    assert!(absent(&env.pat_home().join("vault")));
    assert!(absent(&env.pat_home().join("index.json")));
    assert_not_on_disk(env.root.path(), PAT);
}

#[test]
fn migrate_to_the_server_and_back_finishes_after_a_kill() {
    let server = DevServer::start();
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    env.set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN);
    let hosts: Vec<String> = (0..12).map(|i| format!("reg{i}.example")).collect();
    for (i, host) in hosts.iter().enumerate() {
        ok(&env.store(host, "u", &format!("secret-{i}")));
    }
    ok(&env.run(&["rename", "default@reg0.example", "laptop"], ""));
    // Killed as soon as the first token reached the server.
    let mut migrate = env.command(BIN);
    migrate
        .args(["migrate", "--to", "openbao"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = migrate.spawn().unwrap();
    wait_until_listed(&server);
    let _ = child.kill();
    let _ = child.wait();
    // Rerun: whatever was copied but not yet removed here is finished, not duplicated.
    ok(&env.run(&["migrate", "--to", "openbao"], ""));
    assert_eq!(keyring.item_count(), 0, "every secret left the keychain");
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    assert!(config.contains("backend = \"openbao\""), "{config}");
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(
            ok(&env.get(host)),
            get_reply(host, "u", &format!("secret-{i}")),
            "{host}"
        );
    }
    // And back: a copy made here before a kill is recognised, the server's removed.
    server.put_token("reg1.example/default", "u", "secret-1");
    let mut back = env.command(BIN);
    back.args(["migrate", "--to", "keychain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = back.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let _ = child.kill();
    let _ = child.wait();
    keyring.revive_if_crashed();
    ok(&env.run(&["migrate", "--to", "keychain"], ""));
    let left = server.bao(&["kv", "list", &format!("{PREFIX}/")], "");
    // An empty folder is "No value found"; any other failure says nothing about what is left.
    let nothing = !left.status.success()
        && format!("{}{}", stdout(&left), stderr(&left)).contains("No value found at");
    assert!(
        nothing
            || stdout(&left)
                .trim()
                .lines()
                .all(|l| l.starts_with('@') || l.starts_with("Keys") || l.starts_with("----")),
        "{}",
        stdout(&left)
    );
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(
            ok(&env.get(host)),
            get_reply(host, "u", &format!("secret-{i}")),
            "{host}"
        );
    }
    assert_eq!(keyring.item_count(), hosts.len());
    let tokens = json(&ok(&env.run(&["tokens", "--json"], "")));
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["token"] == "laptop@reg0.example" && t["default"] == true),
        "{tokens}"
    );
}

fn wait_until_listed(server: &DevServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .bao(&["kv", "list", &format!("{PREFIX}/")], "")
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "migrate wrote nothing to the server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn doctor_checks_the_server_and_what_the_policy_allows() {
    let server = ci_server();
    let env = machine(&server);
    let report = env.run(&["doctor", "--json"], "");
    let findings = json(&stdout(&report));
    let openbao: Vec<_> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "openbao")
        .collect();
    assert!(openbao.iter().all(|f| f["status"] == "ok"), "{openbao:?}");
    assert!(
        openbao
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("KV version 2"))
    );
    let token = json(&server.ok(&["token", "create", "-format=json", "-policy=ci-only"]));
    let mut runner = machine(&server);
    runner.set("BAO_TOKEN", token["auth"]["client_token"].as_str().unwrap());
    let report = stdout(&runner.run(&["doctor"], ""));
    assert!(report.contains("reading 1 of the 2 token(s)"), "{report}");
    assert!(report.contains("reporting uses"), "{report}");
    assert!(
        report.contains("caches: the OpenBao token is given (BAO_TOKEN, VAULT_TOKEN or a token file) and is not cached"),
        "{report}"
    );
}

/// The Raft failover: 8 processes loop `get` while the active node is killed.
#[test]
fn killing_the_active_node_of_a_raft_cluster_interrupts_get_only_for_the_election() {
    let mut cluster = Cluster::start();
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &cluster.addresses())
        .set("BAO_TOKEN", &cluster.root_token);
    env.write_config_toml("[openbao]\ntimeout_seconds = 5\n");
    for i in 0..5 {
        ok(&env.store(&format!("reg{i}.example"), "u", &format!("secret-{i}")));
    }
    let first = cluster.active().expect("an active node");
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(24);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let mut command = env.command(BIN);
            command.arg("get");
            let host = format!("reg{}.example", w % 5);
            let expected = get_reply(&host, "u", &format!("secret-{}", w % 5));
            let env_vars: Vec<(String, String)> = command
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
                .collect();
            std::thread::spawn(move || {
                let mut results = Vec::new();
                while Instant::now() < stop_at {
                    let begun = Instant::now();
                    let mut command = Command::new(BIN);
                    command
                        .arg("get")
                        .env_clear()
                        .envs(env_vars.iter().map(|(k, v)| (k, v)));
                    let output = run_with_input(command, &host, "get");
                    results.push((
                        begun,
                        begun.elapsed(),
                        output.status.success(),
                        stdout(&output),
                        expected.clone(),
                    ));
                }
                results
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = Instant::now();
    cluster.kill_node(first);
    let second = cluster.wait_for_new_active(first, Duration::from_secs(30));
    let elected = killed_at.elapsed();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let mut failures = 0;
    for (begun, took, success, out, expected) in &results {
        assert!(*took < Duration::from_millis(6500), "a get took {took:?}");
        if *success {
            assert_eq!(out, expected);
        } else {
            failures += 1;
            assert_eq!(out.lines().count(), 1, "{out}");
            assert!(
                *begun + *took >= killed_at && *begun < killed_at + Duration::from_secs(15),
                "a get failed outside the election: {out}"
            );
        }
    }
    let after: Vec<_> = results
        .iter()
        .filter(|r| r.0 > killed_at + Duration::from_secs(15))
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|r| r.2),
        "all succeed again within 15 s"
    );
    eprintln!(
        "{} gets, {failures} failed; node {first} killed, node {second} active after {elected:?}",
        results.len()
    );
    ok(&env.store("after.example", "u", "secret-after"));
    cluster.restart_node(first);
    // Nothing is lost: once the restarted node has caught up (its reads are
    // eventually consistent, like any standby's), every token is there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = env.run(&["list"], "");
        let complete = listed.status.success()
            && json(&stdout(&listed))
                .as_object()
                .is_some_and(|o| o.len() == 6)
            && (0..5).all(|i| {
                let host = format!("reg{i}.example");
                stdout(&env.get(&host)) == get_reply(&host, "u", &format!("secret-{i}"))
            })
            && stdout(&env.get("after.example")) == get_reply("after.example", "u", "secret-after");
        if complete {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tokens missing after the restart: {}",
            stdout(&listed)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The same table of protocol exchanges the keychains answer, byte for byte,
/// each scenario under a prefix of its own on one server.
#[test]
fn the_protocol_table_holds_on_openbao() {
    let server = DevServer::start();
    let mut scenario = 0;
    crate::conformance::run_table(|| {
        scenario += 1;
        let env = machine(&server);
        env.write_config_toml(&format!("[openbao]\nprefix = \"conformance-{scenario}\"\n"));
        env
    });
}
