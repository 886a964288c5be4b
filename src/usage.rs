//! Last-used bookkeeping: when, how often and by which client each token was used.
//!
//! `get` runs on every pull, and many at once during a build, so it must not
//! rewrite (and fsync) a file per call. Instead each successful `get` appends
//! one short line to `usage.log` under a brief exclusive lock; readers merge
//! the log with `usage.json`. When the log grows large it is folded into
//! `usage.json`. A header nonce in the log and the folded length recorded in
//! `usage.json` make folding exact even if it is interrupted: a fold that
//! wrote `usage.json` but did not truncate the log is recognised and not
//! counted twice.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Paths;
use crate::fsutil::{self, FsError};

/// How many uses each token remembers.
pub const HISTORY_LEN: usize = 50;
/// Log size at which a `get` folds the log into `usage.json`.
const FOLD_THRESHOLD: u64 = 256 * 1024;
/// A `get` never waits longer than this to record a use.
const APPEND_WAIT: Duration = Duration::from_secs(5);
const MAX_CLIENT_LEN: usize = 32;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub use_count: u64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_client: Option<String>,
    /// What chose the token at its last use: `rule 2`, `DOCKER_PAT_INTEGRATION`, `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_chosen_by: Option<String>,
    #[serde(default)]
    pub history: VecDeque<Use>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Use {
    pub at: DateTime<Utc>,
    pub client: String,
    /// Absent in uses recorded before rules existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<String>,
}

impl Usage {
    fn record(&mut self, at: DateTime<Utc>, client: &str, chosen_by: Option<&str>) {
        self.use_count += 1;
        let chosen_by = chosen_by.map(str::to_owned);
        if self.last_used_at.is_none_or(|last| at >= last) {
            self.last_used_at = Some(at);
            self.last_client = Some(client.to_owned());
            self.last_chosen_by.clone_from(&chosen_by);
        }
        self.history.push_back(Use {
            at,
            client: client.to_owned(),
            chosen_by,
        });
        if self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
    }
}

/// Usage of every token, keyed by token id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageTable {
    #[serde(default)]
    pub tokens: BTreeMap<String, Usage>,
    /// Which log (by its header nonce) was folded, and how many bytes of it.
    #[serde(default)]
    folded: Option<Folded>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Folded {
    nonce: String,
    len: u64,
}

impl UsageTable {
    pub fn get(&self, token_id: &str) -> Usage {
        self.tokens.get(token_id).cloned().unwrap_or_default()
    }

    /// Reads `usage.json` and adds what the log holds beyond it. Never fails on
    /// damaged bookkeeping: usage is advisory, so damage reads as "no record".
    pub fn load(paths: &Paths) -> Self {
        let mut table = read_table(&paths.usage_file());
        if let Ok(Some(log)) = fsutil::read_private(&paths.usage_log()) {
            table.apply_log(&log);
        }
        table
    }

    pub(crate) fn apply_log(&mut self, log: &[u8]) {
        let (nonce, body_start) = header(log);
        let skip = match (&self.folded, nonce) {
            (Some(folded), Some(nonce)) if folded.nonce == nonce => folded.len as usize,
            _ => body_start,
        };
        let Some(rest) = log.get(skip.max(body_start)..) else {
            return;
        };
        for line in rest.split_inclusive(|&b| b == b'\n') {
            // A line without its newline is still being written; it is counted next time.
            let Some(line) = line.strip_suffix(b"\n") else {
                break;
            };
            if let Some((id, at, client, chosen_by)) = parse_line(line) {
                self.tokens
                    .entry(id.to_owned())
                    .or_default()
                    .record(at, client, chosen_by);
            }
        }
    }

    /// Drops the records of tokens that no longer exist.
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.tokens.retain(|id, _| live(id));
    }
}

fn read_table(path: &Path) -> UsageTable {
    fsutil::read_private(path)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The nonce of the log's header line, and where the entries begin.
fn header(log: &[u8]) -> (Option<&str>, usize) {
    if let Some(rest) = log.strip_prefix(b"#")
        && let Some(end) = rest.iter().position(|&b| b == b'\n')
    {
        return (std::str::from_utf8(&rest[..end]).ok(), end + 2);
    }
    (None, 0)
}

/// `id`, time, client and, since rules exist, what chose the token.
fn parse_line(line: &[u8]) -> Option<(&str, DateTime<Utc>, &str, Option<&str>)> {
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.splitn(4, '\t');
    let id = fields.next()?;
    let millis: i64 = fields.next()?.parse().ok()?;
    let client = fields.next()?;
    let chosen_by = fields.next().filter(|c| !c.is_empty());
    let at = Utc.timestamp_millis_opt(millis).single()?;
    Some((id, at, client, chosen_by))
}

/// The name of the process that ran us (`docker`, `skopeo`, `docker-buildx`…).
pub fn parent_client() -> String {
    #[cfg(target_os = "linux")]
    {
        let comm = std::fs::read_to_string(format!(
            "/proc/{}/comm",
            std::os::unix::process::parent_id()
        ));
        if let Ok(name) = comm {
            return clean_client(name.trim());
        }
    }
    "unknown".into()
}

/// How this machine is named in the uses other machines see: `machine_name`
/// in config.toml, else the host name.
pub fn this_machine(config: &crate::config::Config) -> String {
    if let Some(name) = &config.machine_name {
        return name.clone();
    }
    let name = host_name();
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

#[cfg(unix)]
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(not(unix))]
fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

fn clean_client(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_CLIENT_LEN)
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

/// What chose a token, as one field of a log line: printable, spaces kept.
fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_CLIENT_LEN)
        .collect()
}

/// Records one use of a token, and what chose it (`rule 2`, never the
/// directory). Bookkeeping never fails a `get`: errors are returned for the
/// caller to mention on stderr, and the credential is served regardless.
pub fn record_use(
    paths: &Paths,
    token_id: &str,
    client: &str,
    chosen_by: &str,
    at: DateTime<Utc>,
) -> Result<(), FsError> {
    let path = paths.usage_log();
    let write_error = |source| FsError::Write {
        path: path.clone(),
        source,
    };
    let mut options = fsutil::private_options();
    options.append(true).create(true);
    let file = options
        .open(&path)
        .map_err(|e| fsutil::open_error(&path, e, true))?;
    fsutil::check_own_file(&path, &file)?;
    let lock = LogLock::acquire(file, &path, APPEND_WAIT)?;
    start_log_if_empty(&lock.file).map_err(write_error)?;
    let line = format!(
        "{token_id}\t{}\t{}\t{}\n",
        at.timestamp_millis(),
        clean_client(client),
        clean_reason(chosen_by)
    );
    // One write call per line, so a reader never sees half of a line as whole.
    (&lock.file)
        .write_all(line.as_bytes())
        .map_err(write_error)?;
    let size = lock.file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > FOLD_THRESHOLD {
        fold_locked(paths, &lock.file)?;
    }
    Ok(())
}

/// Folds the log into `usage.json` now (used by commands that rewrite the index).
pub fn fold(paths: &Paths) -> Result<(), FsError> {
    let path = paths.usage_log();
    let mut options = fsutil::private_options();
    options.append(true).create(true).read(true);
    let file = options
        .open(&path)
        .map_err(|e| fsutil::open_error(&path, e, true))?;
    fsutil::check_own_file(&path, &file)?;
    let lock = LogLock::acquire(file, &path, APPEND_WAIT)?;
    start_log_if_empty(&lock.file).map_err(|source| FsError::Write {
        path: path.clone(),
        source,
    })?;
    fold_locked(paths, &lock.file)
}

/// A new log begins with its nonce, so a fold can always tell which log it covered.
fn start_log_if_empty(mut file: &File) -> std::io::Result<()> {
    if file.metadata()?.len() == 0 {
        file.write_all(format!("#{}\n", crate::ids::random_hex(8)).as_bytes())?;
    }
    Ok(())
}

/// usage.json with `log` applied, marked as covering that log.
fn folded_table(paths: &Paths, log: &[u8]) -> UsageTable {
    let mut table = read_table(&paths.usage_file());
    table.apply_log(log);
    let (nonce, _) = header(log);
    table.folded = Some(Folded {
        nonce: nonce.unwrap_or_default().to_owned(),
        len: log.len() as u64,
    });
    table
}

fn fold_locked(paths: &Paths, _held: &File) -> Result<(), FsError> {
    let log_path = paths.usage_log();
    let write_error = |source| FsError::Write {
        path: log_path.clone(),
        source,
    };
    // Re-open for reading: the appending descriptor may lack read access.
    let log = fsutil::read_private(&log_path)?.unwrap_or_default();
    let table = folded_table(paths, &log);
    let mut bytes = serde_json::to_vec(&table).expect("usage always serialises");
    bytes.push(b'\n');
    fsutil::write_atomic(&paths.usage_file(), &bytes)?;
    // usage.json now covers the whole log; start a new one with a fresh nonce.
    let mut file = fsutil::private_options()
        .open(&log_path)
        .map_err(write_error)?;
    file.set_len(0).map_err(write_error)?;
    file.seek(SeekFrom::Start(0)).map_err(write_error)?;
    file.write_all(format!("#{}\n", crate::ids::random_hex(8)).as_bytes())
        .map_err(write_error)?;
    Ok(())
}

/// The log's own lock, so appends and folds never interleave.
struct LogLock {
    file: File,
}

impl LogLock {
    fn acquire(file: File, path: &Path, wait: Duration) -> Result<Self, FsError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(FsError::LockTimeout {
                        path: path.to_owned(),
                        seconds: wait.as_secs(),
                    });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(FsError::Lock {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        }
    }
}

impl Drop for LogLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().into());
        (dir, paths)
    }

    #[test]
    fn uses_are_counted_and_history_is_bounded() {
        let (_dir, paths) = paths();
        let now = Utc::now();
        for i in 0..60 {
            record_use(
                &paths,
                "t1",
                if i % 2 == 0 { "docker" } else { "skopeo" },
                "default",
                now,
            )
            .unwrap();
        }
        record_use(&paths, "t2", "docker", "rule 2", now).unwrap();
        let table = UsageTable::load(&paths);
        let usage = table.get("t1");
        assert_eq!(usage.use_count, 60);
        assert_eq!(usage.history.len(), HISTORY_LEN);
        assert_eq!(usage.last_client.as_deref(), Some("skopeo"));
        assert_eq!(table.get("t2").use_count, 1);
        assert_eq!(table.get("nope").use_count, 0);
    }

    #[test]
    fn folding_keeps_every_count_and_empties_the_log() {
        let (_dir, paths) = paths();
        let now = Utc::now();
        for _ in 0..10 {
            record_use(&paths, "t1", "docker", "default", now).unwrap();
        }
        fold(&paths).unwrap();
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 10);
        for _ in 0..5 {
            record_use(&paths, "t1", "docker", "default", now).unwrap();
        }
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 15);
        fold(&paths).unwrap();
        fold(&paths).unwrap();
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 15);
        let log = std::fs::read(paths.usage_log()).unwrap();
        assert!(log.starts_with(b"#") && log.iter().filter(|&&b| b == b'\n').count() == 1);
    }

    #[test]
    fn fold_interrupted_before_truncation_does_not_double_count() {
        let (_dir, paths) = paths();
        let now = Utc::now();
        for _ in 0..3 {
            record_use(&paths, "t1", "docker", "default", now).unwrap();
        }
        // Simulate a fold that wrote usage.json and died before truncating the log.
        let log = std::fs::read(paths.usage_log()).unwrap();
        let table = folded_table(&paths, &log);
        assert!(table.folded.as_ref().is_some_and(|f| !f.nonce.is_empty()));
        fsutil::write_atomic(&paths.usage_file(), &serde_json::to_vec(&table).unwrap()).unwrap();
        record_use(&paths, "t1", "docker", "default", now).unwrap();
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 4);
        fold(&paths).unwrap();
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 4);
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let (_dir, paths) = paths();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let paths = paths.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        record_use(&paths, "t1", "docker", "default", Utc::now()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(UsageTable::load(&paths).get("t1").use_count, 200);
    }

    #[test]
    fn client_names_are_cleaned() {
        assert_eq!(clean_client("docker"), "docker");
        assert_eq!(clean_client("\u{1b}[31mevil\n"), "[31mevil");
        assert_eq!(clean_client(""), "unknown");
    }
}
