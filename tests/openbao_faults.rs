//! Every OpenBao flow through a fault at every request it makes, against a
//! real `bao server -dev` behind the fault proxy; and partitions of a real
//! three-node Raft cluster, one fault proxy per node.
//!
//! For each flow the requests are counted first with the proxy passing
//! everything. Then, for each request index and each fault (a delay past the
//! timeout, the answer dropped after the server acted, a reset, a 500 or a
//! 503 from the proxy), the flow runs once on a prefix of its own, and:
//!
//! - a success leaves the server exactly as the clean run left it;
//! - a failure is one line; unless it says what was done ("…, but …"), the
//!   server is exactly as before;
//! - `get` serves what the server says is current;
//! - after a failure, the same command run again succeeds and leaves the
//!   server as the clean run did.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::faultproxy::{Fault, FaultProxy, every_fault};
use crate::support::openbao::{Cluster, DevServer, ROOT_TOKEN};
use crate::support::*;

/// The client's timeout in these tests; a delay holds a request past it.
const TIMEOUT_SECONDS: u64 = 1;
const VAULT_CONFIG: &str =
    "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\nvault_cache_seconds = 0\n";

/// One HTTP request to OpenBao at `address` as root; the status and the JSON body.
fn api(address: &str, method: &str, path: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} /v1/{path} HTTP/1.0\r\nHost: {address}\r\nX-Vault-Token: {ROOT_TOKEN}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// What the server holds under `prefix`, as `get` and the commands see it:
/// each token's username, secret, state and description, each default
/// pointer; ids, times, generations and uses left out. A record that does not
/// describe its secret (generations differ) is marked.
fn snapshot(address: &str, prefix: &str) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        let (status, listed) = api(
            address,
            "GET",
            &format!("secret/metadata/{prefix}/{folder}?list=true"),
        );
        if status != 200 {
            continue;
        }
        for key in listed["data"]["keys"].as_array().unwrap() {
            let key = format!("{folder}{}", key.as_str().unwrap());
            if key.starts_with("@uses") {
                continue;
            }
            if key.ends_with('/') {
                folders.push(key);
                continue;
            }
            let (status, read) = api(address, "GET", &format!("secret/data/{prefix}/{key}"));
            let value = if status != 200 {
                // A record whose secret was never written: nobody sees it.
                continue;
            } else if key.ends_with("@default") {
                format!("default -> {}", read["data"]["data"]["integration"])
            } else {
                let data = &read["data"]["data"];
                let custom = &read["data"]["metadata"]["custom_metadata"];
                let stale =
                    !custom["generation"].is_null() && custom["generation"] != data["generation"];
                format!(
                    "{}:{} active={} description={}{}",
                    data["username"].as_str().unwrap_or("?"),
                    data["secret"].as_str().unwrap_or("?"),
                    custom["active"].as_str().unwrap_or("true"),
                    data["description"],
                    if stale { " STALE" } else { "" }
                )
            };
            state.insert(key, value);
        }
    }
    state
}

/// The secret `get` should serve for `registry` in `state`, if any.
fn current(state: &BTreeMap<String, String>, registry: &str) -> Option<String> {
    let integration =
        state
            .get(&format!("{registry}/@default"))
            .map_or("default".to_owned(), |p| {
                p.trim_start_matches("default -> ")
                    .trim_matches('"')
                    .to_owned()
            });
    let token = state.get(&format!("{registry}/{integration}"))?;
    if !token.contains("active=true") {
        return None;
    }
    let (user_secret, _) = token.split_once(' ').unwrap();
    Some(user_secret.split_once(':').unwrap().1.to_owned())
}

/// A flow: how to make its starting state, and the command that changes it.
struct Flow {
    name: &'static str,
    registry: &'static str,
    /// Brings the prefix to the flow's starting state, through `env`.
    setup: fn(&Env),
    args: &'static [&'static str],
    input: &'static str,
    /// Tokens kept in the vault file here rather than on the server.
    local: bool,
    /// The requests of its clean run, as the README counts them.
    requests: usize,
}

fn store_one(env: &Env) {
    ok(&env.store("ghcr.io", "octo", "pw-old"));
}

fn store_and_deactivate(env: &Env) {
    store_one(env);
    ok(&env.run(&["deactivate", "default@ghcr.io"], ""));
}

fn store_two(env: &Env) {
    store_one(env);
    ok(&env.run(
        &["add", "ghcr.io", "--username", "octo", "-i", "laptop"],
        "pw-laptop\n",
    ));
}

fn store_renamed(env: &Env) {
    store_one(env);
    ok(&env.run(&["rename", "default@ghcr.io", "laptop"], ""));
}

fn nothing(_: &Env) {}

const FLOWS: &[Flow] = &[
    Flow {
        name: "store a new token",
        registry: "ghcr.io",
        setup: nothing,
        args: &["store"],
        input: "{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"pw-new\"}\n",
        local: false,
        requests: 5,
    },
    Flow {
        name: "store over a token",
        registry: "ghcr.io",
        setup: store_one,
        args: &["store"],
        input: "{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"pw-new\"}\n",
        local: false,
        requests: 4,
    },
    Flow {
        name: "store over an inactive token",
        registry: "ghcr.io",
        setup: store_and_deactivate,
        args: &["store"],
        input: "{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"pw-new\"}\n",
        local: false,
        requests: 4,
    },
    Flow {
        name: "add",
        registry: "ghcr.io",
        setup: store_one,
        args: &["add", "ghcr.io", "--username", "octo", "-i", "laptop"],
        input: "pw-laptop\n",
        local: false,
        requests: 5,
    },
    Flow {
        name: "erase",
        registry: "ghcr.io",
        setup: store_renamed,
        args: &["erase"],
        input: "ghcr.io",
        local: false,
        requests: 7,
    },
    Flow {
        name: "rename",
        registry: "ghcr.io",
        setup: store_one,
        args: &["rename", "default@ghcr.io", "laptop"],
        input: "",
        local: false,
        requests: 11,
    },
    Flow {
        name: "default",
        registry: "ghcr.io",
        setup: store_two,
        args: &["default", "laptop@ghcr.io"],
        input: "",
        local: false,
        requests: 4,
    },
    Flow {
        name: "deactivate",
        registry: "ghcr.io",
        setup: store_one,
        args: &["deactivate", "default@ghcr.io"],
        input: "",
        local: false,
        requests: 2,
    },
    Flow {
        name: "activate",
        registry: "ghcr.io",
        setup: store_and_deactivate,
        args: &["activate", "default@ghcr.io"],
        input: "",
        local: false,
        requests: 2,
    },
    Flow {
        name: "describe",
        registry: "ghcr.io",
        setup: store_one,
        args: &["describe", "default@ghcr.io", "the CI token"],
        input: "",
        local: false,
        requests: 3,
    },
    Flow {
        name: "delete",
        registry: "ghcr.io",
        setup: store_renamed,
        args: &["delete", "laptop@ghcr.io"],
        input: "",
        local: false,
        requests: 6,
    },
    Flow {
        name: "migrate to the server",
        registry: "ghcr.io",
        setup: store_one,
        args: &["migrate", "--to", "openbao"],
        input: "",
        local: true,
        requests: 6,
    },
    Flow {
        name: "migrate from the server",
        registry: "ghcr.io",
        setup: store_renamed,
        args: &["migrate", "--to", "file"],
        input: "",
        local: false,
        requests: 10,
    },
];

/// A machine for `flow` on its own prefix: on the server, or on the vault
/// file for a migration to the server. `bao` is where the helper sends its
/// requests (the proxy, or the server itself).
fn machine(bao: &str, prefix: &str, local: bool) -> Env {
    let mut env = Env::without_keychain();
    env.set("BAO_ADDR", bao)
        .set("BAO_TOKEN", ROOT_TOKEN)
        .set("DOCKER_PAT_PASSPHRASE", "correct horse battery staple");
    let backend = if local { "file" } else { "openbao" };
    env.write_config_toml(&format!(
        "backend = \"{backend}\"\n{VAULT_CONFIG}[openbao]\nprefix = \"{prefix}\"\ntimeout_seconds = {TIMEOUT_SECONDS}\n"
    ));
    env
}

/// The one line a failure prints: stdout for the protocol, stderr for commands.
fn failure_line(flow: &Flow, output: &Output) -> String {
    let text = if matches!(flow.args[0], "store" | "get" | "erase") {
        stdout(output)
    } else {
        stderr(output)
    };
    text.lines()
        .filter(|l| !l.contains("warning:") && !l.starts_with("Moved "))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Case<'a> {
    server: &'a DevServer,
    proxy: &'a FaultProxy,
    flow: &'a Flow,
}

impl Case<'_> {
    /// Sets up a prefix and an environment whose requests go through the proxy.
    fn prepare(&self, prefix: &str) -> Env {
        let direct = machine(&self.server.url(), prefix, self.flow.local);
        (self.flow.setup)(&direct);
        let mut env = machine(&self.proxy.url(), prefix, self.flow.local);
        // Same data folder: the vault and config.toml the setup wrote.
        env.root = direct.root;
        env
    }

    fn run(&self, env: &Env) -> Output {
        env.run(self.flow.args, self.flow.input)
    }

    /// What `get` serves now, through the same environment.
    fn served(&self, env: &Env) -> Option<String> {
        let out = env.get(self.flow.registry);
        out.status.success().then(|| {
            let reply: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            reply["Secret"].as_str().unwrap().to_owned()
        })
    }
}

const FAULTS: [Fault; 5] = every_fault(TIMEOUT_SECONDS);

/// Runs one flow through every fault at every request index.
fn matrix(flow: &Flow) {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let case = Case {
        server: &server,
        proxy: &proxy,
        flow,
    };
    let slug: String = flow
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // The clean run: how many requests, and where it leaves the server.
    let env = case.prepare(&format!("{slug}-clean"));
    let before = snapshot(&server.address, &format!("{slug}-clean"));
    proxy.reset();
    ok(&case.run(&env));
    let requests = proxy.seen();
    let count = requests.len();
    assert_eq!(
        count, flow.requests,
        "{}: the clean run's requests differ from those counted in FLOWS and the README: {requests:?}",
        flow.name
    );
    let after = snapshot(&server.address, &format!("{slug}-clean"));
    assert_ne!(before, after, "{}: the flow changes nothing", flow.name);
    let served_after = case.served(&env);
    eprintln!("{}: {count} requests: {requests:?}", flow.name);

    let mut covered = 0;
    let mut failures = Vec::new();
    for n in 1..=count {
        for fault in FAULTS {
            let prefix = format!("{slug}-{n}-{}", covered);
            let env = case.prepare(&prefix);
            let before_here = snapshot(&server.address, &prefix);
            assert_eq!(before_here, before, "{}: setup differs", flow.name);
            proxy.arm(n, fault);
            let started = Instant::now();
            let out = case.run(&env);
            let took = started.elapsed();
            proxy.wait_idle(Duration::from_secs(10));
            let applied = proxy.applied();
            proxy.reset();
            let what = format!(
                "{} with {fault} at request {n} ({:?})",
                flow.name,
                applied.first().map(|a| &a.2)
            );
            assert_eq!(applied.len(), 1, "{what}: the fault was not applied");
            covered += 1;
            let state = snapshot(&server.address, &prefix);
            // Bounded: each step, a read back and one more try, each within the timeout.
            assert!(took < Duration::from_secs(20), "{what}: took {took:?}");
            if !out.status.success() {
                eprintln!("  {what}: {}", failure_line(flow, &out));
            }
            let problem = check_case(&case, &env, &out, &state, &before, &after, &served_after);
            if let Some(problem) = problem {
                failures.push(format!("{what}: {problem}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {covered} fault points went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{}: {count} requests x {} faults = {covered} fault points",
        flow.name,
        FAULTS.len()
    );
}

/// What is wrong with one faulted run, if anything.
fn check_case(
    case: &Case<'_>,
    env: &Env,
    out: &Output,
    state: &BTreeMap<String, String>,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    served_after: &Option<String>,
) -> Option<String> {
    let flow = case.flow;
    if state.values().any(|v| v.contains("STALE")) && out.status.success() {
        return Some(format!(
            "a success left a record behind its secret: {state:?}"
        ));
    }
    if out.status.success() {
        if state != after {
            return Some(format!(
                "it succeeded but the server holds {state:?}, not {after:?}"
            ));
        }
    } else {
        let line = failure_line(flow, out);
        if line.lines().count() != 1 {
            return Some(format!("the failure is not one line: {line:?}"));
        }
        let says_partial = line.contains(", but ");
        if !says_partial && !flow.local && state != before {
            return Some(format!(
                "it failed with {line:?} but changed the server: {state:?} (was {before:?})"
            ));
        }
        if says_partial && state == before {
            return Some(format!(
                "it says part was done ({line:?}) but nothing changed"
            ));
        }
    }
    // `get` serves what the server says is current (a migration may have moved it here).
    let served = case.served(env);
    let expected = if flow.local || flow.args[0] == "migrate" {
        served_after.clone()
    } else {
        current(state, flow.registry)
    };
    if served != expected {
        return Some(format!(
            "get serves {served:?}, but the server says {expected:?} ({state:?})"
        ));
    }
    if !out.status.success() {
        let again = case.run(env);
        if !again.status.success() {
            return Some(format!(
                "the first run said {:?}; running it again failed: {} {}",
                failure_line(flow, out),
                stdout(&again),
                stderr(&again)
            ));
        }
        let state = snapshot(&case.server.address, &env_prefix(env));
        if &state != after {
            return Some(format!("run again, it left {state:?}, not {after:?}"));
        }
        if case.served(env) != *served_after {
            return Some("run again, get does not serve what the clean run left".into());
        }
    }
    None
}

fn env_prefix(env: &Env) -> String {
    let config = std::fs::read_to_string(env.pat_home().join("config.toml")).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("prefix = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

macro_rules! matrix_tests {
    ($($test:ident => $index:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                matrix(&FLOWS[$index]);
            }
        )*
    };
}

matrix_tests! {
    every_fault_in_store_of_a_new_token => 0,
    every_fault_in_store_over_a_token => 1,
    every_fault_in_store_over_an_inactive_token => 2,
    every_fault_in_add => 3,
    every_fault_in_erase => 4,
    every_fault_in_rename => 5,
    every_fault_in_default => 6,
    every_fault_in_deactivate => 7,
    every_fault_in_activate => 8,
    every_fault_in_describe => 9,
    every_fault_in_delete => 10,
    every_fault_in_migrate_to_the_server => 11,
    every_fault_in_migrate_from_the_server => 12,
}

/// The README's count of this matrix is what it runs.
#[test]
fn the_readme_counts_the_openbao_fault_matrix() {
    let requests: usize = FLOWS.iter().map(|flow| flow.requests).sum();
    let said = format!(
        "{requests} requests in all, {} fault points",
        requests * FAULTS.len()
    );
    let readme = crate::support::readme::prose();
    assert!(readme.contains(&said), "the README does not say {said:?}");
    assert!(
        readme.contains(&format!("through each of the {} faults", FAULTS.len())),
        "the README does not name the faults' number"
    );
}

/// Two addresses in front of one server: a write whose answer is lost on the
/// first is not sent to the second (where its check-and-set would fail and be
/// reported as someone else's change); it is read back and found done.
#[test]
fn a_write_that_landed_is_not_sent_again_to_the_next_address() {
    let server = DevServer::start();
    let first = FaultProxy::start(&server.address);
    let second = FaultProxy::start(&server.address);
    let mut env = machine(&format!("{},{}", first.url(), second.url()), "two", false);
    // Not ghcr.io, where a store also reads the old secret (to check a new one with GitHub).
    ok(&env.store("quay.io", "octo", "pw-old"));
    // GET pointer, GET token, then the POST of the new secret.
    first.arm(3, Fault::DropAnswer);
    let out = env.store("quay.io", "octo", "pw-new");
    first.wait_idle(Duration::from_secs(5));
    assert_eq!(first.applied().len(), 1, "the fault hit {:?}", first.seen());
    assert!(
        first.applied()[0].2.starts_with("POST "),
        "{:?}",
        first.applied()
    );
    assert_eq!(ok(&out), "", "{}", stderr(&out));
    assert!(
        second.seen().iter().all(|r| !r.starts_with("POST ")),
        "the write was sent again: {:?}",
        second.seen()
    );
    let state = snapshot(&server.address, "two");
    assert_eq!(
        state["quay.io/default"],
        "octo:pw-new active=true description=null"
    );
    env.set("BAO_ADDR", &server.url());
    assert_eq!(
        ok(&env.get("quay.io")),
        get_reply("quay.io", "octo", "pw-new")
    );
}

/// A write held on the way past the timeout, read back as missing, sent
/// again, and landing before the second attempt: the second attempt fails
/// its check-and-set against the helper's own write, which is success.
#[test]
fn a_write_that_lands_late_is_not_taken_for_someone_elses() {
    let server = DevServer::start();
    let proxy = FaultProxy::start(&server.address);
    let env = machine(&proxy.url(), "late", false);
    ok(&env.store("ghcr.io", "octo", "pw-old"));
    proxy.reset();
    ok(&env.store("ghcr.io", "octo", "pw-clean"));
    let post = proxy
        .seen()
        .iter()
        .position(|r| r.starts_with("POST ") && r.contains("/data/"))
        .expect("the store writes the secret")
        + 1;
    // The first POST reaches the server 0.3 s after the client gave up; the
    // read-back finds nothing yet, and the second POST waits until the first
    // has landed.
    let timeout = Duration::from_secs(TIMEOUT_SECONDS);
    proxy.arm(post, Fault::Delay(timeout + Duration::from_millis(300)));
    proxy.also(post + 2, Fault::Delay(Duration::from_millis(700)));
    let out = env.store("ghcr.io", "octo", "pw-new");
    proxy.wait_idle(Duration::from_secs(10));
    let applied: Vec<String> = proxy.applied().into_iter().map(|(_, _, r)| r).collect();
    assert_eq!(applied.len(), 2, "{:?}", proxy.seen());
    assert!(
        applied.iter().all(|r| r.starts_with("POST ")),
        "the faults hit {applied:?} of {:?}",
        proxy.seen()
    );
    assert_eq!(ok(&out), "", "{}", stderr(&out));
    let state = snapshot(&server.address, "late");
    assert_eq!(
        state["ghcr.io/default"],
        "octo:pw-new active=true description=null"
    );
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-new")
    );
}

/// `bao kv delete` and `bao kv destroy` keep the metadata and its version
/// count: storing again checks and sets against that version, and doctor
/// says what happened and what to do.
#[test]
fn a_token_deleted_or_destroyed_by_hand_can_be_stored_again_and_doctor_says_so() {
    let server = DevServer::start();
    let mut env = machine(&server.url(), "docker-credential-pat", false);
    env.set("DOCKER_PAT_BACKEND", "openbao");
    let path = "secret/docker-credential-pat/ghcr.io/default";
    ok(&env.store("ghcr.io", "octo", "pw-one"));
    ok(&env.store("ghcr.io", "octo", "pw-two"));
    server.ok(&["kv", "delete", path]);
    assert_eq!(
        fails(&env.get("ghcr.io")),
        "credentials not found in native keychain\n"
    );
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(
        report.contains("default@ghcr.io")
            && report.contains("deleted")
            && report.contains("bao kv undelete -versions=2"),
        "{report}"
    );
    ok(&env.store("ghcr.io", "octo", "pw-three"));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-three")
    );
    server.ok(&["kv", "destroy", "-versions=3", path]);
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(
        report.contains("destroyed") && report.contains("bao kv metadata delete"),
        "{report}"
    );
    // docker login stores through the same path; add asks for a new name.
    ok(&env.run(
        &["add", "ghcr.io", "--username", "octo", "-i", "default"],
        "pw-four\n",
    ));
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-four")
    );
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(!report.contains("destroyed"), "{report}");
}

/// A record written for an earlier secret (here by `bao kv put` by hand)
/// keeps the token's state but not its expiry: doctor says so.
#[test]
fn a_secret_replaced_by_hand_sets_its_records_facts_aside() {
    let server = DevServer::start();
    let mut env = machine(&server.url(), "docker-credential-pat", false);
    env.set("DOCKER_PAT_BACKEND", "openbao");
    ok(&env.run(
        &[
            "add",
            "ghcr.io",
            "--username",
            "octo",
            "--expires",
            "2030-01-01",
        ],
        "pw-one\n",
    ));
    let tokens: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    assert!(tokens[0]["expires_at"].is_string(), "{tokens}");
    server.ok(&[
        "kv",
        "put",
        "secret/docker-credential-pat/ghcr.io/default",
        "username=octo",
        "secret=pw-by-hand",
    ]);
    let tokens: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    assert!(tokens[0]["expires_at"].is_null(), "{tokens}");
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(report.contains("written for another secret"), "{report}");
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-by-hand")
    );
}

/// One fault proxy per node of a real three-node Raft cluster, listed as the
/// addresses: the active node is cut off (its proxy swallows requests) while
/// stores and gets run, then healed. No acknowledged store is lost, and every
/// get answers within the deadline or fails with one line.
#[test]
fn cutting_the_active_node_off_loses_no_acknowledged_write() {
    let cluster = Cluster::start();
    let proxies: Vec<FaultProxy> = (0..3).map(|i| FaultProxy::start(cluster.api(i))).collect();
    let addresses = proxies
        .iter()
        .map(FaultProxy::url)
        .collect::<Vec<_>>()
        .join(",");
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &addresses)
        .set("BAO_TOKEN", &cluster.root_token);
    env.write_config_toml("[openbao]\ntimeout_seconds = 3\n");
    const WORKERS: usize = 3;
    for w in 0..WORKERS {
        ok(&env.store(&format!("reg{w}.example"), "u", "v0"));
    }
    let active = cluster.active().expect("an active node");
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(18);
    let vars: Vec<(String, String)> = env
        .command(BIN)
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let vars = vars.clone();
            std::thread::spawn(move || {
                let host = format!("reg{w}.example");
                let run = |args: &[&str], input: &str| {
                    let mut command = std::process::Command::new(BIN);
                    command
                        .args(args)
                        .env_clear()
                        .envs(vars.iter().map(|(k, v)| (k, v)));
                    let begun = Instant::now();
                    let output = run_with_input(command, input, "helper");
                    (begun.elapsed(), output)
                };
                // (version, acknowledged) of each store, and each get's time and outcome.
                let mut stores = Vec::new();
                let mut gets = Vec::new();
                let mut version = 0;
                while Instant::now() < stop_at {
                    version += 1;
                    let secret = format!("v{version}");
                    let (took, out) = run(&["store"], &store_request(&host, "u", &secret));
                    stores.push((version, out.status.success(), took, stdout(&out)));
                    let (took, out) = run(&["get"], &host);
                    gets.push((took, out.status.success(), stdout(&out)));
                }
                (host, stores, gets)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    proxies[active].cut();
    let cut_at = started.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    // Then the answers only are lost: the node acts, the client never hears.
    proxies[active].heal();
    proxies[active].lose_answers();
    std::thread::sleep(Duration::from_secs(4));
    proxies[active].heal();
    let healed_at = started.elapsed();
    let mut acknowledged = 0;
    let mut failed_stores = 0;
    let mut failed_gets = 0;
    let mut total_gets = 0;
    let mut slow = 0;
    for worker in workers {
        let (host, stores, gets) = worker.join().unwrap();
        for (took, success, out) in &gets {
            total_gets += 1;
            assert!(*took < Duration::from_millis(4500), "a get took {took:?}");
            if !success {
                failed_gets += 1;
                assert_eq!(out.lines().count(), 1, "{out}");
            }
        }
        for (i, (version, success, took, out)) in stores.iter().enumerate() {
            assert!(*took < Duration::from_secs(20), "a store took {took:?}");
            slow += usize::from(*took >= Duration::from_millis(900));
            if !success {
                failed_stores += 1;
                assert_eq!(out.lines().count(), 1, "{out}");
                // A store that says nothing changed is not what the next get serves.
                if out.contains("nothing was") {
                    assert_ne!(
                        gets[i].2,
                        get_reply(&host, "u", &format!("v{version}")),
                        "{out}"
                    );
                }
            }
        }
        slow += gets
            .iter()
            .filter(|g| g.0 >= Duration::from_millis(900))
            .count();
        let last_acked = stores
            .iter()
            .filter(|s| s.1)
            .map(|s| s.0)
            .max()
            .unwrap_or(0);
        acknowledged += stores.iter().filter(|s| s.1).count();
        // The server holds the last acknowledged secret, or a later one whose answer was lost.
        let served = ok(&env.get(&host));
        let possible: Vec<String> = stores
            .iter()
            .filter(|s| s.0 == last_acked || (s.0 > last_acked && !s.1))
            .map(|s| get_reply(&host, "u", &format!("v{}", s.0)))
            .collect();
        assert!(
            possible.contains(&served),
            "{host}: the server serves {served}, last acknowledged v{last_acked}"
        );
    }
    eprintln!(
        "cut node {active} from {cut_at:?} to {healed_at:?}: {acknowledged} stores acknowledged, {failed_stores} failed; {total_gets} gets, {failed_gets} failed; {slow} took 0.9 s or more"
    );
    assert!(acknowledged > WORKERS * 2, "too few stores went through");
    assert!(slow > 0, "no request waited on the node that was cut off");
    assert!(
        !proxies[active].seen().is_empty(),
        "no request went to the node that was cut off"
    );
}

/// Custom metadata an admin keeps on a token (an owner, a ticket) survives
/// a new secret stored over it.
#[test]
fn a_new_secret_keeps_the_admins_own_metadata() {
    let server = DevServer::start();
    let mut env = machine(&server.url(), "docker-credential-pat", false);
    env.set("DOCKER_PAT_BACKEND", "openbao");
    let path = "secret/docker-credential-pat/ghcr.io/default";
    ok(&env.store("ghcr.io", "octo", "pw-one"));
    server.ok(&[
        "kv",
        "metadata",
        "patch",
        "-custom-metadata=owner=team-x",
        path,
    ]);
    ok(&env.store("ghcr.io", "octo", "pw-two"));
    let metadata: serde_json::Value =
        serde_json::from_str(&server.ok(&["kv", "metadata", "get", "-format=json", path])).unwrap();
    assert_eq!(
        metadata["data"]["custom_metadata"]["owner"], "team-x",
        "{metadata}"
    );
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-two")
    );
}

const NO_PATCH_POLICY: &str = r#"
path "secret/data/docker-credential-pat/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/docker-credential-pat/*" { capabilities = ["create", "read", "update", "list", "delete"] }
"#;

/// A client token whose policy lets it write secrets and metadata, but not
/// patch a record's metadata: a new secret is stored and its record cannot follow.
pub(crate) fn no_patch_token(server: &DevServer) -> String {
    let out = server.bao(&["policy", "write", "no-patch", "-"], NO_PATCH_POLICY);
    assert!(out.status.success(), "{}", stderr(&out));
    let token: serde_json::Value =
        serde_json::from_str(&server.ok(&["token", "create", "-format=json", "-policy=no-patch"]))
            .unwrap();
    token["auth"]["client_token"].as_str().unwrap().to_owned()
}

/// A new secret is written before its record. When the record cannot follow
/// (here the policy refuses to patch it), the message says the secret is
/// stored and the record is not, `get` serves the new secret, doctor reports
/// the record, and the same command run again (once allowed) finishes.
#[test]
fn a_secret_stored_without_its_record_is_said_served_and_finished_by_a_rerun() {
    let server = DevServer::start();
    let token = no_patch_token(&server);
    let mut env = machine(&server.url(), "docker-credential-pat", false);
    env.set("DOCKER_PAT_BACKEND", "openbao");
    ok(&env.run(
        &[
            "add",
            "ghcr.io",
            "--username",
            "octo",
            "--expires",
            "2030-01-01",
        ],
        "pw-one\n",
    ));
    env.set("BAO_TOKEN", &token);
    let out = env.store("ghcr.io", "octo", "pw-two");
    let line = fails(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("new secret of default@ghcr.io is stored")
            && line.contains("record was not updated")
            && line.contains("run the same command again"),
        "{line}"
    );
    assert_eq!(
        ok(&env.get("ghcr.io")),
        get_reply("ghcr.io", "octo", "pw-two"),
        "get serves the new secret, as the message says"
    );
    let tokens: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    assert!(
        tokens[0]["expires_at"].is_null(),
        "the old secret's expiry is not the new one's: {tokens}"
    );
    env.set("BAO_TOKEN", ROOT_TOKEN);
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(report.contains("written for another secret"), "{report}");
    ok(&env.store("ghcr.io", "octo", "pw-two"));
    let report = stdout(&env.run(&["doctor"], ""));
    assert!(!report.contains("written for another secret"), "{report}");
    let state = snapshot(&server.address, "docker-credential-pat");
    assert_eq!(
        state["ghcr.io/default"],
        "octo:pw-two active=true description=null"
    );
}
