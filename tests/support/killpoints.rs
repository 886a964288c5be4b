//! Kill points: a run of the helper under strace, counted (how often each
//! watched syscall runs) and then killed at each of those calls in turn.

use std::collections::BTreeMap;

use super::*;

/// Syscalls at which `hub rotate` is killed: every call to Hub (connect,
/// send, receive), every file write and commit, the lock, and the D-Bus
/// traffic with the Secret Service.
pub const ROTATE_KILL_SYSCALLS: &[&str] = &[
    "connect", "sendto", "recvfrom", "openat", "write", "fsync", "rename", "flock", "sendmsg",
    "recvmsg",
];

/// How often each of `syscalls` runs during one uninterrupted run.
pub fn count_syscalls_of(
    syscalls: &[&str],
    env: &Env,
    integration: Option<&str>,
    args: &[&str],
    input: &str,
) -> BTreeMap<String, usize> {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary");
    let mut command = env.command("strace");
    if let Some(integration) = integration {
        command.env("DOCKER_PAT_INTEGRATION", integration);
    }
    command
        .args(["-f", "-c", "-e"])
        .arg(format!("trace={}", syscalls.join(",")))
        .arg("-o")
        .arg(&summary)
        .arg("--")
        .arg(BIN);
    command.args(args);
    ok(&run_with_input(command, input, "helper"));
    let text = std::fs::read_to_string(&summary).unwrap();
    // Every syscall not counted here is a kill point never tried: a line that
    // names one must give its count.
    let counts: BTreeMap<String, usize> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.last()?;
            if !syscalls.contains(&name) {
                return None;
            }
            let calls = fields.get(3).and_then(|n| n.parse().ok());
            Some((
                name.to_owned(),
                calls.unwrap_or_else(|| panic!("no count of {name} in strace's summary: {line}")),
            ))
        })
        .collect();
    assert!(
        !counts.is_empty(),
        "strace counted none of {syscalls:?} in {args:?}:\n{text}"
    );
    counts
}

/// Runs the helper under strace, killed at the `n`-th `syscall`. Returns true if it was killed.
/// A keyring that the kill brought down is started again (see `revive_if_crashed`).
pub fn killed_at(
    keyring: Option<&SecretService>,
    env: &Env,
    integration: Option<&str>,
    args: &[&str],
    input: &str,
    syscall: &str,
    n: usize,
) -> bool {
    let mut strace = env.command("strace");
    if let Some(integration) = integration {
        strace.env("DOCKER_PAT_INTEGRATION", integration);
    }
    strace
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:signal=KILL:when={n}"))
        .arg("--")
        .arg(BIN);
    strace.args(args);
    let output = run_with_input(strace, input, "helper");
    if let Some(keyring) = keyring {
        keyring.revive_if_crashed();
    }
    use std::os::unix::process::ExitStatusExt;
    // strace dies of the signal that killed its tracee.
    if output.status.signal() == Some(9) {
        return true;
    }
    match output.status.code() {
        Some(0) => false,
        other => panic!(
            "{args:?} at {syscall} #{n}: unexpected exit {other:?}: {} {}",
            stdout(&output),
            stderr(&output)
        ),
    }
}
