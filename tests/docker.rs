//! End to end: the Docker CLI and skopeo against a registry on 127.0.0.1, through the helper.

use crate::support::*;

#[test]
fn docker_login_push_inspect_logout_with_a_token() {
    let keyring = SecretService::start();
    let registry = Registry::start(PAT);
    let env = Env::new(&keyring);
    let host = registry.host.clone();
    env.write_config_json(&format!(
        "{{\"credsStore\":\"pat\",\"credHelpers\":{{\"{host}\":\"pat\"}},\"detachKeys\":\"ctrl-q\"}}"
    ));

    let login = env.docker_login(&host, REGISTRY_USER, PAT);
    assert!(ok(&login).contains("Login Succeeded"), "{}", stderr(&login));
    let config = env.config_json();
    assert!(
        !config.contains(PAT) && !config.contains("\"auth\""),
        "config.json holds no secret: {config}"
    );
    assert!(config.contains("detachKeys"), "other keys are kept");
    assert!(keyring.holds(PAT), "the Secret Service holds the token");
    assert_eq!(ok(&env.get(&host)), get_reply(&host, REGISTRY_USER, PAT));

    ok(&env.push_small_image(&format!("{host}/demo/small:1")));
    let manifest = ok(&env.docker_inspect(&format!("{host}/demo/small:1")));
    assert!(manifest.contains("schemaVersion"), "{manifest}");

    ok(&env.docker(&["logout", &host], ""));
    assert!(
        !keyring.holds(PAT),
        "logout removes the secret from the Secret Service"
    );
    not_found(&env.get(&host));
    let refused = env.docker_inspect(&format!("{host}/demo/small:1"));
    assert!(
        !refused.status.success() && stderr(&refused).contains("no basic auth credentials"),
        "the registry refuses once logged out: {}",
        stderr(&refused)
    );
    assert_eq!(registry.status_with(REGISTRY_USER, "wrong"), 401);
}

#[test]
fn python_docker_package_drives_the_helper() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let script = r#"
import sys
from docker.credentials import Store
store = Store("pat")
store.store(server="ghcr.io", username="octo", secret=sys.stdin.readline().strip())
creds = store.get("ghcr.io")
assert creds["Username"] == "octo", creds
assert creds["ServerURL"] == "ghcr.io", creds
print(creds["Secret"])
print(sorted(store.list().items()))
store.erase("ghcr.io")
try:
    store.get("ghcr.io")
    raise SystemExit("expected not found")
except Exception as e:
    print(type(e).__name__)
"#;
    let python = which_python();
    let out = ok(&env.client(&python, &["-c", script], &format!("{PAT}\n")));
    assert_eq!(
        out,
        format!("{PAT}\n[('ghcr.io', 'octo')]\nCredentialsNotFound\n")
    );
}

fn which_python() -> String {
    let found = std::process::Command::new("python3")
        .args(["-c", "import docker.credentials"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "python3 with the docker package is needed: run `pip install docker` (tests/run.sh does)"
    );
    "python3".into()
}
