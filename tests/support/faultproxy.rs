//! A fault-injecting HTTP/1.1 proxy on loopback, put in front of a real
//! server (OpenBao, the Docker Hub double) to make one request of a flow go
//! wrong the way networks do:
//!
//! - [`Fault::Delay`]: hold the request past the client's timeout, then
//!   forward it anyway (the server acts after the client gave up);
//! - [`Fault::DropAnswer`]: forward it, let the server act, then close the
//!   connection without the answer;
//! - [`Fault::Reset`]: reset the connection without forwarding;
//! - [`Fault::Status`]: answer 500 or 503 itself, without forwarding.
//!
//! It reads requests (keep-alive, `Content-Length` bodies) and answers
//! (`Content-Length`, chunked, or to the end) well enough to count them:
//! requests are numbered from 1 since the last [`FaultProxy::reset`]. It can
//! also cut the server off entirely ([`FaultProxy::cut`]: connections are
//! accepted and requests read, but nothing is forwarded or answered), or
//! lose the answer to every write ([`FaultProxy::lose_answers`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Delay(Duration),
    DropAnswer,
    Reset,
    Status(u16),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Delay(d) => write!(f, "delay {d:?}"),
            Fault::DropAnswer => write!(f, "drop the answer"),
            Fault::Reset => write!(f, "reset"),
            Fault::Status(s) => write!(f, "answer {s}"),
        }
    }
}

/// The faults a matrix runs at every request: a delay past `timeout_seconds`
/// (after which the request still reaches the server), a lost answer, a reset,
/// and a 500 and a 503 of the proxy's own.
pub const fn every_fault(timeout_seconds: u64) -> [Fault; 5] {
    [
        Fault::Delay(Duration::from_millis(timeout_seconds * 1000 + 400)),
        Fault::DropAnswer,
        Fault::Reset,
        Fault::Status(500),
        Fault::Status(503),
    ]
}

#[derive(Default)]
struct State {
    /// Requests seen since the last reset, as `METHOD /path`.
    seen: Vec<String>,
    /// The faults for the requests of these numbers (1-based).
    armed: Vec<(usize, Fault)>,
    /// Requests held, forwarded or answered and not finished yet.
    busy: usize,
    /// Which faults were actually applied, and to which request.
    applied: Vec<(usize, Fault, String)>,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    idle: Condvar,
    cut: AtomicBool,
    lose: AtomicBool,
    stop: AtomicBool,
}

pub struct FaultProxy {
    /// `127.0.0.1:PORT`
    pub address: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`127.0.0.1:PORT`), passing everything through until armed.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            cut: AtomicBool::new(false),
            lose: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || serve(&shared, client));
            }
        });
        Self { address, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Forgets the requests counted so far and any fault not applied yet.
    pub fn reset(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.seen.clear();
        state.armed.clear();
        state.applied.clear();
    }

    /// Applies `fault` to the `n`th request from now (1-based) and counts from zero again.
    pub fn arm(&self, n: usize, fault: Fault) {
        self.reset();
        self.also(n, fault);
    }

    /// Adds a fault for the `n`th request, counted from the last arm or reset.
    pub fn also(&self, n: usize, fault: Fault) {
        self.shared.state.lock().unwrap().armed.push((n, fault));
    }

    /// The requests seen since the last reset or arm.
    pub fn seen(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// The faults applied since the last reset or arm, with their request.
    pub fn applied(&self) -> Vec<(usize, Fault, String)> {
        self.shared.state.lock().unwrap().applied.clone()
    }

    /// Waits until no request is held or in flight, so the server's state is settled.
    pub fn wait_idle(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut state = self.shared.state.lock().unwrap();
        while state.busy > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the proxy stayed busy for {within:?}");
            state = self.shared.idle.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Cuts the server off: requests are read and never forwarded nor answered.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
    }

    /// Forwards every request; drops the answer to each write (POST, PUT,
    /// PATCH, DELETE): the server acts, the client never hears. Reads pass,
    /// so the client keeps coming back.
    pub fn lose_answers(&self) {
        self.shared.lose.store(true, Ordering::SeqCst);
    }

    /// Forwards and answers again; connections held while cut stay unanswered until the client gives up.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
        self.shared.lose.store(false, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cut.store(false, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.address);
    }
}

/// A request or an answer as read off the wire, byte for byte.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
    first_line: String,
}

fn read_head(reader: &mut impl BufRead) -> Option<(Vec<u8>, Vec<String>)> {
    let mut head = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if text.is_empty() {
            if lines.is_empty() {
                // A stray line break between messages.
                head.clear();
                continue;
            }
            return Some((head, lines));
        }
        lines.push(text);
    }
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn read_request(reader: &mut impl BufRead) -> Option<Message> {
    let (head, lines) = read_head(reader)?;
    let length: usize = header(&lines, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Message {
        head,
        body,
        first_line: lines[0].clone(),
    })
}

fn read_answer(reader: &mut impl BufRead, method: &str) -> Option<Message> {
    let (head, lines) = read_head(reader)?;
    let status: u16 = lines[0]
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
    if no_body {
    } else if header(&lines, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line).ok()?;
            body.extend_from_slice(&size_line);
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&size_line)
                    .trim()
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut line = Vec::new();
                    reader.read_until(b'\n', &mut line).ok()?;
                    body.extend_from_slice(&line);
                    if line == b"\r\n" || line == b"\n" || line.is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = header(&lines, "content-length").and_then(|v| v.parse().ok()) {
        body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
    } else {
        reader.read_to_end(&mut body).ok()?;
    }
    Some(Message {
        head,
        body,
        first_line: lines[0].clone(),
    })
}

/// Closes `stream` with a reset rather than an orderly end.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

struct Busy<'a>(&'a Shared);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap();
        state.busy -= 1;
        self.0.idle.notify_all();
    }
}

fn serve(shared: &Shared, client: TcpStream) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    while let Some(request) = read_request(&mut reader) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if shared.cut.load(Ordering::SeqCst) {
            // Blackholed: the client waits until its own timeout.
            while shared.cut.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        let method = request
            .first_line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        let target = request
            .first_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let fault = {
            let mut state = shared.state.lock().unwrap();
            state.seen.push(format!("{method} {target}"));
            state.busy += 1;
            let n = state.seen.len();
            let fault = state
                .armed
                .iter()
                .find(|(at, _)| *at == n)
                .map(|(_, fault)| *fault);
            if let Some(fault) = fault {
                state.applied.push((n, fault, format!("{method} {target}")));
            }
            fault
        };
        let _busy = Busy(shared);
        match fault {
            Some(Fault::Reset) => {
                reset(writer);
                return;
            }
            Some(Fault::Status(status)) => {
                let body = format!("{{\"errors\":[\"injected {status}\"]}}");
                let reason = if status == 503 {
                    "Service Unavailable"
                } else {
                    "Internal Server Error"
                };
                let answer = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Delay(delay)) => std::thread::sleep(delay),
            Some(Fault::DropAnswer) | None => {}
        }
        // A new connection to the server for each request: a request is never sent twice.
        let answer = TcpStream::connect(&shared.upstream)
            .ok()
            .and_then(|stream| {
                let mut up_reader = BufReader::new(stream.try_clone().ok()?);
                let mut up_writer = stream;
                up_writer.write_all(&request.head).ok()?;
                up_writer.write_all(&request.body).ok()?;
                read_answer(&mut up_reader, &method)
            });
        let Some(answer) = answer else {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        };
        let writes = !matches!(method.as_str(), "GET" | "LIST" | "HEAD");
        if fault == Some(Fault::DropAnswer) || (writes && shared.lose.load(Ordering::SeqCst)) {
            // The server has acted; the client hears nothing but the end.
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        let closes = answer.first_line.starts_with("HTTP/1.0")
            || String::from_utf8_lossy(&answer.head)
                .to_ascii_lowercase()
                .contains("connection: close");
        if writer.write_all(&answer.head).is_err() || writer.write_all(&answer.body).is_err() {
            return;
        }
        if closes {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}
