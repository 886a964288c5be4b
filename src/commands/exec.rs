//! `exec --integration NAME -- COMMAND…`: one command whose clients all use
//! NAME's tokens, like `aws-vault exec`.
//!
//! The child gets `DOCKER_PAT_INTEGRATION=NAME` and nothing else from us: an
//! integration's name is not a secret, and the helper the child's clients
//! run reads the tokens as always. Its exit status is ours (128+N after a
//! signal N, as a shell reports it), and the signals a person or a
//! supervisor sends us reach it.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

use super::exit::CommandResult;
use crate::config::ENV_INTEGRATION;
use crate::error::ServiceError;
use crate::names::Integration;
use crate::service::Service;

pub fn run(service: &Service, integration: &str, command: &[OsString]) -> CommandResult {
    let integration =
        Integration::parse(integration).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let known = service
        .ledger()?
        .entries()?
        .iter()
        .any(|e| e.name.integration == integration);
    if !known {
        return Err(ServiceError::Invalid(format!(
            "no token belongs to integration {integration}, so nothing was run; `docker-credential-pat tokens` lists the integrations"
        )));
    }
    let (program, args) = command
        .split_first()
        .ok_or_else(|| ServiceError::Invalid("exec needs a command to run".into()))?;
    let mut child = Command::new(program);
    child.args(args).env(ENV_INTEGRATION, integration.as_str());
    let status = match signals::run(child) {
        Ok(status) => status,
        Err(e) => {
            crate::output::error(&format!(
                "cannot run {}: {e}",
                crate::text::printable(&program.to_string_lossy(), 200)
            ));
            // What a shell answers: 127 for a missing program, 126 for one it cannot run.
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            std::process::exit(code);
        }
    };
    std::process::exit(exit_code(status))
}

/// The child's status as a shell reports it.
fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

/// Runs the child and passes on SIGINT, SIGTERM and SIGHUP sent to us.
///
/// The signals are blocked before the child starts (and unblocked in the
/// child before it executes the command), and one thread takes them with
/// `sigwaitinfo`. A signal the
/// kernel sent, as a terminal's Ctrl-C or hang-up does to the whole process
/// group, has reached the child already and is not sent twice; one sent by a
/// process (`kill`, a supervisor) is passed on.
#[cfg(unix)]
#[allow(unsafe_code)]
mod signals {
    use std::process::{Command, ExitStatus};

    const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    pub fn run(mut command: Command) -> std::io::Result<ExitStatus> {
        use std::os::unix::process::CommandExt;
        let set = block()?;
        // SAFETY: between fork and exec only pthread_sigmask runs, which is
        // async-signal-safe; it gives the command the mask a shell would.
        unsafe {
            command.pre_exec(move || {
                match libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) {
                    0 => Ok(()),
                    e => Err(std::io::Error::from_raw_os_error(e)),
                }
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id() as libc::pid_t;
        std::thread::spawn(move || forward(set, pid));
        child.wait()
    }

    fn block() -> std::io::Result<libc::sigset_t> {
        // SAFETY: sigemptyset and sigaddset fill a sigset_t we own; the mask is
        // changed for this thread only, before any other thread of ours exists.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in FORWARDED {
                libc::sigaddset(&mut set, signal);
            }
            match libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) {
                0 => Ok(set),
                e => Err(std::io::Error::from_raw_os_error(e)),
            }
        }
    }

    fn forward(set: libc::sigset_t, pid: libc::pid_t) {
        loop {
            let Some((signal, from_kernel)) = wait(&set) else {
                continue;
            };
            if !from_kernel {
                // SAFETY: kill takes plain integers; the child is ours and is
                // reaped only by the thread that waits for it.
                unsafe {
                    libc::kill(pid, signal);
                }
            }
        }
    }

    /// The next blocked signal, and whether the kernel (a terminal) sent it.
    #[cfg(target_os = "linux")]
    fn wait(set: &libc::sigset_t) -> Option<(libc::c_int, bool)> {
        // SAFETY: sigwaitinfo writes into a siginfo_t we own.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::sigwaitinfo(set, &mut info);
            (signal > 0).then_some((signal, info.si_code == libc::SI_KERNEL))
        }
    }

    /// Elsewhere `sigwait` does not say who sent a signal; every one is passed on.
    #[cfg(not(target_os = "linux"))]
    fn wait(set: &libc::sigset_t) -> Option<(libc::c_int, bool)> {
        let mut signal = 0;
        // SAFETY: sigwait writes the signal's number into an integer we own.
        let result = unsafe { libc::sigwait(set, &mut signal) };
        (result == 0).then_some((signal, false))
    }
}

/// On Windows a console's Ctrl-C reaches every process attached to it, the
/// child included; the exit code is passed through.
#[cfg(not(unix))]
mod signals {
    use std::process::{Command, ExitStatus};

    pub fn run(mut command: Command) -> std::io::Result<ExitStatus> {
        command.status()
    }
}
