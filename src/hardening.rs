//! Process settings made before any secret is handled.
//!
//! A process that holds a token makes itself non-dumpable and sets its core
//! size limit to zero, so a crash cannot write the token to disk and other
//! processes of the same user cannot read its memory through ptrace. It also
//! ignores SIGXFSZ, so a write beyond a file-size limit fails with an error
//! the person can read, instead of killing the process mid-way.

/// Best effort: failing to harden is not a reason to refuse service.
pub fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{DumpableBehavior, set_dumpable_behavior};
        let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
    }
}

/// Writes past `ulimit -f` return EFBIG (reported as "file too large") instead of killing us.
#[allow(unsafe_code)]
pub fn report_file_size_limits() {
    #[cfg(unix)]
    // SAFETY: SIG_IGN installs no handler code; it only changes the signal's
    // disposition, and it runs at start-up before any thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
