//! Real parts for the integration tests: a private D-Bus session with GNOME
//! Keyring, a distribution registry with htpasswd auth on 127.0.0.1, and a
//! clean environment for running the built helper.
//!
//! Every test gets its own daemons and folders, killed and removed on drop,
//! so tests run in parallel without seeing each other's secrets.

#![allow(dead_code)]

pub mod github;
pub mod gitlab;
pub mod http_double;
pub mod hub;
pub mod registry_auth;
// The registry with two accounts that the selection rules choose between.
pub mod accounts;
// Only the Linux-only test modules run programs in a terminal.
#[cfg(target_os = "linux")]
pub mod terminal;

#[cfg(target_os = "linux")]
pub use terminal::Terminal;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

#[cfg(target_os = "linux")]
pub mod faultproxy;
#[cfg(target_os = "linux")]
pub mod github_setup;
#[cfg(target_os = "linux")]
pub mod gitlab_setup;
#[cfg(target_os = "linux")]
pub mod hub_setup;
#[cfg(target_os = "linux")]
pub mod killpoints;
#[cfg(target_os = "linux")]
pub mod openbao;
#[cfg(target_os = "linux")]
pub mod readme;
#[cfg(target_os = "linux")]
pub mod request_faults;
#[cfg(target_os = "linux")]
pub mod wine;
#[cfg(target_os = "linux")]
pub mod wire;

pub const BIN: &str = env!("CARGO_BIN_EXE_docker-credential-pat");
pub const PAT: &str = "dckr_pat_abcdefghijklmnopqrstuvwxyz0";
pub const PAT2: &str = "dckr_pat_ZYXWVUTSRQPONMLKJIHGFEDCBA9";

/// The folder where tests and scripts that could not run say so, one file each
/// (`<target>/not-run/`); tests/run.sh empties it first and lists it last.
pub fn not_run_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target folder")
        .join("not-run")
}

/// Says that the running test cannot run here, and why; the caller then returns.
///
/// Under CI (`CI` set) it fails the test instead: CI must run every test. Elsewhere
/// it records the test's name and the reason in a file under [`not_run_dir`], so that
/// tests/run.sh ends with "Passed, but K checks did not run" and names it; cargo alone
/// hides what a passing test prints, so the record is what counts. Shell scripts
/// record theirs the same way (tests/not-run.sh).
#[track_caller]
pub fn cannot_run(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("an unnamed test");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run here, and CI must run every test: {why}"
    );
    eprintln!("\n*** NOT RUN: {test}: {why} ***\n");
    let dir = not_run_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The name on the first line, why on the second (tests/run.sh reads them so).
    let why = why.replace('\n', " ");
    std::fs::write(dir.join(file), format!("test {test}\n{why}\n")).unwrap();
}

/// Fails the test with an installation hint when a tool is missing.
pub fn require_tool(tool: &str, package: &str) {
    assert!(
        which(tool).is_some(),
        "{tool} is not installed: run `apt-get install {package}` (tests/run.sh installs everything)"
    );
}

/// Where `tool` is on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not become ready within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The item every keyring here starts with, beside ours (its own `service`, so the
/// helper never sees it): a search that cannot find it cannot be trusted to say
/// that something is not there.
const CONTROL_SERVICE: &str = "docker-credential-pat-test-control";
const CONTROL_SECRET: &str = "test-control-secret-Qm4Zr8";

/// A private D-Bus session bus running GNOME Keyring's Secret Service, unlocked.
pub struct SecretService {
    pub dir: TempDir,
    pub address: String,
    dbus: Child,
    keyring: std::sync::Mutex<Option<Child>>,
}

impl SecretService {
    pub fn start() -> Self {
        let service = Self::bus_only();
        service.start_keyring();
        service
    }

    /// A session bus with no Secret Service on it.
    pub fn bus_only() -> Self {
        require_tool("dbus-daemon", "dbus");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let config = dir.path().join("session.conf");
        // No service activation: a missing keyring must stay missing.
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>{address}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>"
            ),
        )
        .unwrap();
        let dbus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        wait_until("dbus-daemon", Duration::from_secs(10), || socket.exists());
        Self {
            dir,
            address,
            dbus,
            keyring: std::sync::Mutex::new(None),
        }
    }

    pub fn start_keyring(&self) {
        require_tool("gnome-keyring-daemon", "gnome-keyring");
        let home = self.dir.path().join("home");
        let runtime = self.dir.path().join("run");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).unwrap();
            #[cfg(unix)]
            set_mode(d, 0o700);
        }
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        // The password that creates and unlocks the login keyring.
        keyring
            .stdin
            .take()
            .unwrap()
            .write_all(b"test-keyring-password\n")
            .unwrap();
        *self.keyring.lock().unwrap() = Some(keyring);
        let address = self.address.clone();
        wait_until("the Secret Service", Duration::from_secs(20), || {
            secrets_name_owned(&address)
        });
        self.plant_control();
    }

    /// Stops the keyring daemon (the bus stays).
    pub fn stop_keyring(&self) {
        if let Some(mut child) = self.keyring.lock().unwrap().take() {
            kill(&mut child);
        }
    }

    pub fn keyring_pid(&self) -> Option<u32> {
        self.keyring.lock().unwrap().as_ref().map(Child::id)
    }

    /// Starts the keyring again from its file if it has exited; returns whether it had.
    ///
    /// GNOME Keyring 42 aborts when a client disappears while its `OpenSession`
    /// is still queued (syslog: "plain_negotiate: assertion 'session' failed"),
    /// which the kill tests provoke on purpose; on a desktop, D-Bus activation
    /// restarts it the same way.
    pub fn revive_if_crashed(&self) -> bool {
        if self.keyring_pid().is_none() {
            return false;
        }
        // The keyring aborts while handling what a dead client left queued. A new
        // client's request is handled after that, so once one has been answered
        // (or refused) the keyring's fate is settled.
        let answered = Command::new("secret-tool")
            .args(["search", "service", "docker-credential-pat-liveness"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(if answered { 0 } else { 5 });
        let exited = loop {
            let mut keyring = self.keyring.lock().unwrap();
            if let Some(Ok(Some(_))) = keyring.as_mut().map(|child| child.try_wait()) {
                keyring.take();
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            drop(keyring);
            std::thread::sleep(Duration::from_millis(20));
        };
        if exited {
            self.start_keyring();
        }
        exited
    }

    /// Every item of ours, as `secret-tool search --all` shows it, one `key = value`
    /// line each (attributes prefixed `attribute.`), for messages and snapshots.
    pub fn dump(&self) -> String {
        let mut text = String::new();
        for item in self.items() {
            text.push_str("[item]\n");
            for (key, value) in item {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    }

    /// True when the Secret Service holds `secret` in any of our items.
    ///
    /// `false` is proven, not assumed: the search must succeed and must see the
    /// control item every keyring here starts with (see [`SecretService::items`]).
    pub fn holds(&self, secret: &str) -> bool {
        self.items()
            .iter()
            .any(|item| item.get("secret").map(String::as_str) == Some(secret))
    }

    /// Every item of ours: its attributes, plus `secret` and `label`, as `secret-tool` shows them.
    ///
    /// A search that fails (no bus, no keyring, a locked collection) fails the test,
    /// and so does one that does not find the control item planted when the keyring
    /// started (same tool, same collection, same parsing): an empty answer then
    /// really means that nothing of ours is there.
    pub fn items(&self) -> Vec<std::collections::BTreeMap<String, String>> {
        let control = self.search(CONTROL_SERVICE);
        assert!(
            control
                .iter()
                .any(|item| item.get("secret").map(String::as_str) == Some(CONTROL_SECRET)),
            "the keyring search does not see the control item the keyring started with, \
             so it cannot say what the keyring does not hold: {control:?}"
        );
        self.search("docker-credential-pat")
    }

    /// The items whose `service` attribute is `service`, through `secret-tool`;
    /// fails the test when secret-tool fails.
    fn search(&self, service: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        require_tool("secret-tool", "libsecret-tools");
        // secret-tool prints attributes on stderr; one pipe for both keeps each item together.
        let output = Command::new("sh")
            .args([
                "-c",
                "secret-tool search --all --unlock service \"$1\" 2>&1",
                "sh",
                service,
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "secret-tool search failed ({:?}), so nothing can be said about what the keyring holds: {}",
            output.status.code(),
            stdout(&output)
        );
        let mut items = Vec::new();
        let mut current: Option<std::collections::BTreeMap<String, String>> = None;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if line.starts_with('[') {
                items.extend(current.take());
                current = Some(Default::default());
            } else if let (Some(item), Some((key, value))) =
                (current.as_mut(), line.split_once(" = "))
            {
                let key = key.trim().trim_start_matches("attribute.");
                item.insert(key.to_owned(), value.to_owned());
            }
        }
        items.extend(current);
        items
    }

    /// Plants the control item [`SecretService::items`] must see.
    fn plant_control(&self) {
        let mut command = Command::new("secret-tool");
        command
            .args([
                "store",
                "--label=test control",
                "service",
                CONTROL_SERVICE,
                "username",
                "control",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        let output = run_with_input(command, CONTROL_SECRET, "secret-tool store");
        assert!(
            output.status.success(),
            "secret-tool could not plant the control item: {}",
            stderr(&output)
        );
    }

    /// Suspends (`STOP`) or resumes (`CONT`) the keyring daemon, to make it stop answering.
    pub fn signal_keyring(&self, signal: &str) {
        let pid = self.keyring_pid().expect("the keyring is running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    pub fn item_count(&self) -> usize {
        self.items().len()
    }
}

fn secrets_name_owned(address: &str) -> bool {
    Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
        .unwrap_or(false)
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.stop_keyring();
        kill(&mut self.dbus);
    }
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Debian's distribution registry on a free loopback port, with one htpasswd user.
pub struct Registry {
    pub dir: TempDir,
    pub host: String,
    child: Child,
}

pub const REGISTRY_USER: &str = "alice";

/// Where the helper finds GitHub's API in every test that names none: a
/// loopback port nothing listens on, so a check fails at once, here.
pub const CLOSED_GITHUB_API: &str = "http://127.0.0.1:9";

impl Registry {
    /// Starts a registry where `alice` authenticates with `password`.
    pub fn start(password: &str) -> Self {
        require_tool("docker-registry", "docker-registry");
        require_tool("htpasswd", "apache2-utils");
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = dir.path().join("htpasswd");
        let mut child = Command::new("htpasswd")
            .args(["-iBc", htpasswd.to_str().unwrap(), REGISTRY_USER])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "htpasswd failed");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        );
        Self::serve(dir, &auth)
    }

    /// Starts a registry with the given `auth:` section of its configuration.
    pub fn start_with_auth(auth: &str) -> Self {
        require_tool("docker-registry", "docker-registry");
        Self::serve(tempfile::tempdir().unwrap(), auth)
    }

    fn serve(dir: TempDir, auth: &str) -> Self {
        Self::serve_with(dir, auth, None)
    }

    /// Serves with `log`, when given, receiving the registry's debug log,
    /// which names the user of every authenticated request.
    pub(crate) fn serve_with(dir: TempDir, auth: &str, log: Option<&Path>) -> Self {
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: {}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                if log.is_some() { "debug" } else { "error" },
                dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let child = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start docker-registry");
        wait_until("docker-registry", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self {
            dir,
            host: format!("127.0.0.1:{port}"),
            child,
        }
    }

    /// Writes `path`: an authfile (Docker's config.json format) holding the login
    /// `user:secret` for this registry in clear, for a client to use with no helper.
    pub fn plaintext_authfile(&self, path: &Path, user: &str, secret: &str) {
        let auth = base64(format!("{user}:{secret}").as_bytes());
        std::fs::write(
            path,
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                self.host
            ),
        )
        .unwrap();
    }

    /// Pushes a small image to `reference` with skopeo, logged in by a plaintext
    /// authfile of its own: no helper involved.
    pub fn push_with_plaintext(&self, user: &str, password: &str, reference: &str) {
        let scratch = tempfile::tempdir().unwrap();
        let authfile = scratch.path().join("auth.json");
        self.plaintext_authfile(&authfile, user, password);
        let layout = scratch.path().join("image");
        make_oci_layout(&layout);
        let env = Env::without_keychain();
        ok(&env.skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            authfile.to_str().unwrap(),
            &format!("oci:{}:latest", layout.display()),
            &format!("docker://{reference}"),
        ]));
    }

    /// The HTTP status of `GET /v2/` with basic auth `user:secret`.
    pub fn status_with(&self, user: &str, secret: &str) -> u16 {
        let mut stream = TcpStream::connect(&self.host).unwrap();
        let auth = base64(format!("{user}:{secret}").as_bytes());
        write!(
            stream,
            "GET /v2/ HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\r\n",
            self.host
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(&mut stream).read_line(&mut line).unwrap();
        line.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A loopback port for a server this test starts, kept from every other test.
///
/// Taken below the kernel's ephemeral range (from 32768 unless set lower), so
/// no connection made meanwhile can be given it as its local port, and
/// claimed with a lock file that this test process holds until it exits, so
/// no test running beside it is handed the same one. A port something already
/// listens on is skipped. The empty lock files stay: removing one would let
/// two tests claim its port.
pub fn free_port() -> u16 {
    #[cfg(unix)]
    fn user() -> String {
        rustix::process::getuid().as_raw().to_string()
    }
    #[cfg(not(unix))]
    fn user() -> String {
        std::env::var("USERNAME").unwrap_or_default()
    }
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    const FIRST: u32 = 20_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let count = ephemeral.clamp(FIRST + 1_000, 32_768) - FIRST;
    let dir = std::env::temp_dir().join(format!("docker-credential-pat-test-ports-{}", user()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    let mut held = HELD.lock().unwrap();
    for step in 0..count {
        let port = u16::try_from(FIRST + (seed % count + step) % count).unwrap();
        let Ok(lock) = std::fs::File::create(dir.join(format!("{port}.lock"))) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            held.push(lock);
            return port;
        }
    }
    panic!(
        "no free loopback port between {FIRST} and {}",
        FIRST + count - 1
    );
}

pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sets `key` to `value` in a list of environment variables, in place of any earlier value.
pub fn set_var(vars: &mut Vec<(String, String)>, key: &str, value: &str) {
    vars.retain(|(k, _)| k != key);
    vars.push((key.into(), value.into()));
}

/// A clean environment for the helper: private data folder, Docker config and HOME.
pub struct Env {
    pub root: TempDir,
    pub bus: Option<String>,
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// An environment using `service` as its keychain.
    pub fn new(service: &SecretService) -> Self {
        let mut env = Self::without_keychain();
        env.bus = Some(service.address.clone());
        env
    }

    /// An environment with no D-Bus session at all.
    pub fn without_keychain() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["pat", "docker", "home"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        // As the helper makes its own data folder: private to its owner.
        #[cfg(unix)]
        set_mode(&root.path().join("pat"), 0o700);
        Self {
            root,
            bus: None,
            vars: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        set_var(&mut self.vars, key, value);
        self
    }

    pub fn pat_home(&self) -> PathBuf {
        self.root.path().join("pat")
    }

    /// `2fa enable --username USER [--registry REGISTRY]`.
    pub fn enable_two_factor(&self, user: &str, registry: Option<&str>) {
        let mut args = vec!["2fa", "enable", "--username", user];
        args.extend(registry.iter().flat_map(|r| ["--registry", r]));
        ok(&self.run(&args, ""));
    }

    fn paths(&self) -> docker_credential_pat::config::Paths {
        docker_credential_pat::config::Paths {
            config_dir: self.pat_home(),
            data_dir: self.pat_home(),
        }
    }

    /// The index file that holds `registry`'s record.
    pub fn index_file_of(&self, registry: &str) -> PathBuf {
        let registry = docker_credential_pat::registry::Registry::parse(registry).unwrap();
        docker_credential_pat::index::registry_file(&self.paths(), &registry)
    }

    /// Every index file with its bytes, to see whether anything at all changed.
    pub fn index_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = vec![self.pat_home().join("index.json")];
        // Bucket files only: a killed writer may leave a temp file beside them.
        let bucket = |name: &str| {
            name.strip_suffix(".json")
                .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        // A file or folder that is not there is not part of the index; one that
        // cannot be read fails the test rather than being left out of the comparison.
        let absent = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        match std::fs::read_dir(self.pat_home().join("index")) {
            Ok(entries) => files.extend(
                entries
                    .map(|e| e.expect("list the index folder"))
                    .filter(|e| bucket(&e.file_name().to_string_lossy()))
                    .map(|e| e.path()),
            ),
            Err(e) if absent(&e) => {}
            Err(e) => panic!("cannot list the index folder: {e}"),
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|path| match std::fs::read(&path) {
                Ok(bytes) => Some((path, bytes)),
                Err(e) if absent(&e) => None,
                Err(e) => panic!("cannot read {}: {e}", path.display()),
            })
            .collect()
    }

    /// The whole index as one JSON value: `registries` and `retired` of every file.
    pub fn index_json(&self) -> serde_json::Value {
        let mut registries = serde_json::Map::new();
        let mut retired = Vec::new();
        for (_, bytes) in self.index_bytes() {
            let part: serde_json::Value =
                serde_json::from_slice(&bytes).expect("the index is never corrupt");
            if let Some(found) = part["registries"].as_object() {
                registries.extend(found.clone());
            }
            if let Some(found) = part["retired"].as_array() {
                retired.extend(found.iter().cloned());
            }
        }
        let mut whole = serde_json::json!({ "registries": registries });
        if !retired.is_empty() {
            whole["retired"] = retired.into();
        }
        whole
    }

    pub fn docker_config(&self) -> PathBuf {
        self.root.path().join("docker")
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// A command with only the variables the helper should see.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("DOCKER_PAT_HOME", self.pat_home())
            .env("DOCKER_CONFIG", self.docker_config())
            // No test reaches the real GitHub: a ghcr.io token stored is checked
            // at a closed loopback port unless a test points this at its double.
            .env("DOCKER_PAT_GITHUB_API", CLOSED_GITHUB_API)
            .env("NO_COLOR", "1");
        if let Some(bus) = &self.bus {
            command.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        for (k, v) in &self.vars {
            command.env(k, v);
        }
        command
    }

    /// Runs the helper with `args`, feeding `input` on stdin.
    pub fn run(&self, args: &[&str], input: &str) -> Output {
        self.run_program(BIN, args, input)
    }

    pub fn run_program(&self, program: &str, args: &[&str], input: &str) -> Output {
        let mut command = self.command(program);
        command.args(args);
        run_with_input(command, input, program)
    }

    /// `store` through the protocol.
    pub fn store(&self, server: &str, user: &str, secret: &str) -> Output {
        self.run(&["store"], &store_request(server, user, secret))
    }

    /// `get` through the protocol; returns stdout.
    pub fn get(&self, server: &str) -> Output {
        self.run(&["get"], server)
    }

    /// Docker's config.json as it is now; a missing or unreadable file fails the test.
    pub fn config_json(&self) -> String {
        let path = self.docker_config().join("config.json");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    pub fn write_config_toml(&self, text: &str) {
        std::fs::write(self.pat_home().join("config.toml"), text).unwrap();
    }
}

/// Runs `command` with `input` on stdin, within two minutes.
pub fn run_with_input(command: Command, input: impl AsRef<[u8]>, what: &str) -> Output {
    let (child, writer) = spawn_with_input(command, input, what);
    let output = wait_with_timeout(child, Duration::from_secs(120), what);
    let _ = writer.join();
    output
}

/// Starts `command` and feeds `input` to its stdin from a thread (so a large
/// input cannot block on a full pipe); the caller waits for the child.
pub fn spawn_with_input(
    mut command: Command,
    input: impl AsRef<[u8]>,
    what: &str,
) -> (Child, std::thread::JoinHandle<()>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    (child, writer)
}

/// Waits for a child, killing it (and failing) if it runs past `timeout`.
pub fn wait_with_timeout(mut child: Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            kill(&mut child);
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success, showing the output otherwise.
#[track_caller]
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts exit status 1 and returns stdout.
#[track_caller]
pub fn fails(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected exit 1\nstdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// What the protocol's `get` and `erase` answer on stdout for a registry with no token.
pub const NOT_FOUND: &str = "credentials not found in native keychain\n";

/// Asserts the protocol's "not found": exit status 1 and [`NOT_FOUND`] on stdout.
#[track_caller]
pub fn not_found(output: &Output) {
    assert_eq!(fails(output), NOT_FOUND, "{}", stderr(output));
}

/// The first line of stdout that contains `needle`; fails the test when none does.
#[track_caller]
pub fn line_with(output: &Output, needle: &str) -> String {
    let text = stdout(output);
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}{}", stderr(output)))
        .to_owned()
}

/// The keys of a JSON object, in their order.
pub fn keys_of(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// A command line's words, split at spaces: `&words("hub create --integration ci")`.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `add REGISTRY --username USER --integration INTEGRATION`, the secret on stdin.
pub fn add_args<'a>(registry: &'a str, user: &'a str, integration: &'a str) -> [&'a str; 6] {
    [
        "add",
        registry,
        "--username",
        user,
        "--integration",
        integration,
    ]
}

/// The JSON `store` reads.
pub fn store_request(server: &str, user: &str, secret: &str) -> String {
    format!("{{\"ServerURL\":\"{server}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\n")
}

pub fn get_reply(server: &str, user: &str, secret: &str) -> String {
    format!("{{\"ServerURL\":\"{server}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\n")
}

/// Every file under `dir` (a link counts as a file; links to folders are not
/// followed), for searching for secrets. A folder or entry that cannot be read
/// fails the test: passing over it would hide what it holds.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("cannot list {} to search it: {e}", d.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
            let path = entry.path();
            let kind = entry
                .file_type()
                .unwrap_or_else(|e| panic!("cannot tell what {} is: {e}", path.display()));
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() || kind.is_symlink() {
                files.push(path);
            } else {
                panic!(
                    "{} is neither a file nor a folder; cannot search it",
                    path.display()
                );
            }
        }
    }
    files
}

/// The files under `dir` whose bytes contain `needle`; a file that cannot be read fails the test.
pub fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|file| {
            let bytes = std::fs::read(file)
                .unwrap_or_else(|e| panic!("cannot read {} to search it: {e}", file.display()));
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// Asserts that no file under `dir` contains `secret`.
///
/// First a control: a marker planted in `dir` must be found by the same search, so
/// a search that sees nothing cannot pass for a clean disk.
#[track_caller]
pub fn assert_not_on_disk(dir: &Path, secret: &str) {
    let control = dir.join(".not-on-disk-control");
    let marker = format!("not-on-disk control marker for {}", secret.len());
    std::fs::write(&control, &marker).unwrap();
    let found = files_holding(dir, marker.as_bytes());
    std::fs::remove_file(&control).unwrap();
    assert_eq!(
        found,
        std::slice::from_ref(&control),
        "the search of {} does not find exactly the marker planted in it",
        dir.display()
    );
    let found = files_holding(dir, secret.as_bytes());
    assert!(
        found.is_empty(),
        "the secret is on disk in: {}",
        found
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Whether nothing is at `path`. Only the file system's own "not found" counts as
/// absence (where `!path.exists()` takes any error for it), and `path`'s folder must
/// be there: a path in a folder that does not exist proves nothing.
#[track_caller]
pub fn absent(path: &Path) -> bool {
    let folder = path.parent().expect("a path with a folder");
    match std::fs::metadata(folder) {
        Ok(meta) if meta.is_dir() => {}
        other => panic!(
            "{} is not a folder ({other:?}), so whether {} is in it says nothing",
            folder.display(),
            path.display()
        ),
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => panic!("cannot tell whether {} exists: {e}", path.display()),
    }
}

/// The folder holding the built helper, to put first on PATH for Docker and skopeo.
pub fn bin_dir() -> PathBuf {
    Path::new(BIN).parent().unwrap().to_path_buf()
}

impl Env {
    /// Writes `$DOCKER_CONFIG/config.json` as given.
    pub fn write_config_json(&self, text: &str) {
        std::fs::write(self.docker_config().join("config.json"), text).unwrap();
    }

    /// Runs a client program (docker, skopeo…) that finds the helper on PATH.
    pub fn client(&self, program: &str, args: &[&str], input: &str) -> Output {
        self.client_with(&[], program, args, input)
    }

    /// [`Env::client`] with the folders `first` on PATH ahead of the helper's.
    pub fn client_with(
        &self,
        first: &[&Path],
        program: &str,
        args: &[&str],
        input: &str,
    ) -> Output {
        let dirs = first.iter().map(|d| d.to_path_buf()).chain([bin_dir()]);
        let path = std::env::join_paths(dirs.chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();
        let mut command = self.command(program);
        command.env("PATH", path).args(args);
        run_with_input(command, input, program)
    }

    /// The Docker CLI (client only; login, logout and manifest inspect need no daemon).
    pub fn docker(&self, args: &[&str], input: &str) -> Output {
        require_tool("docker", "docker.io (or Docker's CLI)");
        self.client("docker", args, input)
    }

    /// Docker with no credential helper at all: PATH holds nothing but the
    /// `docker` program, so Docker keeps logins in config.json itself instead
    /// of picking up whatever helper (`pass`, `secretservice`) the machine has.
    pub fn docker_plain(&self, args: &[&str], input: &str) -> Output {
        require_tool("docker", "docker.io (or Docker's CLI)");
        let docker = which("docker").expect("docker is on PATH");
        let bin = self.root.path().join("docker-only-bin");
        if !bin.exists() {
            std::fs::create_dir_all(&bin).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&docker, bin.join("docker")).unwrap();
            #[cfg(not(unix))]
            std::fs::copy(&docker, bin.join("docker")).unwrap();
        }
        let mut command = self.command(&docker.to_string_lossy());
        command.env("PATH", &bin).args(args);
        run_with_input(command, input, "docker")
    }

    /// `docker login HOST -u USER --password-stdin`.
    pub fn docker_login(&self, host: &str, user: &str, secret: &str) -> Output {
        self.docker(&["login", host, "-u", user, "--password-stdin"], secret)
    }

    /// `docker manifest inspect --insecure HOST/REPO:TAG`.
    pub fn docker_inspect(&self, reference: &str) -> Output {
        self.docker(&["manifest", "inspect", "--insecure", reference], "")
    }

    pub fn skopeo(&self, args: &[&str]) -> Output {
        require_tool("skopeo", "skopeo");
        self.client("skopeo", args, "")
    }

    /// Pushes a one-layer image to `reference` with skopeo, which reaches the helper
    /// through a `credHelpers` entry (skopeo does not read `credsStore`).
    pub fn push_small_image(&self, reference: &str) -> Output {
        let layout = self.root.path().join("image");
        make_oci_layout(&layout);
        let host = reference.split('/').next().unwrap();
        let auth = self.root.path().join("skopeo-auth.json");
        std::fs::write(&auth, format!("{{\"credHelpers\":{{\"{host}\":\"pat\"}}}}")).unwrap();
        let source = format!("oci:{}:latest", layout.display());
        let destination = format!("docker://{reference}");
        self.skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            auth.to_str().unwrap(),
            &source,
            &destination,
        ])
    }
}

/// A keyring, a registry where alice logs in with `password`, and an environment
/// whose Docker keeps every login with the helper (`credsStore`).
pub fn docker_setup(password: &str) -> (SecretService, Registry, Env) {
    let keyring = SecretService::start();
    let registry = Registry::start(password);
    let env = Env::new(&keyring);
    env.write_config_json("{\"credsStore\":\"pat\"}");
    (keyring, registry, env)
}

/// A keyring, and a data folder `doctor` finds healthy: private, Docker wired, the
/// helper on PATH.
pub fn healthy() -> (SecretService, Env) {
    let keyring = SecretService::start();
    let mut env = Env::new(&keyring);
    make_healthy(&mut env);
    (keyring, env)
}

/// Makes `env` a setup doctor finds healthy: private data folder, Docker wired, helper on PATH.
pub fn make_healthy(env: &mut Env) {
    #[cfg(unix)]
    set_mode(&env.pat_home(), 0o700);
    env.write_config_json("{\n\t\"credsStore\": \"pat\"\n}");
    put_helper_on_path(env);
}

/// Docker finds helpers on PATH; so does doctor's check.
pub fn put_helper_on_path(env: &mut Env) {
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    env.set("PATH", path.to_str().unwrap());
}

/// Writes a minimal OCI image layout (one empty layer) under `dir`.
pub fn make_oci_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let layer = gzip_empty_tar();
    let layer_digest = sha256_hex(&layer);
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]},"config":{}}"#;
    let config_digest = sha256_hex(config);
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:{config_digest}\",\"size\":{}}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{layer_digest}\",\"size\":{}}}]}}",
        config.len(),
        layer.len()
    );
    let manifest_digest = sha256_hex(manifest.as_bytes());
    std::fs::write(dir.join("blobs/sha256").join(&layer_digest), &layer).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&config_digest), config).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&manifest_digest), &manifest).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
             \"digest\":\"sha256:{manifest_digest}\",\"size\":{},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"latest\"}}}}]}}",
            manifest.len()
        ),
    )
    .unwrap();
}

/// An empty tar archive (two zero blocks), gzipped by the system's gzip.
fn gzip_empty_tar() -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(&[0u8; 1024]).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap().stdout;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The one error line of a failed command (exit 1), without the prefix.
#[track_caller]
pub fn error_line(output: &Output) -> String {
    fails(output);
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {text}");
    lines[0]
        .strip_prefix("docker-credential-pat: error: ")
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned()
}

/// `docker login` then `docker manifest inspect --insecure`, with Docker keeping
/// the login itself: true when both work, false when the registry refuses the
/// token. Any other failure fails the test, so a refusal is never assumed.
pub fn docker_login_reads(
    env: &Env,
    host: &str,
    repository: &str,
    user: &str,
    secret: &str,
) -> bool {
    let refused = |output: &Output| {
        let text = format!("{}{}", stdout(output), stderr(output)).to_lowercase();
        text.contains("unauthorized") || text.contains("denied")
    };
    let login = env.docker_plain(&["login", host, "-u", user, "--password-stdin"], secret);
    if !login.status.success() {
        assert!(
            refused(&login),
            "docker login failed, not as a refusal: {}",
            stderr(&login)
        );
        return false;
    }
    let reference = format!("{host}/{repository}:1");
    let inspected = env.docker_plain(&["manifest", "inspect", "--insecure", &reference], "");
    if !inspected.status.success() {
        assert!(
            refused(&inspected),
            "docker manifest inspect failed, not as a refusal: {}",
            stderr(&inspected)
        );
        return false;
    }
    assert!(
        stdout(&inspected).contains("schemaVersion"),
        "{}",
        stdout(&inspected)
    );
    true
}
