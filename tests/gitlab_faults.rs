//! `gitlab rotate`, `create` and `revoke` when things go wrong: the helper
//! killed at every step of a rotation (staged with strace, as in
//! `faults.rs`), and the GitLab double failing each request in turn (an
//! answer lost after it acted, a 500, an answer slower than the timeout).
//! After each, one more run leaves a working token stored — the one the
//! registry then takes — and GitLab's reuse detection never fired.

use std::time::Duration;

use crate::support::gitlab_setup::{
    PUSHER, Setup, create, create_ci, docker_reads, logged_in, push, run_gitlab, served,
};
use crate::support::killpoints::{ROTATE_KILL_SYSCALLS, count_syscalls_of, killed_at};
use crate::support::request_faults::{CONFIG, faults};
use crate::support::*;

/// The live tokens at GitLab besides the login's: what someone could use.
fn live(setup: &Setup) -> Vec<u64> {
    let today = setup.gitlab.today();
    setup
        .gitlab
        .tokens()
        .iter()
        .filter(|t| t.active(today) && t.name != "manage")
        .map(|t| t.id)
        .collect()
}

/// What must hold after every rerun: the stored token is GitLab's live one,
/// the only live one, and reuse detection never fired.
#[track_caller]
fn check_one_working_token(setup: &Setup, what: &str) -> String {
    let now = served(&setup.env, &setup.host)
        .unwrap_or_else(|| panic!("{what}: a token is always stored"));
    assert!(
        setup.gitlab.accepts(&now),
        "{what}: the stored token is live at GitLab"
    );
    let held = setup.gitlab.token_with_secret(&now).unwrap().id;
    assert_eq!(
        live(setup),
        vec![held],
        "{what}: no live token nobody holds"
    );
    assert!(
        setup.gitlab.reuse_detections().is_empty(),
        "{what}: {:?}",
        setup.gitlab.reuse_detections()
    );
    now
}

fn ready() -> Setup {
    let setup = logged_in(CONFIG);
    create_ci(&setup, "read_registry,write_registry");
    push(&setup);
    setup
}

#[test]
fn rotate_killed_at_any_step_and_run_again_leaves_a_working_token_and_no_reuse() {
    require_tool("strace", "strace");
    let setup = ready();
    let env = &setup.env;
    let name = format!("ci@{}", setup.host);
    let rotate = ["gitlab", "rotate", name.as_str()];
    let counts = count_syscalls_of(ROTATE_KILL_SYSCALLS, env, None, &rotate, "");
    let mut points = 0;
    let mut killed = 0;
    let mut recovered = 0;
    let mut checked_at_registry = String::new();
    for (syscall, &count) in &counts {
        for n in 1..=count {
            let before = served(env, &setup.host).unwrap();
            let was_killed = killed_at(Some(&setup.keyring), env, None, &rotate, "", syscall, n);
            points += 1;
            killed += usize::from(was_killed);
            let rerun = run_gitlab(env, &["rotate", &name]);
            ok(&rerun);
            if stdout(&rerun).contains("An earlier rotation") {
                recovered += 1;
            }
            let what = format!("killed at {syscall} #{n}");
            let now = check_one_working_token(&setup, &what);
            assert_ne!(now, before, "{what}: the rerun rotated");
            if now != checked_at_registry {
                assert!(
                    docker_reads(&setup),
                    "{what}: the registry takes the stored token"
                );
                checked_at_registry = now;
            }
        }
    }
    assert!(
        killed > 0 && recovered > 0,
        "kills landed while the answer was out: {killed} killed, {recovered} recovered"
    );
    eprintln!(
        "gitlab rotate kill points: {points}, {killed} killed, {recovered} recovered; {counts:?}"
    );
}

/// How many API calls an undisturbed run of `args` makes.
fn calls_of(setup: &Setup, args: &[&str]) -> usize {
    let before = setup.gitlab.http().calls();
    ok(&run_gitlab(&setup.env, args));
    setup.gitlab.http().calls() - before
}

#[test]
fn rotate_with_each_request_failing_in_turn_is_finished_by_the_next_run() {
    let probe = ready();
    let name = format!("ci@{}", probe.host);
    let calls = calls_of(&probe, &["rotate", &name]);
    assert!(calls >= 2, "reads the state, then rotates");
    drop(probe);
    for call in 1..=calls {
        for fault in faults() {
            let setup = ready();
            let name = format!("ci@{}", setup.host);
            let what = format!("{fault:?} at call {call} of {calls}");
            setup.gitlab.http().fault_call(call, fault.clone());
            let first = run_gitlab(&setup.env, &["rotate", &name]);
            if !first.status.success() {
                let line = stderr(&first);
                assert_eq!(line.lines().count(), 1, "{what}: one line: {line}");
                let again = run_gitlab(&setup.env, &["rotate", &name]);
                assert!(again.status.success(), "{what}: {}", stderr(&again));
            }
            check_one_working_token(&setup, &what);
            assert!(docker_reads(&setup), "{what}");
        }
    }
}

#[test]
fn create_with_each_request_failing_in_turn_leaves_nothing_nobody_holds() {
    let setup = logged_in(CONFIG);
    let before = setup.gitlab.http().calls();
    ok(&create(&setup.env, &setup.host, "probe", &[]));
    let calls = setup.gitlab.http().calls() - before;
    drop(setup);
    for call in 1..=calls {
        for fault in faults() {
            let setup = logged_in(CONFIG);
            let what = format!("{fault:?} at call {call} of {calls}");
            setup.gitlab.http().fault_call(call, fault.clone());
            let first = create(&setup.env, &setup.host, "ci", PUSHER);
            if !first.status.success() {
                let line = stderr(&first);
                assert_eq!(line.lines().count(), 1, "{what}: one line: {line}");
                assert!(
                    served(&setup.env, &setup.host).is_none(),
                    "{what}: nothing half-stored"
                );
                assert!(
                    live(&setup).is_empty(),
                    "{what}: nothing left live at GitLab: {line}"
                );
                create_ci(&setup, "read_registry,write_registry");
            }
            check_one_working_token(&setup, &what);
            push(&setup);
            assert!(docker_reads(&setup), "{what}");
        }
    }
}

#[test]
fn revoke_with_each_request_failing_in_turn_is_finished_by_the_next_run() {
    for fault in faults() {
        let setup = ready();
        let name = format!("ci@{}", setup.host);
        let what = format!("{fault:?}");
        setup.gitlab.http().fault_call(1, fault.clone());
        let first = run_gitlab(&setup.env, &["revoke", &name]);
        if !first.status.success() {
            assert_eq!(stderr(&first).lines().count(), 1, "{what}");
            std::thread::sleep(Duration::from_millis(1600));
            ok(&run_gitlab(&setup.env, &["revoke", &name]));
        }
        assert!(live(&setup).is_empty(), "{what}: revoked at GitLab");
        assert!(
            served(&setup.env, &setup.host).is_none(),
            "{what}: and gone here"
        );
        assert!(!docker_reads(&setup), "{what}: the registry refuses it");
    }
}
