//! A time budget for the protocol verbs.
//!
//! Docker waits on every `get`, `store` and `erase`. Each step that can stall
//! has its own bound (the keychain deadline, the lock wait, the Argon2 cost
//! limit), and this is the bound on all of them together: when the budget is
//! spent, the process writes the one-line error Docker shows and ends,
//! whatever the main thread is waiting for.
//!
//! On Unix a timer signal ends it. A watchdog thread would do the same, but
//! starting and ending a thread costs 0.07-0.1 ms, about 5% of a whole
//! `get`; Windows, which has no such signal, has the thread.

use std::time::{Duration, Instant};

/// The running budget; dropping it stops the timer.
pub struct Budget {
    #[cfg(unix)]
    started: Instant,
    #[cfg(unix)]
    limit: Duration,
    #[cfg(windows)]
    watchdog: watchdog::Watchdog,
}

impl Budget {
    /// Starts the budget with `limit`; the process exits with status 1 when that passes.
    pub fn start(limit: Duration) -> Self {
        let started = Instant::now();
        #[cfg(unix)]
        if !(timer::install() && timer::arm(limit, line(limit))) {
            crate::output::note("cannot start the time budget; this run is not bounded");
        }
        Self {
            #[cfg(unix)]
            started,
            #[cfg(unix)]
            limit,
            #[cfg(windows)]
            watchdog: watchdog::Watchdog::start(started, limit),
        }
    }

    /// Changes the limit (counted from the start), once config.toml has been read.
    pub fn set(&self, limit: Duration) {
        // The usual case: config.toml keeps the default, and the timer stands.
        #[cfg(unix)]
        if limit != self.limit {
            timer::arm(limit.saturating_sub(self.started.elapsed()), line(limit));
        }
        #[cfg(windows)]
        self.watchdog.set(limit);
    }
}

#[cfg(unix)]
impl Drop for Budget {
    fn drop(&mut self) {
        timer::disarm();
    }
}

/// The line Docker shows when the budget is spent.
fn line(limit: Duration) -> Vec<u8> {
    format!(
        "docker-credential-pat gave up after {} s (protocol_timeout_seconds in config.toml); run `docker-credential-pat doctor` to see what is slow\n",
        limit.as_secs()
    )
    .into_bytes()
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod timer {
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::time::Duration;

    /// What the handler writes. Each line is leaked, never freed, so the
    /// handler can read whichever one it finds, on any thread.
    static LINE: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());

    /// Async-signal-safe: it only reads `LINE` and calls write(2) and _exit(2).
    extern "C" fn spent(_: libc::c_int) {
        let line = LINE.load(Ordering::Acquire);
        if !line.is_null() {
            // SAFETY: LINE holds only pointers from Box::into_raw, never freed.
            let mut left: &[u8] = unsafe { &*line };
            while !left.is_empty() {
                // SAFETY: `left` is a live byte slice; fd 1 is Docker's pipe.
                let wrote = unsafe { libc::write(1, left.as_ptr().cast(), left.len()) };
                let Ok(wrote) = usize::try_from(wrote) else {
                    break;
                };
                if wrote == 0 {
                    break;
                }
                left = &left[wrote..];
            }
        }
        // SAFETY: _exit ends the process at once, which is the point.
        unsafe { libc::_exit(1) }
    }

    /// Installs the handler, once, before the timer is first armed.
    pub fn install() -> bool {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the
        // handler is async-signal-safe (above).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = spent as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) == 0
        }
    }

    /// Sets the line and fires the handler after `left`.
    pub fn arm(left: Duration, line: Vec<u8>) -> bool {
        LINE.store(Box::into_raw(Box::new(line)), Ordering::Release);
        // A zero interval would disarm the timer: a spent budget fires at once.
        set_timer(left.max(Duration::from_micros(1)))
    }

    pub fn disarm() {
        set_timer(Duration::ZERO);
    }

    // suseconds_t is i64 on Linux but i32 on macOS.
    #[allow(clippy::unnecessary_fallible_conversions)]
    fn set_timer(after: Duration) -> bool {
        let value = libc::timeval {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::try_from(after.subsec_micros()).unwrap_or(0),
        };
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: value,
        };
        // SAFETY: `timer` is a valid itimerval; the old value is not wanted.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) == 0 }
    }
}

#[cfg(windows)]
mod watchdog {
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    struct State {
        started: Instant,
        limit: Duration,
        done: bool,
    }

    pub struct Watchdog {
        shared: Arc<(Mutex<State>, Condvar)>,
    }

    impl Watchdog {
        pub fn start(started: Instant, limit: Duration) -> Self {
            let shared = Arc::new((
                Mutex::new(State {
                    started,
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

        pub fn set(&self, limit: Duration) {
            let (state, wake) = &*self.shared;
            if let Ok(mut state) = state.lock() {
                state.limit = limit;
                wake.notify_all();
            }
        }
    }

    impl Drop for Watchdog {
        fn drop(&mut self) {
            let (state, wake) = &*self.shared;
            if let Ok(mut state) = state.lock() {
                state.done = true;
                wake.notify_all();
            }
        }
    }

    fn watch(shared: &(Mutex<State>, Condvar)) {
        use std::io::Write;
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
        let mut stdout = crate::stdio::stdout();
        let _ = stdout.write_all(&super::line(guard.limit));
        let _ = stdout.flush();
        std::process::exit(1);
    }
}
