//! Secret hygiene: where a secret may go, watched from outside the process.
//!
//! `strace` records every write, send and exec of `store` and `get` with the
//! file or socket each descriptor refers to. The secret may cross the D-Bus
//! socket to the Secret Service, and `get` writes it to its stdout pipe; it
//! must never be written to a file, nor appear in any argv or environment.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A distinctive token, so any copy of it is found.
const SECRET: &str = "dckr_pat_HYGIENEzq7Xw3Kp9Lm2Rt5Vb8Nc1";

/// The syscalls that can carry bytes out of a process, or start a program; and
/// `read`, to see the secret come in (the trace's positive control).
const WATCHED: &str =
    "trace=write,pwrite64,writev,pwritev,pwritev2,sendto,sendmsg,sendmmsg,execve,execveat,read";

/// In the helper's environment, so its own exec shows that argv and environment are traced.
const EXEC_CONTROL: &str = "PAT_TRACE_CONTROL=exec-control-Hv7Qn2";

struct Trace {
    /// Syscall lines that carry the secret out, with the descriptor's target (`-yy`).
    hits: Vec<String>,
    /// Reads of stdin that carried the secret in: the trace can see the secret.
    read_in: usize,
    /// Whether the helper's own exec, with its environment, is in the trace.
    exec_seen: bool,
    lines: usize,
}

fn traced(env: &Env, dir: &Path, args: &[&str], input: &str) -> (std::process::Output, Trace) {
    require_tool("strace", "strace");
    let log = dir.join("strace.log");
    let mut command = env.command("strace");
    let (key, value) = EXEC_CONTROL.split_once('=').unwrap();
    command
        .env(key, value)
        .args(["-f", "-yy", "-v", "-s", "65536", "-e"])
        .arg(WATCHED);
    command.arg("-o").arg(&log).arg("--").arg(BIN).args(args);
    let output = run_with_input(command, input, "traced helper");
    let text = std::fs::read_to_string(&log).unwrap();
    let carrying = || text.lines().filter(|l| l.contains(SECRET));
    // A read's bytes show on its line, or on the `<... read resumed>` line of a read
    // another thread's syscall interrupted in the log.
    let is_read = |l: &str| syscall_of(l).0 == "read" || l.contains("<... read resumed>");
    let trace = Trace {
        hits: carrying()
            .filter(|l| !is_read(l))
            .map(str::to_owned)
            .collect(),
        read_in: carrying()
            .filter(|l| matches!(syscall_of(l), ("read", "0", _)))
            .count(),
        exec_seen: text
            .lines()
            .any(|l| syscall_of(l).0 == "execve" && l.contains(BIN) && l.contains(EXEC_CONTROL)),
        lines: text.lines().count(),
    };
    (output, trace)
}

/// The syscall name, descriptor and its target of an strace line (`PID name(fd<target>, …`).
fn syscall_of(line: &str) -> (&str, &str, &str) {
    let line = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
    let (name, rest) = line.split_once('(').unwrap_or((line, ""));
    let (fd, target) = rest
        .split_once('<')
        .filter(|(fd, _)| fd.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(fd, t)| Some((fd, t.split_once('>')?.0)))
        .unwrap_or(("", ""));
    (name, fd, target)
}

/// Asserts each line carrying the secret out is a send on a Unix socket, or (for
/// `get`) the reply on stdout; returns how many went to the bus and to stdout.
/// Verbs that read the secret on stdin (`allow_stdout` false) must be seen reading
/// it, and every trace must hold the helper's exec with its environment: a trace
/// that could not see the secret, or an exec, cannot vouch for their absence.
#[track_caller]
fn check_hits(trace: &Trace, allow_stdout: bool) -> (usize, usize) {
    assert!(trace.lines >= 3, "strace recorded the run");
    assert!(
        trace.exec_seen,
        "the trace holds the helper's exec with its environment ({EXEC_CONTROL})"
    );
    if !allow_stdout {
        assert!(
            trace.read_in >= 1,
            "the trace saw the secret come in on stdin, so it can see the secret"
        );
    }
    let (mut bus, mut stdout) = (0, 0);
    for line in &trace.hits {
        let (name, fd, target) = syscall_of(line);
        assert!(
            !name.starts_with("execve"),
            "the secret is in an exec's argv or environment: {line}"
        );
        if target.starts_with("UNIX-STREAM:") || target.starts_with("UNIX:") {
            bus += 1;
        } else if allow_stdout && name == "write" && fd == "1" && target.starts_with("pipe:") {
            stdout += 1;
        } else {
            panic!(
                "the secret was written somewhere other than the bus or the reply: {name} to {target:?}: {line}"
            );
        }
    }
    (bus, stdout)
}

#[test]
fn secret_crosses_only_the_bus_and_the_reply_under_strace() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let dir = tempfile::tempdir().unwrap();
    // A replacement too, so the retire-and-remove path is traced as well.
    ok(&env.store("ghcr.io", "octo", "an-older-secret"));
    let request =
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"{SECRET}\"}}\n");
    let (output, trace) = traced(&env, dir.path(), &["store"], &request);
    ok(&output);
    let (bus, _) = check_hits(&trace, false);
    assert!(
        bus >= 1,
        "the secret was seen going to the Secret Service (the trace works)"
    );

    let (output, trace) = traced(&env, dir.path(), &["get"], "ghcr.io");
    assert_eq!(ok(&output), get_reply("ghcr.io", "octo", SECRET));
    let (_, stdout) = check_hits(&trace, true);
    assert_eq!(stdout, 1, "get wrote the secret once, to its stdout");

    // `add` reads the secret from stdin; same rules.
    let (output, trace) = traced(
        &env,
        dir.path(),
        &add_args("docker.io", "alice", "ci"),
        &format!("{SECRET}\n"),
    );
    ok(&output);
    let (bus, _) = check_hits(&trace, false);
    assert!(bus >= 1);
    assert!(keyring.holds(SECRET));
}

#[test]
fn secret_is_in_no_file_and_no_message_even_when_things_fail() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    env.write_config_toml("[two_factor]\n\"docker.io\" = [\"alice\"]\n");
    ok(&env.store("ghcr.io", "octo", SECRET));
    ok(&env.get("ghcr.io"));
    let mut outputs = Vec::new();
    let password = format!("{SECRET}-but-a-password");
    let requests = [
        // The two-factor rule refuses a password.
        format!("{{\"ServerURL\":\"docker.io\",\"Username\":\"alice\",\"Secret\":\"{password}\"}}"),
        // Malformed and wrongly typed JSON around the secret.
        format!("{{\"ServerURL\":\"x\",\"Secret\":\"{SECRET}\""),
        format!("{{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":[\"{SECRET}\"]}}"),
        format!("{{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"{SECRET}\"}} {SECRET}"),
        format!("\"{SECRET}\""),
        // The secret pasted where the address or the username goes.
        format!(
            "{{\"ServerURL\":\"https://u:{SECRET}@ghcr.io\",\"Username\":\"u\",\"Secret\":\"{SECRET}\"}}"
        ),
        format!("{{\"ServerURL\":\"ghcr.io?{SECRET}\",\"Username\":\"u\",\"Secret\":\"x\"}}"),
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"\\n{SECRET}\",\"Secret\":\"x\"}}"),
    ];
    for request in &requests {
        outputs.push(env.run(&["store"], request));
    }
    for address in [
        format!("https://user:{SECRET}@ghcr.io"),
        format!("ghcr.io/#{SECRET}"),
        format!("{SECRET}\u{1}"),
    ] {
        outputs.push(env.run(&["get"], &address));
        outputs.push(env.run(&["erase"], &address));
    }
    outputs.push(env.run(
        &["add", "docker.io", "--username", "alice"],
        &format!("{password}\n"),
    ));
    outputs.push(env.run(
        &["add", &format!("u:{SECRET}@ghcr.io"), "--username", "u"],
        &format!("{SECRET}\n"),
    ));
    // The Secret Service gone: store and get fail with the secret in flight.
    keyring.stop_keyring();
    outputs.push(env.store("quay.io", "q", SECRET));
    outputs.push(env.get("ghcr.io"));
    outputs.push(env.run(
        &["add", "quay.io", "--username", "q"],
        &format!("{SECRET}\n"),
    ));
    outputs.push(env.run(&["tokens", "--json"], ""));
    outputs.push(env.run(&["tokens"], ""));
    outputs.push(env.run(&["history", "default@ghcr.io"], ""));
    let failures = outputs.iter().filter(|o| !o.status.success()).count();
    assert!(
        failures >= 15,
        "the errors above were triggered ({failures})"
    );
    for output in &outputs {
        let text = format!("{}{}", stdout(output), stderr(output));
        assert!(!text.contains(SECRET), "a message holds the secret: {text}");
        assert!(
            !text.contains("HYGIENE"),
            "a message holds part of the secret: {text}"
        );
    }
    assert_not_on_disk(env.root.path(), SECRET);
    assert_not_on_disk(env.root.path(), "HYGIENE");
}

/// Runs the helper as an unprivileged user and returns the owner of its
/// `/proc/PID/environ` while it waits on stdin. Linux hands the /proc files of
/// a process that made itself non-dumpable (PR_SET_DUMPABLE 0) to root.
fn proc_owner_and_core_limit(args: &[&str], dir: &Path) -> (u32, String) {
    require_tool("setpriv", "util-linux");
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("DOCKER_PAT_HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = format!("/proc/{}", child.id());
    // setpriv execs the helper in the same process; wait until it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("{proc}/exe")).unwrap_or_default();
        if exe.to_string_lossy().contains("docker-credential-pat") {
            // Give it a moment to reach the read of stdin, after hardening.
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        assert!(Instant::now() < deadline, "the helper did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let owner = std::fs::metadata(format!("{proc}/environ")).unwrap().uid();
    let limits = std::fs::read_to_string(format!("{proc}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .to_owned();
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    (owner, core)
}

#[test]
fn processes_holding_secrets_cannot_dump_core_or_be_read() {
    let dir = tempfile::tempdir().unwrap();
    // The helper's data folder belongs to the user it runs as (it refuses any other).
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    // The control: an ordinary process of the same user keeps its own /proc files.
    let mut control = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "cat",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let owner = std::fs::metadata(format!("/proc/{}/environ", control.id()))
        .unwrap()
        .uid();
    drop(control.stdin.take());
    let _ = control.wait();
    assert_eq!(owner, 65534, "an ordinary process owns its /proc files");

    for args in [
        &["get"][..],
        &["store"],
        &["erase"],
        &["add", "docker.io", "--username", "alice"],
    ] {
        let (owner, core) = proc_owner_and_core_limit(args, dir.path());
        assert_eq!(
            owner, 0,
            "{args:?}: non-dumpable, so /proc/PID belongs to root"
        );
        let fields: Vec<&str> = core.split_whitespace().collect();
        assert_eq!(
            &fields[4..6],
            ["0", "0"],
            "{args:?}: core size limit is 0 (soft and hard): {core}"
        );
    }
}

#[test]
fn file_backend_writes_the_secret_nowhere_but_the_reply() {
    let mut env = Env::without_keychain();
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "hygiene passphrase\n").unwrap();
    env.set("DOCKER_PAT_BACKEND", "file");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", passphrase.to_str().unwrap());
    env.write_config_toml("vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\n");
    ok(&env.run(&["vault", "init"], ""));
    let request =
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"{SECRET}\"}}\n");
    let (output, trace) = traced(&env, dir.path(), &["store"], &request);
    ok(&output);
    assert_eq!(
        check_hits(&trace, false),
        (0, 0),
        "the vault is written encrypted"
    );
    let (output, trace) = traced(&env, dir.path(), &["get"], "ghcr.io");
    assert_eq!(ok(&output), get_reply("ghcr.io", "octo", SECRET));
    assert_eq!(
        check_hits(&trace, true),
        (0, 1),
        "only the reply carries it"
    );
    assert_not_on_disk(env.root.path(), SECRET);
    assert_not_on_disk(env.root.path(), "hygiene passphrase");
}
