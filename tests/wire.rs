//! The wire itself: TLS roots (the system's store, SSL_CERT_FILE and
//! SSL_CERT_DIR, ca_file and BAO_CACERT instead), proxies as curl reads them
//! through a real tinyproxy, and plain HTTP refused beyond loopback. Against
//! a real OpenBao with a TLS listener whose certificate comes from a private
//! CA made by openssl here.

use crate::support::openbao::{DevServer, ROOT_TOKEN};
use crate::support::wire::{Ca, Tinyproxy};
use crate::support::*;

const NAME: &str = "bao.proxied.test";

/// A machine whose tokens are on `address`, logged in as root.
fn machine(address: &str) -> Env {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", address)
        .set("BAO_TOKEN", ROOT_TOKEN);
    env.write_config_toml("[openbao]\ntimeout_seconds = 3\n");
    env
}

/// The one line a failed `get` prints.
#[track_caller]
fn get_fails(env: &Env) -> String {
    let out = fails(&env.get("ghcr.io"));
    assert_eq!(out.lines().count(), 1, "{out}");
    out
}

#[test]
fn tls_trusts_ssl_cert_file_ssl_cert_dir_and_ca_file_and_names_a_tls_failure() {
    let ca = Ca::new("Test Private CA");
    let (cert, key) = ca.issue("server", &["localhost", "127.0.0.1"]);
    let (server, port) = DevServer::start_with_tls(&cert, &key);
    server.ok(&[
        "kv",
        "put",
        "secret/docker-credential-pat/ghcr.io/default",
        "username=octo",
        "secret=pw-tls",
    ]);
    let mut env = machine(&format!("https://127.0.0.1:{port}"));
    let reply = get_reply("ghcr.io", "octo", "pw-tls");

    // The system's store does not know this CA: a TLS failure, said as such.
    let out = get_fails(&env);
    assert!(
        out.contains("TLS") && out.contains("certificate") && !out.contains("cannot reach"),
        "{out}"
    );
    assert!(out.contains("SSL_CERT_FILE"), "it says what to do: {out}");

    env.set("SSL_CERT_FILE", ca.cert.to_str().unwrap());
    assert_eq!(ok(&env.get("ghcr.io")), reply);

    // A folder of certificates works the same.
    let folder = ca.dir.path().join("certs");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&ca.cert, folder.join("private-ca.pem")).unwrap();
    env.vars.retain(|(k, _)| k != "SSL_CERT_FILE");
    env.set("SSL_CERT_DIR", folder.to_str().unwrap());
    assert_eq!(ok(&env.get("ghcr.io")), reply);

    // ca_file replaces every other root: another CA there is not trusted, whatever SSL_CERT_FILE says.
    let other = Ca::new("Another CA");
    env.set("SSL_CERT_FILE", ca.cert.to_str().unwrap());
    env.write_config_toml(&format!(
        "[openbao]\ntimeout_seconds = 3\nca_file = \"{}\"\n",
        other.cert.display()
    ));
    let out = get_fails(&env);
    assert!(out.contains("TLS"), "{out}");
    env.write_config_toml(&format!(
        "[openbao]\ntimeout_seconds = 3\nca_file = \"{}\"\n",
        ca.cert.display()
    ));
    env.vars.retain(|(k, _)| !k.starts_with("SSL_CERT"));
    assert_eq!(ok(&env.get("ghcr.io")), reply);
    // BAO_CACERT, as the bao CLI reads it, wins over ca_file.
    env.set("BAO_CACERT", other.cert.to_str().unwrap());
    assert!(get_fails(&env).contains("TLS"));
}

#[test]
fn plain_http_beyond_loopback_is_refused_at_start_naming_the_setting() {
    let mut env = machine("http://bao.example:8200");
    let out = get_fails(&env);
    assert!(
        out.starts_with("BAO_ADDR: ") && out.contains("loopback"),
        "{out}"
    );
    env.vars.retain(|(k, _)| k != "BAO_ADDR");
    env.set("VAULT_ADDR", "http://10.1.2.3:8200");
    let out = get_fails(&env);
    assert!(out.starts_with("VAULT_ADDR: "), "{out}");
    env.vars.retain(|(k, _)| k != "VAULT_ADDR");
    env.write_config_toml("[openbao]\naddress = \"http://bao.example:8200\"\n");
    let out = get_fails(&env);
    assert!(
        out.contains("address") && out.contains("loopback") && out.contains("config.toml"),
        "{out}"
    );
    let mut hub = Env::without_keychain();
    hub.set("DOCKER_PAT_HUB_URL", "http://hub.example");
    let out = hub.run(&["hub", "tokens"], "");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success());
    assert!(
        text.contains("DOCKER_PAT_HUB_URL") && text.contains("loopback"),
        "{text}"
    );
}

/// Through a real tinyproxy that alone knows the server's name: HTTPS_PROXY
/// with a user and password is used, NO_PROXY (with spaces and a domain
/// suffix) is honoured, loopback never goes through the proxy, and the
/// password is never printed.
#[test]
fn https_goes_through_the_proxy_as_curl_would_and_loopback_never_does() {
    let ca = Ca::new("Test Private CA");
    let (cert, key) = ca.issue("server", &[NAME]);
    let (server, port) = DevServer::start_with_tls(&cert, &key);
    server.ok(&[
        "kv",
        "put",
        "secret/docker-credential-pat/ghcr.io/default",
        "username=octo",
        "secret=pw-proxied",
    ]);
    let proxy = Tinyproxy::start("bob", "pr0xy-pw", port, &[(NAME, "127.0.0.1")]);
    let mut env = machine(&format!("https://{NAME}:{port}"));
    env.set("SSL_CERT_FILE", ca.cert.to_str().unwrap());
    let reply = get_reply("ghcr.io", "octo", "pw-proxied");

    // Without the proxy the name cannot be found: the test sees which way requests go.
    let out = get_fails(&env);
    assert!(out.contains("host not found"), "{out}");
    assert!(!proxy.log().contains(NAME), "{}", proxy.log());

    env.set(
        "HTTPS_PROXY",
        &format!("http://bob:pr0xy-pw@127.0.0.1:{}", proxy.port),
    );
    assert_eq!(ok(&env.get("ghcr.io")), reply);
    ok(&env.store("ghcr.io", "octo", "pw-stored-through-proxy"));
    assert!(
        proxy.log().contains(&format!("CONNECT {NAME}:{port}")),
        "{}",
        proxy.log()
    );

    // A wrong password: one line, which does not repeat it.
    env.set(
        "HTTPS_PROXY",
        &format!("http://bob:wr0ng-pw@127.0.0.1:{}", proxy.port),
    );
    let out = get_fails(&env);
    assert!(!out.contains("wr0ng-pw") && out.contains("proxy"), "{out}");

    // ALL_PROXY too, and the lower-case names; NO_PROXY as people write it.
    env.vars.retain(|(k, _)| k != "HTTPS_PROXY");
    env.set(
        "all_proxy",
        &format!("http://bob:pr0xy-pw@127.0.0.1:{}", proxy.port),
    );
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-stored-through-proxy")
    );
    env.set("NO_PROXY", "localhost, .proxied.test");
    assert!(get_fails(&env).contains("host not found"));
    env.set("NO_PROXY", "localhost, 127.0.0.1");
    ok(&env.get("ghcr.io"));

    // Loopback is never proxied, whatever the variables say.
    let before = proxy.settled_log().lines().count();
    let mut local = machine(&server.url());
    for variable in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "http_proxy"] {
        local.set(
            variable,
            &format!("http://bob:pr0xy-pw@127.0.0.1:{}", proxy.port),
        );
    }
    assert_eq!(
        ok(&local.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-stored-through-proxy")
    );
    let after = proxy.settled_log();
    assert_eq!(
        after.lines().count(),
        before,
        "a loopback request went through the proxy: {after}"
    );
    for output in [env.get("ghcr.io"), env.run(&["doctor"], "")] {
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(!text.contains("pr0xy-pw"), "{text}");
    }
}
