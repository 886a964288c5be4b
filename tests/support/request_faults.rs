//! The faults a registry double's requests meet in turn in the fault tests,
//! and the short timeout that makes a slow answer one past it.

use std::time::Duration;

use super::http_double::Fault;

/// Short calls (a slow answer is one past a second), a patient keychain.
pub const CONFIG: &str = "registry_timeout_seconds = 1\nkeychain_timeout_seconds = 120\n";

/// The faults each request meets in turn: acted and the answer lost, a
/// server error, an answer later than the timeout (the double acts first),
/// and a server that acts only after the timeout.
pub fn faults() -> [Fault; 4] {
    [
        Fault::Drop,
        Fault::Status(500),
        Fault::LateAnswer(Duration::from_millis(1500)),
        Fault::Delay(Duration::from_millis(1500)),
    ]
}
