//! `tokens` shows each token's registry view — its state there, its scopes,
//! expiry and the registry's last use beside ours — from what the last call
//! to the registry's API recorded, for Docker Hub's tokens as for GitLab's,
//! without a call of its own.

use crate::support::hub_setup::{Setup, login, served, setup};
use crate::support::*;

#[test]
fn hub_tokens_records_hubs_view_and_tokens_shows_it_without_a_call() {
    let Setup {
        env,
        hub,
        keyring: _keyring,
    } = setup();
    login(&env);
    ok(&env.run(
        &[
            "hub",
            "create",
            "--integration",
            "ci",
            "--scopes",
            "write",
            "--expires",
            "90",
        ],
        "",
    ));
    let before = json_of(&env);
    assert!(
        before[0]["registry_view"].is_null(),
        "nothing read from Hub yet: {before}"
    );
    ok(&env.run(&["hub", "tokens"], ""));
    let secret = served(&env).unwrap();
    assert_eq!(
        hub.use_directly("alice", &secret),
        200,
        "a use at Hub, from elsewhere"
    );
    let calls = hub.http().calls();
    let listed = json_of(&env);
    let view = &listed[0]["registry_view"];
    assert_eq!(view["state"], "active", "as last read: {listed}");
    assert_eq!(view["scopes"], serde_json::json!(["repo:write"]));
    assert!(view["last_used_at"].is_null(), "as last read: {view}");
    assert_eq!(
        listed[0]["expires_at"], before[0]["expires_at"],
        "Hub's listing says nothing of expiry, so the one known here stays"
    );
    assert_eq!(hub.http().calls(), calls, "tokens calls nobody");
    // The next listing at Hub records what changed there.
    ok(&env.run(&["hub", "tokens"], ""));
    let listed = json_of(&env);
    assert!(
        listed[0]["registry_view"]["last_used_at"].is_string(),
        "{listed}"
    );
    let table = ok(&env.run(&["tokens", "--wide"], ""));
    let header = table.lines().next().unwrap();
    assert!(header.contains("  USED THERE  THERE  "), "{table}");
}

fn json_of(env: &Env) -> serde_json::Value {
    serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap()
}
