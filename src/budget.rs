//! A time budget for the protocol verbs.
//!
//! Docker waits on every `get`, `store` and `erase`. Each step that can stall
//! has its own bound (the keychain deadline, the lock wait, the Argon2 cost
//! limit), and this is the bound on all of them together: when the budget is
//! spent, a watchdog thread writes the one-line error Docker shows and ends
//! the process, whatever the main thread is waiting for.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

struct State {
    started: Instant,
    limit: Duration,
    done: bool,
}

/// The running budget; dropping it stops the watchdog.
pub struct Budget {
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Budget {
    /// Starts the watchdog with `limit`; it exits the process with status 1 when that passes.
    pub fn start(limit: Duration) -> Self {
        let shared = Arc::new((
            Mutex::new(State {
                started: Instant::now(),
                limit,
                done: false,
            }),
            Condvar::new(),
        ));
        let watched = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("budget".into())
            .spawn(move || watch(&watched));
        if spawned.is_err() {
            crate::output::note("cannot start the time budget; this run is not bounded");
        }
        Self { shared }
    }

    /// Changes the limit (counted from the start), once config.toml has been read.
    pub fn set(&self, limit: Duration) {
        let (state, wake) = &*self.shared;
        if let Ok(mut state) = state.lock() {
            state.limit = limit;
            wake.notify_all();
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        let (state, wake) = &*self.shared;
        if let Ok(mut state) = state.lock() {
            state.done = true;
            wake.notify_all();
        }
    }
}

fn watch(shared: &(Mutex<State>, Condvar)) {
    let (state, wake) = shared;
    let Ok(mut guard) = state.lock() else {
        return;
    };
    loop {
        if guard.done {
            return;
        }
        let deadline = guard.started + guard.limit;
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        guard = match wake.wait_timeout(guard, deadline - now) {
            Ok((guard, _)) => guard,
            Err(_) => return,
        };
    }
    let seconds = guard.limit.as_secs();
    let mut stdout = crate::stdio::stdout();
    let _ = writeln!(
        stdout,
        "docker-credential-pat gave up after {seconds} s (protocol_timeout_seconds in config.toml); run `docker-credential-pat doctor` to see what is slow"
    );
    std::process::exit(1);
}
