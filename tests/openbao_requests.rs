//! How many requests the helper makes of OpenBao, counted by the fault proxy
//! passing everything through: one for a `get` of a registry's `default`
//! token, while what it serves stays what the default pointer says, however
//! the pointer came to be; and one read of the token for `store` and for
//! `github verify`.

use crate::support::faultproxy::FaultProxy;
use crate::support::openbao::{DevServer, ROOT_TOKEN};
use crate::support::*;

const PREFIX: &str = "secret/docker-credential-pat";

/// A machine whose requests go through `proxy` to the server.
fn machine(proxy: &FaultProxy) -> Env {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &proxy.url())
        .set("BAO_TOKEN", ROOT_TOKEN);
    env
}

/// What `get` serves for ghcr.io, and the requests it made, as `METHOD /path`.
/// The use is reported on the first `get` of each token; it is made first, uncounted.
fn counted_get(env: &Env, proxy: &FaultProxy) -> (Option<String>, Vec<String>) {
    let _ = env.get("ghcr.io");
    proxy.reset();
    let out = env.get("ghcr.io");
    let seen = proxy.seen();
    let secret = out.status.success().then(|| {
        let reply: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        reply["Secret"].as_str().unwrap().to_owned()
    });
    (secret, seen)
}

fn read_of(integration: &str) -> String {
    format!(
        "GET /v1/{}/ghcr.io/{integration}",
        PREFIX.replacen('/', "/data/", 1)
    )
}

#[test]
fn get_of_a_registrys_default_token_is_one_request() {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let mut env = machine(&proxy);
    ok(&env.store("ghcr.io", "octo", "pw-default"));
    let (served, seen) = counted_get(&env, &proxy);
    assert_eq!(served.as_deref(), Some("pw-default"));
    assert_eq!(seen, [read_of("default")], "one read, no pointer");
    env.set("DOCKER_PAT_INTEGRATION", "default");
    let (served, seen) = counted_get(&env, &proxy);
    assert_eq!(served.as_deref(), Some("pw-default"));
    assert_eq!(seen, [read_of("default")]);
}

#[test]
fn get_follows_the_pointer_however_the_default_moves() {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let env = machine(&proxy);
    ok(&env.store("ghcr.io", "octo", "pw-default"));
    ok(&env.run(
        &["add", "ghcr.io", "--username", "octo", "-i", "laptop"],
        "pw-laptop\n",
    ));
    let served_with = |expected: &str, reads: &[&str]| {
        let (served, seen) = counted_get(&env, &proxy);
        assert_eq!(served.as_deref(), Some(expected), "{seen:?}");
        let reads: Vec<String> = reads.iter().map(|i| read_of(i)).collect();
        assert_eq!(seen, reads);
    };
    served_with("pw-default", &["default"]);

    ok(&env.run(&["default", "laptop@ghcr.io"], ""));
    served_with("pw-laptop", &["default", "@default", "laptop"]);
    ok(&env.run(&["default", "default@ghcr.io"], ""));
    served_with("pw-default", &["default"]);

    // The pointed-to token deleted: `default` is the default again, in one read.
    ok(&env.run(&["default", "laptop@ghcr.io"], ""));
    ok(&env.run(&["delete", "laptop@ghcr.io"], ""));
    served_with("pw-default", &["default"]);

    // Renamed away: no `default` token, the pointer names the new one.
    ok(&env.run(&["rename", "default@ghcr.io", "ci"], ""));
    served_with("pw-default", &["default", "@default", "ci"]);
    // Renamed back: the copy is marked only once the pointer is gone.
    ok(&env.run(&["rename", "ci@ghcr.io", "default"], ""));
    served_with("pw-default", &["default"]);
}

#[test]
fn a_token_or_pointer_written_without_the_helper_is_read_as_before_or_reported() {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let env = machine(&proxy);
    // Put there by an admin (or stored by an earlier version): no mark, so the pointer is read.
    server.put_token("ghcr.io/default", "bot", "pw-by-hand");
    server.put_token("ghcr.io/ci", "bot", "pw-ci");
    let (served, seen) = counted_get(&env, &proxy);
    assert_eq!(served.as_deref(), Some("pw-by-hand"));
    assert_eq!(seen, [read_of("default"), read_of("@default")]);
    server.ok(&[
        "kv",
        "put",
        &format!("{PREFIX}/ghcr.io/@default"),
        "integration=ci",
    ]);
    let (served, _) = counted_get(&env, &proxy);
    assert_eq!(served.as_deref(), Some("pw-ci"), "the pointer decides");

    // Stored by this helper, so marked; then a pointer written by hand beside it.
    ok(&env.run(&["default", "default@ghcr.io"], ""));
    ok(&env.store("ghcr.io", "octo", "pw-stored"));
    assert_eq!(counted_get(&env, &proxy).1, [read_of("default")]);
    server.ok(&[
        "kv",
        "put",
        &format!("{PREFIX}/ghcr.io/@default"),
        "integration=ci",
    ]);
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(
        report.contains("names ci@ghcr.io as the default")
            && report.contains("docker-credential-pat default ci@ghcr.io"),
        "doctor reports the pointer get does not see: {report}"
    );
    ok(&env.run(&["default", "ci@ghcr.io"], ""));
    assert_eq!(counted_get(&env, &proxy).0.as_deref(), Some("pw-ci"));
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(!report.contains("as the default"), "{report}");
}

/// The reads of ghcr.io's `default` token among `seen`.
fn reads_of_default(seen: &[String]) -> usize {
    seen.iter().filter(|r| **r == read_of("default")).count()
}

/// `store` reads the token it writes over once, then writes; checking a new
/// GitHub token uses what was stored, without reading it back. `github verify`
/// reads the token, record and secret, once.
#[test]
fn store_and_github_verify_read_the_token_once() {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let env = machine(&proxy);
    proxy.reset();
    ok(&env.store("ghcr.io", "octo", "pw-first"));
    let seen = proxy.seen();
    assert_eq!(reads_of_default(&seen), 1, "a new token: {seen:?}");
    proxy.reset();
    ok(&env.store("ghcr.io", "octo", "pw-second"));
    let seen = proxy.seen();
    assert_eq!(reads_of_default(&seen), 1, "over a token: {seen:?}");
    assert_eq!(
        seen.iter().filter(|r| !r.starts_with("GET ")).count(),
        2,
        "the secret, then its record: {seen:?}"
    );
    // GitHub's API is a closed port here: the check fails after the read.
    proxy.reset();
    let out = env.run(&["github", "verify", "default@ghcr.io"], "");
    assert!(!out.status.success(), "{}", stderr(&out));
    let seen = proxy.seen();
    assert_eq!(reads_of_default(&seen), 1, "github verify: {seen:?}");
}
