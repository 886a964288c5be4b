//! Every Docker Hub flow (`hub login`, `create`, `link`, `activate`,
//! `deactivate`, `delete`, `rotate`, and all but `login` for an
//! organisation's access tokens with `--org`) through a fault at every request it makes, to the Hub double and, on the team backend, to a real
//! `bao server -dev`, each behind its own fault proxy.
//!
//! For each flow and backend the requests are counted first with the
//! proxies passing everything. Then, for each request index of each proxy
//! and each fault (a delay past the timeout, the answer dropped after the
//! server acted, a reset, a 500 or a 503 from the proxy), the flow runs once
//! for an account of its own, and once the proxies are idle (a delayed
//! request has landed):
//!
//! - a success leaves what the clean run leaves;
//! - a failure is one line, and what it says is true: "still holds the old
//!   token" means `get` serves the old one, "holds the new token" a new one;
//! - `get` serves only a token Docker Hub accepts, and (but for the flows
//!   that switch it off) still serves one;
//! - no active Hub token appears that nothing here holds, unless the line
//!   names it (or says Hub may have made one whose secret nobody holds);
//! - after a failure, the same command run again succeeds and leaves what
//!   the clean run leaves.

use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::faultproxy::{Fault, FaultProxy, every_fault};
use crate::support::hub::HubDouble;
use crate::support::openbao::{DevServer, ROOT_TOKEN};
use crate::support::*;

/// Hub's and OpenBao's timeout in these tests; a delay holds a request past it.
const TIMEOUT_SECONDS: u64 = 1;
const PASSWORD: &str = "correct horse battery staple";
const CODE: &str = "246810";
const NAME: &str = "ci@docker.io";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Keychain,
    OpenBao,
}

/// What a flow does to the token, for the checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Login,
    Create,
    Link,
    Activate,
    Deactivate,
    Delete,
    Rotate,
}

/// One account's world: the machine, and who it is on Hub.
struct Case<'a> {
    hub: &'a HubDouble,
    env: Env,
    user: String,
    /// The organisation (owned by `user`) whose access token the flow acts on;
    /// `None`: the account's personal token.
    org: Option<String>,
    kind: Kind,
    /// The Hub token `hub link` links.
    link: Option<String>,
}

/// What is there, as the checks see it.
#[derive(Debug, Clone, PartialEq)]
struct State {
    /// What `get` serves for ci@docker.io.
    served: Option<String>,
    /// ci@docker.io here: (active, Hub id).
    local: Option<(bool, Option<String>)>,
    /// The account's tokens on Hub: (id, secret, active).
    hub: Vec<(String, String, bool)>,
}

impl State {
    fn active_on_hub(&self) -> Vec<&(String, String, bool)> {
        self.hub.iter().filter(|t| t.2).collect()
    }

    fn accepts(&self, secret: &str) -> bool {
        self.hub.iter().any(|t| t.1 == secret && t.2)
    }

    fn uuid_of(&self, secret: &str) -> Option<&str> {
        self.hub
            .iter()
            .find(|t| t.1 == secret)
            .map(|t| t.0.as_str())
    }
}

impl Case<'_> {
    fn run(&self, args: &[&str], input: &str) -> Output {
        self.env.run(args, input)
    }

    fn login(&self) -> Output {
        self.run(
            &["hub", "login", "--username", &self.user, "--password-stdin"],
            &format!("{PASSWORD}\n{CODE}\n"),
        )
    }

    /// Brings the account to the flow's starting state.
    fn setup(&mut self) {
        if self.kind == Kind::Login {
            return;
        }
        ok(&self.login());
        match self.kind {
            Kind::Link => {
                let (uuid, secret) = match &self.org {
                    None => self
                        .hub
                        .add_token(&self.user, "made on Hub", &["repo:read"]),
                    Some(org) => self.hub.add_org_token(
                        org,
                        "made on Hub",
                        &[("TYPE_REPO", &format!("{org}/*"), &["scope-image-pull"])],
                        None,
                    ),
                };
                self.link = Some(uuid);
                // Stored as `docker login` stores it: an organisation's token under the organisation's name.
                let owner = self.org.as_deref().unwrap_or(&self.user);
                ok(&self.run(
                    &["add", "docker.io", "-u", owner, "-i", "ci"],
                    &format!("{secret}\n"),
                ));
            }
            Kind::Create => {}
            _ => {
                ok(&self.create());
                if self.kind == Kind::Activate {
                    ok(&self.run(&["hub", "deactivate", NAME], ""));
                }
            }
        }
    }

    /// `hub create` of ci@docker.io: a personal token, or the organisation's
    /// reaching its repositories. The other flows name the stored token
    /// alone, and the record says whose it is.
    fn create(&self) -> Output {
        match &self.org {
            None => self.run(&["hub", "create", "-i", "ci"], ""),
            Some(org) => {
                let repos = format!("{org}/*");
                self.run(
                    &["hub", "create", "--org", org, "-i", "ci", "--repo", &repos],
                    "",
                )
            }
        }
    }

    /// The flow's own command.
    fn flow(&self) -> Output {
        match self.kind {
            Kind::Login => self.login(),
            Kind::Create => self.create(),
            Kind::Link => {
                let mut args = vec!["hub", "link", NAME, self.link.as_deref().unwrap()];
                if let Some(org) = &self.org {
                    args.extend(["--org", org]);
                }
                self.run(&args, "")
            }
            Kind::Activate => self.run(&["hub", "activate", NAME], ""),
            Kind::Deactivate => self.run(&["hub", "deactivate", NAME], ""),
            Kind::Delete => self.run(&["hub", "delete", NAME], ""),
            Kind::Rotate => self.run(&["hub", "rotate", NAME], ""),
        }
    }

    fn state(&self) -> State {
        let get = self.env.get("docker.io");
        let served = get.status.success().then(|| {
            let reply: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
            reply["Secret"].as_str().unwrap().to_owned()
        });
        let listed: serde_json::Value =
            serde_json::from_str(&ok(&self.run(&["tokens", "--json"], ""))).unwrap();
        let local = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["token"] == NAME)
            .map(|t| {
                (
                    t["active"].as_bool().unwrap(),
                    t["hub_id"].as_str().map(str::to_owned),
                )
            });
        let hub = match &self.org {
            None => self
                .hub
                .tokens()
                .into_iter()
                .filter(|t| t.user == self.user)
                .map(|t| (t.uuid, t.secret, t.is_active))
                .collect(),
            Some(org) => self.hub.held(Some(org)),
        };
        State { served, local, hub }
    }

    fn signed_in(&self) -> bool {
        self.run(&["hub", "tokens", "--json"], "").status.success()
    }
}

/// What is wrong with `now` as the end of a flow that finished, if anything.
fn finished(kind: Kind, before: &State, now: &State, strays_allowed: bool) -> Option<String> {
    let held = |uuid: &str| now.local.as_ref().and_then(|l| l.1.as_deref()) == Some(uuid);
    let strays: Vec<_> = now
        .active_on_hub()
        .into_iter()
        .filter(|t| !held(&t.0) && !before.active_on_hub().iter().any(|b| b.0 == t.0))
        .collect();
    if !strays.is_empty() && !strays_allowed {
        return Some(format!("active Hub tokens nothing holds: {strays:?}"));
    }
    let served_active = now.served.as_deref().is_some_and(|s| now.accepts(s));
    let linked_to_served = now
        .served
        .as_deref()
        .and_then(|s| now.uuid_of(s))
        .is_some_and(held);
    let problem: Option<String> = match kind {
        Kind::Login => None,
        Kind::Create | Kind::Link | Kind::Activate => {
            (!(served_active && linked_to_served)).then(|| "not served, active and linked".into())
        }
        Kind::Deactivate => {
            let uuid = before.local.as_ref().unwrap().1.clone().unwrap();
            (now.served.is_some() || now.hub.iter().any(|t| t.0 == uuid && t.2))
                .then(|| "still served or active on Hub".into())
        }
        Kind::Delete => {
            let uuid = before.local.as_ref().unwrap().1.clone().unwrap();
            (now.local.is_some() || now.hub.iter().any(|t| t.0 == uuid))
                .then(|| "still stored or on Hub".into())
        }
        Kind::Rotate => {
            let old = before.served.as_deref().unwrap();
            let old_uuid = before.uuid_of(old).unwrap();
            if !(served_active && linked_to_served) || now.served.as_deref() == Some(old) {
                Some("the new token is not served, active and linked".into())
            } else if now.hub.iter().any(|t| t.0 == old_uuid && t.2) {
                Some("the old token is still active".into())
            } else {
                None
            }
        }
    };
    problem.map(|p| format!("{p}: {now:?}"))
}

/// What is wrong with a failed run's line, given the state it left.
fn failed(kind: Kind, line: &str, before: &State, now: &State) -> Option<String> {
    if line.lines().count() != 1 {
        return Some(format!("not one line: {line:?}"));
    }
    if let Some(served) = &now.served
        && !now.accepts(served)
    {
        return Some(format!("get serves a token Hub does not accept: {now:?}"));
    }
    let keeps_serving = !matches!(kind, Kind::Deactivate | Kind::Delete | Kind::Activate);
    if keeps_serving && before.served.is_some() && now.served.is_none() {
        return Some(format!("get serves nothing any more: {now:?}"));
    }
    if line.contains("still holds the old token") && now.served != before.served {
        return Some(format!(
            "says the old token, but get serves {:?}",
            now.served
        ));
    }
    if line.contains("holds the new token")
        && !line.contains("whether")
        && (now.served.is_none() || now.served == before.served)
    {
        return Some(format!(
            "says the new token, but get serves {:?}",
            now.served
        ));
    }
    if line.contains("was deleted from Docker Hub again") || line.contains("was deleted again") {
        let new: Vec<_> = now
            .hub
            .iter()
            .filter(|t| !before.hub.iter().any(|b| b.0 == t.0))
            .filter(|t| Some(t.1.as_str()) != now.served.as_deref())
            .collect();
        if !new.is_empty() {
            return Some(format!("says deleted again, but Hub holds {new:?}"));
        }
    }
    // A new active token nothing holds is named, or said to be possible.
    let held = |uuid: &str| now.local.as_ref().and_then(|l| l.1.as_deref()) == Some(uuid);
    for (uuid, secret, _) in now.active_on_hub() {
        let new = !before.hub.iter().any(|b| &b.0 == uuid);
        let served = now.served.as_deref() == Some(secret.as_str());
        if new
            && !held(uuid)
            && !served
            && !line.contains(uuid.as_str())
            && !line.contains("nobody holds its secret")
        {
            return Some(format!(
                "Hub token {uuid} is active, nothing holds it, and the line does not say so"
            ));
        }
    }
    None
}

/// Cases run side by side, each lane with proxies of its own: most of a
/// case is waiting for a timeout.
const LANES: usize = 4;

/// What every case of a matrix shares: the Hub double, the keychain or the
/// OpenBao server, and a counter that gives each case its own account.
struct World<'a> {
    kind: Kind,
    /// The flow acts on organisation access tokens (each case's own organisation).
    org: bool,
    hub: &'a HubDouble,
    keyring: Option<&'a SecretService>,
    bao: Option<&'a DevServer>,
    serial: AtomicUsize,
}

/// A fault proxy in front of Hub and one in front of OpenBao (on that backend).
struct Lane {
    proxies: Vec<(&'static str, FaultProxy)>,
}

impl Lane {
    fn new(world: &World<'_>) -> Self {
        let mut proxies = vec![(
            "hub",
            FaultProxy::start(world.hub.url.trim_start_matches("http://")),
        )];
        if let Some(bao) = world.bao {
            proxies.push(("openbao", FaultProxy::start(&bao.address)));
        }
        Self { proxies }
    }

    fn reset(&self) {
        for (_, proxy) in &self.proxies {
            proxy.reset();
        }
    }

    fn wait_idle(&self) {
        for (_, proxy) in &self.proxies {
            proxy.wait_idle(Duration::from_secs(10));
        }
    }

    /// A new account, its machine pointed at this lane's proxies, in the flow's starting state.
    fn case<'w>(&self, world: &'w World<'w>, label: &str) -> Case<'w> {
        let serial = world.serial.fetch_add(1, Ordering::SeqCst);
        let user = format!("u{serial}");
        if world.kind == Kind::Login {
            world.hub.add_user_with_second_factor(&user, PASSWORD, CODE);
        } else {
            world.hub.add_user(&user, PASSWORD);
        }
        let org = world.org.then(|| format!("o{serial}"));
        if let Some(org) = &org {
            world.hub.add_org(org, &[&user]);
        }
        let mut env = match world.keyring {
            Some(keyring) => Env::new(keyring),
            None => Env::without_keychain(),
        };
        env.set("DOCKER_PAT_HUB_URL", &self.proxies[0].1.url());
        let mut config = format!("hub_timeout_seconds = {TIMEOUT_SECONDS}\n");
        if let Some((_, proxy)) = self.proxies.get(1) {
            env.set("DOCKER_PAT_BACKEND", "openbao")
                .set("BAO_ADDR", &proxy.url())
                .set("BAO_TOKEN", ROOT_TOKEN);
            config.push_str(&format!(
                "[openbao]\nprefix = \"{label}-{serial}\"\ntimeout_seconds = {TIMEOUT_SECONDS}\n"
            ));
        }
        env.write_config_toml(&config);
        let mut case = Case {
            hub: world.hub,
            env,
            user,
            org,
            kind: world.kind,
            link: None,
        };
        case.setup();
        case
    }
}

const FAULTS: [Fault; 5] = every_fault(TIMEOUT_SECONDS);

/// Runs one flow on one backend through every fault at every request index,
/// on personal tokens or (`org`) organisation access tokens. `requests` is how
/// many its clean run makes to each proxy (Hub's, then OpenBao's), as the
/// README counts them.
fn matrix(kind: Kind, backend: Backend, org: bool, requests: &[usize]) {
    let keyring = (backend == Backend::Keychain).then(SecretService::start);
    let hub = HubDouble::start();
    hub.set_rate_limit(100_000);
    let bao = (backend == Backend::OpenBao).then(DevServer::start);
    let world = World {
        kind,
        org,
        hub: &hub,
        keyring: keyring.as_ref(),
        bao: bao.as_ref(),
        serial: AtomicUsize::new(1),
    };

    // The clean run: how many requests to each, and what it leaves.
    let lane = Lane::new(&world);
    let clean = lane.case(&world, "clean");
    let before = clean.state();
    lane.reset();
    ok(&clean.flow());
    let counts: Vec<usize> = lane.proxies.iter().map(|(_, p)| p.seen().len()).collect();
    for ((what, proxy), count) in lane.proxies.iter().zip(&counts) {
        eprintln!(
            "{kind:?}{} on {backend:?}: {count} requests to {what}: {:?}",
            if org { " --org" } else { "" },
            proxy.seen()
        );
    }
    assert_eq!(
        counts,
        requests,
        "{kind:?}{} on {backend:?}: the clean run's requests differ from those counted in MATRICES and the README",
        if org { " --org" } else { "" },
    );
    let after = clean.state();
    if let Some(problem) = finished(kind, &before, &after, false) {
        panic!("{kind:?}: the clean run: {problem}");
    }
    drop(lane);

    let jobs: Vec<(usize, usize, Fault)> = counts
        .iter()
        .enumerate()
        .flat_map(|(p, &count)| (1..=count).flat_map(move |n| FAULTS.map(|f| (p, n, f))))
        .collect();
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..LANES {
            scope.spawn(|| {
                let lane = Lane::new(&world);
                while let Some(&(p, n, fault)) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Some(problem) = one_point(&world, &lane, p, n, fault) {
                        problems.lock().unwrap().push(problem);
                    }
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(
        problems.is_empty(),
        "{} of {} fault points went wrong:\n{}",
        problems.len(),
        jobs.len(),
        problems.join("\n")
    );
    eprintln!(
        "{kind:?}{} on {backend:?}: {counts:?} requests x {} faults = {} fault points",
        if org { " --org" } else { "" },
        FAULTS.len(),
        jobs.len()
    );
}

/// One fault point: `fault` at request `n` to the lane's proxy `p`.
fn one_point(world: &World<'_>, lane: &Lane, p: usize, n: usize, fault: Fault) -> Option<String> {
    let (what, proxy) = &lane.proxies[p];
    // GNOME Keyring 42 itself sometimes aborts under load (tests/load.rs,
    // `revive_if_crashed`), as four lanes on a busy machine can be. Each point
    // starts on a running keyring; a point the abort hit still fails.
    if world.keyring.is_some_and(SecretService::revive_if_crashed) {
        eprintln!("  GNOME Keyring had aborted; started again before {what} request {n} {fault}");
    }
    let case = lane.case(world, what);
    let before = case.state();
    lane.reset();
    proxy.arm(n, fault);
    let started = Instant::now();
    let out = case.flow();
    let took = started.elapsed();
    lane.wait_idle();
    let applied = proxy.applied();
    lane.reset();
    let label = format!(
        "{:?}{}, {fault} at {what} request {n} ({:?})",
        world.kind,
        if world.org { " --org" } else { "" },
        applied.first().map(|a| &a.2)
    );
    assert_eq!(applied.len(), 1, "{label}: the fault was not applied");
    assert!(took < Duration::from_secs(30), "{label}: took {took:?}");
    check(&case, &out, &before).map(|problem| format!("{label}: {problem}"))
}

/// What is wrong with one faulted run, if anything; a failure is run again.
fn check(case: &Case<'_>, out: &Output, before: &State) -> Option<String> {
    let now = case.state();
    if out.status.success() {
        if case.kind == Kind::Login {
            return (!case.signed_in()).then(|| "succeeded but not signed in".into());
        }
        return finished(case.kind, before, &now, false).map(|p| format!("succeeded, but {p}"));
    }
    let line = stderr(out);
    let line = line.trim_end();
    eprintln!("  {}", line);
    if let Some(problem) = failed(case.kind, line, before, &now) {
        return Some(format!("{line:?}: {problem}"));
    }
    let again = case.flow();
    if !again.status.success() {
        return Some(format!(
            "{line:?}; running it again failed: {}",
            stderr(&again)
        ));
    }
    if case.kind == Kind::Login {
        return (!case.signed_in()).then(|| "run again, not signed in".into());
    }
    let strays_allowed = line.contains("nobody holds its secret");
    finished(case.kind, before, &case.state(), strays_allowed)
        .map(|p| format!("{line:?}; run again: {p}"))
}

macro_rules! matrix_tests {
    ($($test:ident => $kind:ident, $backend:ident, $org:literal, $requests:expr);* $(;)?) => {
        $(
            #[test]
            fn $test() {
                matrix(Kind::$kind, Backend::$backend, $org, &$requests);
            }
        )*
        /// Every matrix: whether on organisation tokens, and the requests of its
        /// clean run to each proxy.
        const MATRICES: &[(bool, &[usize])] = &[$(($org, &$requests)),*];
    };
}

matrix_tests! {
    every_fault_in_hub_login => Login, Keychain, false, [2];
    every_fault_in_hub_create => Create, Keychain, false, [2];
    every_fault_in_hub_create_on_openbao => Create, OpenBao, false, [2, 9];
    every_fault_in_hub_link => Link, Keychain, false, [1];
    every_fault_in_hub_link_on_openbao => Link, OpenBao, false, [1, 6];
    every_fault_in_hub_activate => Activate, Keychain, false, [1];
    every_fault_in_hub_activate_on_openbao => Activate, OpenBao, false, [1, 6];
    every_fault_in_hub_deactivate => Deactivate, Keychain, false, [1];
    every_fault_in_hub_deactivate_on_openbao => Deactivate, OpenBao, false, [1, 10];
    every_fault_in_hub_delete => Delete, Keychain, false, [1];
    every_fault_in_hub_delete_on_openbao => Delete, OpenBao, false, [1, 13];
    every_fault_in_hub_rotate => Rotate, Keychain, false, [4];
    every_fault_in_hub_rotate_on_openbao => Rotate, OpenBao, false, [4, 10];
    every_fault_in_hub_create_of_an_org_token => Create, Keychain, true, [2];
    every_fault_in_hub_link_of_an_org_token => Link, Keychain, true, [1];
    every_fault_in_hub_link_of_an_org_token_on_openbao => Link, OpenBao, true, [1, 6];
    every_fault_in_hub_create_of_an_org_token_on_openbao => Create, OpenBao, true, [2, 9];
    every_fault_in_hub_activate_of_an_org_token => Activate, Keychain, true, [1];
    every_fault_in_hub_activate_of_an_org_token_on_openbao => Activate, OpenBao, true, [1, 10];
    every_fault_in_hub_deactivate_of_an_org_token => Deactivate, Keychain, true, [1];
    every_fault_in_hub_deactivate_of_an_org_token_on_openbao => Deactivate, OpenBao, true, [1, 14];
    every_fault_in_hub_delete_of_an_org_token => Delete, Keychain, true, [1];
    every_fault_in_hub_delete_of_an_org_token_on_openbao => Delete, OpenBao, true, [1, 17];
    every_fault_in_hub_rotate_of_an_org_token => Rotate, Keychain, true, [5];
    every_fault_in_hub_rotate_of_an_org_token_on_openbao => Rotate, OpenBao, true, [5, 11];
}

/// The reported failure, made to last: `hub rotate` on a team server whose
/// policy lets the new secret be stored but not its record. The new token
/// stays on Hub (it is what `get` serves), the old one stays active, the line
/// says so, doctor points at the unfinished rotation, and the same command,
/// run again once the record can be written, finishes it without another
/// new token.
#[test]
fn a_rotation_whose_record_cannot_follow_keeps_the_new_token_and_a_rerun_finishes() {
    record_cannot_follow(None);
}

/// The same for an organisation access token: the note of the new token
/// says whose it is, doctor's suggestion names the organisation, and the
/// rerun settles it through the organisation's calls.
#[test]
fn an_organisation_token_rotation_whose_record_cannot_follow_is_finished_by_a_rerun() {
    record_cannot_follow(Some("acme"));
}

fn record_cannot_follow(org: Option<&str>) {
    let server = DevServer::start();
    let hub = HubDouble::start();
    hub.add_user("alice", PASSWORD);
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "openbao")
        .set("BAO_ADDR", &server.url())
        .set("BAO_TOKEN", ROOT_TOKEN)
        .set("DOCKER_PAT_HUB_URL", &hub.url);
    ok(&env.run(
        &["hub", "login", "--username", "alice", "--password-stdin"],
        PASSWORD,
    ));
    match org {
        None => ok(&env.run(&["hub", "create", "-i", "ci"], "")),
        Some(org) => {
            hub.add_org(org, &["alice"]);
            let repos = format!("{org}/*");
            ok(&env.run(
                &["hub", "create", "--org", org, "-i", "ci", "--repo", &repos],
                "",
            ))
        }
    };
    // Hub's tokens of the account or the organisation: (id, secret, active).
    let on_hub = || hub.held(org);
    let with_secret = |secret: &str| on_hub().into_iter().find(|t| t.1 == secret).unwrap();
    let with_id = |id: &str| on_hub().into_iter().find(|t| t.0 == id).unwrap();
    let served = |env: &Env| {
        let reply: serde_json::Value = serde_json::from_str(&ok(&env.get("docker.io"))).unwrap();
        reply["Secret"].as_str().unwrap().to_owned()
    };
    let old = served(&env);
    let old_uuid = with_secret(&old).0;

    env.set("BAO_TOKEN", &crate::openbao_faults::no_patch_token(&server));
    let out = env.run(&["hub", "rotate", NAME], "");
    let line = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let new = served(&env);
    assert_ne!(new, old, "get serves the new token");
    let (new_uuid, _, new_active) = with_secret(&new);
    assert!(new_active, "the new token was not taken back off Hub");
    assert!(with_id(&old_uuid).2, "nor the old one switched off");
    assert!(
        line.contains("stopped while storing the new token")
            && line.contains(&format!(
                "ci@docker.io holds the new token {new_uuid}, which is in use"
            ))
            && line.contains(
                "the old token is still active on Docker Hub: run the same command again to finish"
            ),
        "{line}"
    );
    assert!(env.pat_home().join("hub-pending.json").exists());
    let doctor = stdout(&env.run(&["doctor"], ""));
    assert!(
        doctor.contains(&format!("a `hub rotate` of ci@docker.io stopped before it knew whether the new Docker Hub token {new_uuid} was stored")),
        "{doctor}"
    );
    let again = format!(
        "`docker-credential-pat hub rotate {}ci@docker.io` finishes it",
        org.map_or_else(String::new, |o| format!("--org {o} "))
    );
    assert!(doctor.contains(&again), "{doctor}");

    env.set("BAO_TOKEN", ROOT_TOKEN);
    let out = ok(&env.run(&["hub", "rotate", NAME], ""));
    assert!(out.starts_with("Finished rotating ci@docker.io"), "{out}");
    assert_eq!(served(&env), new, "no other new token");
    assert!(!with_id(&old_uuid).2);
    assert_eq!(on_hub().iter().filter(|t| t.2).count(), 1);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&env.run(&["tokens", "--json"], ""))).unwrap();
    assert_eq!(listed[0]["hub_id"], new_uuid.as_str(), "{listed}");
    assert!(!env.pat_home().join("hub-pending.json").exists());
    // Rotating again is an ordinary rotation.
    ok(&env.run(&["hub", "rotate", NAME], ""));
    assert_ne!(served(&env), new);
}

/// The README's count of the Hub matrices is what they run.
#[test]
fn the_readme_counts_the_hub_fault_matrices() {
    let requests = |org: bool| -> usize {
        MATRICES
            .iter()
            .filter(|(o, _)| *o == org)
            .flat_map(|(_, counts)| counts.iter())
            .sum()
    };
    let (personal, organisation) = (requests(false), requests(true));
    let all = personal + organisation;
    let said = format!(
        "{all} requests in all ({personal} for personal tokens, {organisation} for organisation tokens), {} fault points",
        all * FAULTS.len()
    );
    let readme = crate::support::readme::prose();
    assert!(readme.contains(&said), "the README does not say {said:?}");
}
