//! `github rotate` and `github revoke` when things go wrong: the helper
//! killed at every step of a rotation (staged with strace, as in
//! `faults.rs`), and the GitHub double failing each request in turn (an
//! answer lost after it acted, a 500, an answer slower than the timeout).
//! After each, one more run leaves the new token stored — the one the
//! registry then takes — and the old one refused by GitHub.

use std::time::Duration;

use crate::support::github_setup::{
    PUSH, Setup, USER, docker_reads, json, logged_in, rotate, served, setup_with,
};
use crate::support::killpoints::{ROTATE_KILL_SYSCALLS, count_syscalls_of, killed_at};
use crate::support::request_faults::{CONFIG, faults};
use crate::support::*;

fn ready() -> Setup {
    let setup = setup_with(CONFIG);
    // Every kill point revokes once or twice: more than GitHub's 60 an hour.
    setup.github.set_revoke_limit(100_000);
    logged_in(&setup, None);
    setup
}

/// What must hold once a rotation to `new` from `old` is finished: `new`
/// stored and served, `old` refused by GitHub, nothing else kept here.
#[track_caller]
fn check_rotated(setup: &Setup, old: &str, new: &str, what: &str) {
    assert_eq!(
        served(&setup.env, &setup.host).as_deref(),
        Some(new),
        "{what}: the new token is stored"
    );
    assert!(setup.github.accepts(new), "{what}: and live");
    assert!(!setup.github.accepts(old), "{what}: the old one is revoked");
    let mine = json(&setup.env.run(&["tokens", "--json"], ""));
    assert_eq!(
        mine.as_array().unwrap().len(),
        1,
        "{what}: no old secret left: {mine}"
    );
}

/// True when a rotation to `new` is still to be finished (or never happened).
fn unfinished(setup: &Setup, new: &str) -> bool {
    let mine = json(&setup.env.run(&["tokens", "--json"], ""));
    served(&setup.env, &setup.host).as_deref() != Some(new) || mine.as_array().unwrap().len() > 1
}

#[test]
fn github_rotate_killed_at_any_step_and_run_again_stores_the_new_token_and_revokes_the_old() {
    require_tool("strace", "strace");
    let setup = ready();
    let env = &setup.env;
    let name = format!("default@{}", setup.host);
    let args = ["github", "rotate", name.as_str(), "--token-stdin"];
    let (_, probe) = setup.github.add_classic_token(USER, PUSH, None);
    let counts = count_syscalls_of(ROTATE_KILL_SYSCALLS, env, None, &args, &probe);
    let mut points = 0;
    let mut killed = 0;
    let mut finished_by_rerun = 0;
    for (syscall, &count) in &counts {
        for n in 1..=count {
            let old = served(env, &setup.host).unwrap();
            let (_, new) = setup.github.add_classic_token(USER, PUSH, None);
            let was_killed = killed_at(Some(&setup.keyring), env, None, &args, &new, syscall, n);
            points += 1;
            killed += usize::from(was_killed);
            let what = format!("killed at {syscall} #{n}");
            if unfinished(&setup, &new) {
                let rerun = rotate(env, &name, &new);
                assert!(rerun.status.success(), "{what}: {}", stderr(&rerun));
                if stdout(&rerun).contains("Finished the earlier rotation") {
                    finished_by_rerun += 1;
                }
            }
            check_rotated(&setup, &old, &new, &what);
        }
    }
    assert!(docker_reads(&setup), "the registry takes the stored token");
    assert!(
        killed > 0 && finished_by_rerun > 0,
        "kills landed after the store: {killed} killed, {finished_by_rerun} finished by a rerun"
    );
    eprintln!(
        "github rotate kill points: {points}, {killed} killed, {finished_by_rerun} finished by a rerun; {counts:?}"
    );
}

#[test]
fn github_rotate_with_each_request_failing_in_turn_is_finished_by_the_next_run() {
    let probe = ready();
    let name = format!("default@{}", probe.host);
    let (_, new) = probe.github.add_classic_token(USER, PUSH, None);
    let before = probe.github.http().calls();
    ok(&rotate(&probe.env, &name, &new));
    let calls = probe.github.http().calls() - before;
    assert_eq!(
        calls, 3,
        "the old token checked, the new one, the revocation"
    );
    drop(probe);
    for call in 1..=calls {
        for fault in faults() {
            let setup = ready();
            let old = served(&setup.env, &setup.host).unwrap();
            let (_, new) = setup.github.add_classic_token(USER, PUSH, None);
            let what = format!("{fault:?} at call {call} of {calls}");
            setup.github.http().fault_call(call, fault.clone());
            let first = rotate(&setup.env, &name_of(&setup), &new);
            if !first.status.success() {
                let line = stderr(&first);
                assert_eq!(line.lines().count(), 1, "{what}: one line: {line}");
                assert!(
                    served(&setup.env, &setup.host).is_some(),
                    "{what}: a token is always stored"
                );
                // A slow server may still be acting on the first attempt.
                std::thread::sleep(Duration::from_millis(600));
                let again = rotate(&setup.env, &name_of(&setup), &new);
                assert!(again.status.success(), "{what}: {}", stderr(&again));
            }
            check_rotated(&setup, &old, &new, &what);
            assert!(docker_reads(&setup), "{what}");
        }
    }
}

fn name_of(setup: &Setup) -> String {
    format!("default@{}", setup.host)
}

#[test]
fn github_revoke_with_its_request_failing_is_finished_by_the_next_run() {
    for fault in faults() {
        let setup = ready();
        let token = served(&setup.env, &setup.host).unwrap();
        let name = name_of(&setup);
        let what = format!("{fault:?}");
        setup.github.http().fault_call(1, fault.clone());
        let first = setup.env.run(&["github", "revoke", &name, "--yes"], "");
        if !first.status.success() {
            assert_eq!(stderr(&first).lines().count(), 1, "{what}");
            assert_eq!(
                served(&setup.env, &setup.host).as_deref(),
                Some(token.as_str()),
                "{what}: kept until GitHub says it is revoked"
            );
            std::thread::sleep(Duration::from_millis(600));
            ok(&setup.env.run(&["github", "revoke", &name, "--yes"], ""));
        }
        assert!(!setup.github.accepts(&token), "{what}: revoked at GitHub");
        assert!(
            served(&setup.env, &setup.host).is_none(),
            "{what}: and gone here"
        );
        assert!(!docker_reads(&setup), "{what}: the registry refuses it");
    }
}
