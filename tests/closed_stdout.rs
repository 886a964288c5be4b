//! A reader that stops early (`doctor | head -1`) ends every command quietly.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// Runs the helper with a stdout whose reading end is already closed.
fn run_with_closed_stdout(env: &Env, args: &[&str]) -> std::process::Output {
    // The reading end is closed before the helper starts: closing it after the
    // spawn races a helper quick enough to fill the pipe and exit first.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = env.command(BIN);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    wait_with_timeout(child, Duration::from_secs(60), args[0])
}

#[test]
fn every_command_ends_quietly_when_stdout_is_closed() {
    let mut env = Env::without_keychain();
    env.set("DOCKER_PAT_BACKEND", "file");
    for args in [
        &["doctor"][..],
        &["doctor", "--json"],
        &["completions", "bash"],
        &["man"],
        &["tokens"],
        &["tokens", "--json"],
        &["2fa", "status"],
        &["vault", "status"],
        &["--help"],
        &["version"],
        &["list"],
    ] {
        let output = run_with_closed_stdout(&env, args);
        let err = stderr(&output);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(output.status.signal(), None, "{args:?} died by a signal");
        }
        // The protocol verbs keep their own statuses; the commands exit 0 as ripgrep does.
        if !matches!(args[0], "version" | "list") {
            assert_eq!(output.status.code(), Some(0), "{args:?}: {err}");
        }
    }
}
