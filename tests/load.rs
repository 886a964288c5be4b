//! Load: 64 helper processes at once mixing `store`, `get` and `erase` on 16
//! registries and four integrations for 30 seconds, on the keychain and on
//! the vault file.
//!
//! Design: each of the 64 (registry, integration) keys belongs to one worker,
//! which runs its calls one after another, so the calls on a key are ordered
//! by that worker and the serial replay of a key is simply its worker's
//! successful calls in order. Keys on one registry still share its index
//! record, its default and the data lock, and all share the Secret Service and
//! the usage log, which is what the load is about. The "default" worker sets
//! no DOCKER_PAT_INTEGRATION, so it owns the registry's default token.
//!
//! `tests/run.sh` runs these two tests on their own. Next to other heavy tests,
//! GNOME Keyring 42 itself sometimes aborts under this load ("plain_negotiate:
//! assertion 'session' failed" in syslog), taking every session with it.
//!
//! Afterwards: no call failed except intended not-founds; every `get` returned
//! exactly what its worker's replay says; the final `list`, `get`s and
//! `tokens` equal the replay; index and store agree item for item (`doctor`
//! is green, and the Secret Service is also compared directly); and each
//! token's use count, for every token id that ever existed, equals the
//! successful `get`s of it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use docker_credential_pat::config::Paths;
use docker_credential_pat::usage::UsageTable;

use crate::support::*;

const REGISTRIES: usize = 16;
const INTEGRATIONS: [&str; 4] = ["default", "ci", "laptop", "bot"];
const DURATION: Duration = Duration::from_secs(30);

fn registry(r: usize) -> String {
    format!("reg{r:02}.load.test:5000")
}

/// A small deterministic generator, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One key's history: every call, and the generations of its token (a new
/// token id after each erase) with the successful gets of each.
#[derive(Default)]
struct Worker {
    calls: usize,
    failures: Vec<String>,
    /// (user, secret) the replay says the key holds now.
    state: Option<(String, String)>,
    /// Token id → successful gets while it was current.
    uses: BTreeMap<String, u64>,
    current_id: Option<String>,
}

fn call(env: &Env, integration: &str, verb: &str, input: &str) -> std::process::Output {
    let mut command: Command = env.command(BIN);
    if integration != "default" {
        command.env("DOCKER_PAT_INTEGRATION", integration);
    }
    command.arg(verb);
    run_with_input(command, input, verb)
}

/// The id the index gives the token `integration@registry`.
fn token_id(paths: &Paths, registry: &str, integration: &str) -> String {
    let index = docker_credential_pat::index::Index::load(paths).unwrap();
    let key = registry; // the test's registries are already canonical
    index.registries[key].tokens[integration].id.clone()
}

fn work(env: &Env, paths: &Paths, r: usize, integration: &str, deadline: Instant) -> Worker {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((r as u64) << 8 | integration.len() as u64));
    let registry = registry(r);
    let user = format!("{integration}-user-{r}");
    let mut worker = Worker::default();
    let mut serial = 0;
    while Instant::now() < deadline {
        worker.calls += 1;
        let roll = rng.next() % 100;
        if roll < 35 {
            serial += 1;
            let secret = format!("dckr_pat_load{r:02}{integration}{serial:05}");
            let request = format!(
                "{{\"ServerURL\":\"{registry}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\n"
            );
            let output = call(env, integration, "store", &request);
            if !output.status.success() {
                worker.failures.push(format!(
                    "store {integration}@{registry}: {} {}",
                    stdout(&output),
                    stderr(&output)
                ));
                continue;
            }
            if worker.state.is_none() {
                // A new token: nobody else touches this key, so the index now names its id.
                let id = token_id(paths, &registry, integration);
                worker.uses.entry(id.clone()).or_default();
                worker.current_id = Some(id);
            }
            worker.state = Some((user.clone(), secret));
        } else if roll < 88 {
            let output = call(env, integration, "get", &registry);
            let expected = worker
                .state
                .as_ref()
                .map(|(u, s)| get_reply(&registry, u, s));
            match (&expected, output.status.code()) {
                (Some(reply), Some(0)) if &stdout(&output) == reply => {
                    if stderr(&output).contains("could not record") {
                        worker.failures.push(format!(
                            "get {integration}@{registry} lost its use record: {}",
                            stderr(&output)
                        ));
                    }
                    let id = worker.current_id.as_ref().unwrap();
                    *worker.uses.get_mut(id).unwrap() += 1;
                }
                (None, Some(1)) if stdout(&output) == NOT_FOUND => {}
                _ => worker.failures.push(format!(
                    "get {integration}@{registry}: expected {expected:?}, got {:?} {} {}",
                    output.status.code(),
                    stdout(&output),
                    stderr(&output)
                )),
            }
        } else {
            let output = call(env, integration, "erase", &registry);
            match (&worker.state, output.status.code()) {
                (Some(_), Some(0)) if stdout(&output).is_empty() => {
                    worker.state = None;
                    worker.current_id = None;
                }
                (None, Some(1)) if stdout(&output) == NOT_FOUND => {}
                _ => worker.failures.push(format!(
                    "erase {integration}@{registry}: held {:?}, got {:?} {} {}",
                    worker.state.is_some(),
                    output.status.code(),
                    stdout(&output),
                    stderr(&output)
                )),
            }
        }
    }
    worker
}

#[test]
fn sixty_four_processes_for_thirty_seconds_lose_nothing_on_the_keychain() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    run_load(env, Some(&keyring));
}

#[test]
fn sixty_four_processes_for_thirty_seconds_lose_nothing_on_the_file_backend() {
    let mut env = Env::without_keychain();
    let passphrase = env.root.path().join("passphrase");
    std::fs::write(&passphrase, "load passphrase\n").unwrap();
    env.set("DOCKER_PAT_BACKEND", "file");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", passphrase.to_str().unwrap());
    ok(&env.run(&["vault", "init"], ""));
    run_load(env, None);
}

/// One load at a time: two at once would be 128 processes on the test machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The load, then every check; `keyring` is compared item for item when given.
fn run_load(mut env: Env, keyring: Option<&SecretService>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    make_healthy(&mut env);
    // The load is about losing nothing, not about the deadline (tested in faults):
    // a call given up on a loaded machine would count as a failure.
    env.write_config_toml("keychain_timeout_seconds = 120\n");
    let paths = Paths {
        config_dir: env.pat_home(),
        data_dir: env.pat_home(),
    };
    let deadline = Instant::now() + DURATION;
    let workers: BTreeMap<(usize, &str), Worker> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..REGISTRIES)
            .flat_map(|r| INTEGRATIONS.iter().map(move |&i| (r, i)))
            .map(|(r, i)| {
                let (env, paths) = (&env, &paths);
                (
                    (r, i),
                    scope.spawn(move || work(env, paths, r, i, deadline)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(key, h)| (key, h.join().unwrap()))
            .collect()
    });

    let calls: usize = workers.values().map(|w| w.calls).sum();
    let failures: Vec<&String> = workers.values().flat_map(|w| &w.failures).collect();
    eprintln!(
        "load: {calls} calls by {} processes at a time",
        workers.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed, e.g.:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(calls > 64 * 5, "the load ran ({calls} calls)");

    // No use count is lost, for any token that ever existed (read before the checks below add uses).
    let usage = UsageTable::load(&paths);
    let mut gets = 0;
    for worker in workers.values() {
        for (id, &count) in &worker.uses {
            assert_eq!(usage.get(id).use_count, count, "use count of token {id}");
            gets += count;
        }
    }
    eprintln!("load: {gets} successful gets, all counted");

    // The final state equals the replay: every key, list, and tokens.
    for ((r, integration), worker) in &workers {
        let output = call(&env, integration, "get", &registry(*r));
        match &worker.state {
            Some((user, secret)) => {
                assert_eq!(ok(&output), get_reply(&registry(*r), user, secret))
            }
            None => assert_eq!(fails(&output), NOT_FOUND),
        }
    }
    let expected_list: BTreeMap<String, String> = workers
        .iter()
        .filter(|((_, i), _)| *i == "default")
        .filter_map(|((r, _), w)| Some((registry(*r), w.state.as_ref()?.0.clone())))
        .collect();
    let list: BTreeMap<String, String> =
        serde_json::from_str(&ok(&call(&env, "default", "list", ""))).unwrap();
    assert_eq!(list, expected_list, "list equals the replay");
    let tokens: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    let listed: BTreeSet<String> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .collect();
    let live: BTreeSet<String> = workers
        .iter()
        .filter(|(_, w)| w.state.is_some())
        .map(|((r, i), _)| format!("{i}@{}", registry(*r)))
        .collect();
    assert_eq!(listed, live, "tokens equals the replay");

    // Index and store agree item for item (doctor checks both backends); nothing is left retired.
    let index = docker_credential_pat::index::Index::load(&paths).unwrap();
    assert!(index.retired.is_empty(), "no secret is left retired");
    if let Some(keyring) = keyring {
        let referenced: BTreeSet<String> =
            index.referenced_secrets().map(|s| s.item.clone()).collect();
        let stored: BTreeSet<String> = keyring
            .items()
            .into_iter()
            .map(|i| i["username"].clone())
            .collect();
        assert_eq!(stored, referenced, "index and Secret Service agree");
    }
    let doctor = env.run(&["doctor"], "");
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "doctor is green after the load:\n{}\n{}",
        stdout(&doctor),
        stderr(&doctor)
    );
}
