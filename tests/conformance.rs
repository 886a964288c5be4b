//! The credential-helper protocol as one table of exchanges, byte for byte.
//!
//! The same table runs against every keychain the helper supports: GNOME
//! Keyring on Linux here, the Windows build under Wine (tests/wine.rs), and the
//! native keychain where the suite runs on Windows or macOS.

use std::process::Output;

use crate::support::*;

/// A way to run the helper with a fresh data folder.
pub trait Helper {
    /// Runs the helper with `args` and `input` on stdin, with extra variables.
    fn call(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Output;
}

/// One exchange: what is sent, and exactly what comes back.
pub struct Step {
    pub args: &'static [&'static str],
    pub input: String,
    pub vars: &'static [(&'static str, &'static str)],
    pub stdout: String,
    pub code: i32,
}

/// Exchanges that run in order against one data folder.
pub struct Scenario {
    pub name: &'static str,
    pub steps: Vec<Step>,
}

const USAGE: &str = "Usage: docker-credential-pat <store|get|erase|list|version>\n";
const CI: &[(&str, &str)] = &[("DOCKER_PAT_INTEGRATION", "ci")];
const DEPLOY: &[(&str, &str)] = &[("DOCKER_PAT_INTEGRATION", "deploy")];

fn store(server: &str, user: &str, secret: &str) -> Step {
    store_as(&[], server, user, secret)
}

fn store_as(
    vars: &'static [(&'static str, &'static str)],
    server: &str,
    user: &str,
    secret: &str,
) -> Step {
    Step {
        args: &["store"],
        input: format!(
            "{{\"ServerURL\":\"{server}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\n"
        ),
        vars,
        stdout: String::new(),
        code: 0,
    }
}

fn send(args: &'static [&'static str], input: &str, stdout: &str, code: i32) -> Step {
    send_as(&[], args, input, stdout, code)
}

fn send_as(
    vars: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    input: &str,
    stdout: &str,
    code: i32,
) -> Step {
    Step {
        args,
        input: input.into(),
        vars,
        stdout: stdout.into(),
        code,
    }
}

fn get(server: &str, user: &str, secret: &str) -> Step {
    send(&["get"], server, &get_reply(server, user, secret), 0)
}

fn missing(server: &str) -> Step {
    send(&["get"], server, NOT_FOUND, 1)
}

/// Every exchange the helper must answer exactly as the reference helpers do.
pub fn scenarios() -> Vec<Scenario> {
    let hub = "https://index.docker.io/v1/";
    let version = format!(
        "docker-credential-pat (github.com/docker-credential-pat/docker-credential-pat) v{}\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut hub_aliases = vec![store("docker.io", "alice", PAT)];
    for address in [
        "https://index.docker.io/v1/",
        "https://index.docker.io/v1",
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io",
    ] {
        hub_aliases.push(get(address, "alice", PAT));
    }
    hub_aliases.extend([
        send(
            &["get"],
            "  docker.io \n",
            &get_reply("docker.io", "alice", PAT),
            0,
        ),
        send(
            &["list"],
            "",
            "{\"https://index.docker.io/v1/\":\"alice\"}\n",
            0,
        ),
    ]);
    vec![
        Scenario {
            name: "store, get, list, erase",
            steps: vec![
                store(hub, "alice", PAT),
                get(hub, "alice", PAT),
                send(
                    &["list"],
                    "unused",
                    "{\"https://index.docker.io/v1/\":\"alice\"}\n",
                    0,
                ),
                send(&["erase"], hub, "", 0),
                missing(hub),
                send(&["list"], "", "{}\n", 0),
            ],
        },
        Scenario {
            name: "every Docker Hub spelling reaches one entry",
            steps: hub_aliases,
        },
        Scenario {
            name: "Docker Hub web-login entries are separate",
            steps: vec![
                store(
                    "https://index.docker.io/v1/access-token",
                    "alice",
                    "eyJhbGciOiJSUzI1NiJ9.jwt",
                ),
                missing(hub),
                missing("https://index.docker.io/v1/refresh-token"),
                get(
                    "https://index.docker.io/v1/access-token",
                    "alice",
                    "eyJhbGciOiJSUzI1NiJ9.jwt",
                ),
                send(
                    &["list"],
                    "",
                    "{\"https://index.docker.io/v1/access-token\":\"alice\"}\n",
                    0,
                ),
            ],
        },
        Scenario {
            name: "other registries ignore scheme, slash and host case",
            steps: vec![
                store("127.0.0.1:5000", "bob", "pw1"),
                get("127.0.0.1:5000", "bob", "pw1"),
                get("http://127.0.0.1:5000", "bob", "pw1"),
                get("https://127.0.0.1:5000/", "bob", "pw1"),
                store("https://GHCR.io/", "carol", "pw2"),
                get("ghcr.io", "carol", "pw2"),
                send(
                    &["list"],
                    "",
                    "{\"127.0.0.1:5000\":\"bob\",\"https://GHCR.io/\":\"carol\"}\n",
                    0,
                ),
            ],
        },
        Scenario {
            name: "docker logout's erase sequence succeeds once",
            steps: vec![
                store("127.0.0.1:5000", "bob", "pw"),
                send(&["erase"], "127.0.0.1:5000", "", 0),
                send(&["erase"], "127.0.0.1:5000", NOT_FOUND, 1),
                send(&["erase"], "http://127.0.0.1:5000", NOT_FOUND, 1),
                send(&["erase"], "https://127.0.0.1:5000", NOT_FOUND, 1),
            ],
        },
        Scenario {
            name: "store replaces the secret and the username",
            steps: vec![
                store("ghcr.io", "bob", "first-secret"),
                store("ghcr.io", "bob2", "second-secret"),
                get("ghcr.io", "bob2", "second-secret"),
            ],
        },
        Scenario {
            name: "JSON is escaped like Go",
            steps: vec![
                send(
                    &["store"],
                    r#"{"ServerURL":"docker.io","Username":"<token>","Secret":"a\"b\\c<>&\u2028"}"#,
                    "",
                    0,
                ),
                send(
                    &["get"],
                    "docker.io",
                    "{\"ServerURL\":\"docker.io\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"a\\\"b\\\\c\\u003c\\u003e\\u0026\\u2028\"}\n",
                    0,
                ),
            ],
        },
        Scenario {
            name: "validation messages match the reference helpers",
            steps: vec![
                send(
                    &["store"],
                    r#"{"ServerURL":"","Username":"a","Secret":"b"}"#,
                    "no credentials server URL\n",
                    1,
                ),
                send(
                    &["store"],
                    r#"{"ServerURL":"x.io","Username":"","Secret":"b"}"#,
                    "no credentials username\n",
                    1,
                ),
                send(&["get"], "", "no credentials server URL\n", 1),
                send(&["erase"], "  ", "no credentials server URL\n", 1),
            ],
        },
        Scenario {
            name: "arguments are checked like the reference helpers",
            steps: vec![
                send(&[], "", USAGE, 1),
                send(&["get", "extra"], "", USAGE, 1),
                send(&["bogus", "extra"], "", USAGE, 1),
                send(
                    &["bogus"],
                    "",
                    "docker-credential-pat: unknown action: bogus\n",
                    1,
                ),
                send(&["version"], "", &version, 0),
                send(&["--version"], "", &version, 0),
                send(&["-v"], "", &version, 0),
            ],
        },
        Scenario {
            name: "each integration gets only its own token",
            steps: vec![
                store_as(CI, "ghcr.io", "bob", "ci-secret"),
                store("ghcr.io", "bob", "laptop-secret"),
                send_as(
                    CI,
                    &["get"],
                    "ghcr.io",
                    &get_reply("ghcr.io", "bob", "ci-secret"),
                    0,
                ),
                get("ghcr.io", "bob", "laptop-secret"),
                send_as(DEPLOY, &["get"], "ghcr.io", NOT_FOUND, 1),
                send_as(CI, &["list"], "", "{\"ghcr.io\":\"bob\"}\n", 0),
                send_as(CI, &["erase"], "ghcr.io", "", 0),
                send_as(CI, &["get"], "ghcr.io", NOT_FOUND, 1),
                get("ghcr.io", "bob", "laptop-secret"),
            ],
        },
    ]
}

/// Runs every scenario, each with a fresh data folder from `fresh`.
pub fn run_table<H: Helper>(mut fresh: impl FnMut() -> H) {
    for scenario in scenarios() {
        let helper = fresh();
        for (n, step) in scenario.steps.iter().enumerate() {
            let output = helper.call(step.args, &step.input, step.vars);
            let what = format!(
                "{}, step {}: {:?} {:?} with {:?}\nstderr: {}",
                scenario.name,
                n + 1,
                step.args,
                step.input,
                step.vars,
                stderr(&output)
            );
            assert_eq!(stdout(&output), step.stdout, "{what}");
            assert_eq!(output.status.code(), Some(step.code), "{what}");
        }
    }
}

impl Helper for Env {
    fn call(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Output {
        let mut command = self.command(BIN);
        command.args(args);
        for (key, value) in vars {
            command.env(key, value);
        }
        run_with_input(command, input, BIN)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_protocol_table_holds_on_gnome_keyring() {
    let keyring = SecretService::start();
    run_table(|| Env::new(&keyring));
}

/// A data folder of its own, the rest of the environment as the tests got it:
/// the macOS Keychain is found through the real HOME.
#[cfg(not(target_os = "linux"))]
struct NativeEnv {
    root: tempfile::TempDir,
}

#[cfg(not(target_os = "linux"))]
impl Helper for NativeEnv {
    fn call(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Output {
        let mut command = std::process::Command::new(BIN);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DOCKER_PAT_") {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .env("DOCKER_PAT_HOME", self.root.path().join("pat"))
            .env("DOCKER_CONFIG", self.root.path().join("docker"))
            .env("DOCKER_PAT_BACKEND", "keychain")
            .env("NO_COLOR", "1");
        for (key, value) in vars {
            command.env(key, value);
        }
        run_with_input(command, input, BIN)
    }
}

/// On Windows and macOS, against the keychain of the user running the tests.
#[cfg(not(target_os = "linux"))]
#[test]
fn the_protocol_table_holds_on_the_native_keychain() {
    run_table(|| NativeEnv {
        root: tempfile::tempdir().unwrap(),
    });
}
