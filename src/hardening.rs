//! Keeping secrets out of core dumps.
//!
//! A process that holds a token makes itself non-dumpable and sets its core
//! size limit to zero, so a crash cannot write the token to disk and other
//! processes of the same user cannot read its memory through ptrace.

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
