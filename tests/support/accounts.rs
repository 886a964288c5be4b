//! A registry with two htpasswd accounts, alice and bob, whose own debug log
//! says which account each request came as; and clients run in a directory.
//!
//! ```ignore
//! let registry = Accounts::start();
//! let mark = registry.mark();
//! env.client_in(&dir, "skopeo", &["copy", …], "");
//! assert_eq!(registry.users_since(mark), ["alice"]);
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{Env, PAT, PAT2, Registry, bin_dir, require_tool, run_with_input};

pub const ALICE: &str = "alice";
pub const BOB: &str = "bob";

/// The local registry where alice's password is [`PAT`] and bob's [`PAT2`].
pub struct Accounts {
    pub registry: Registry,
    log: PathBuf,
}

impl Accounts {
    pub fn start() -> Self {
        require_tool("docker-registry", "docker-registry");
        require_tool("htpasswd", "apache2-utils");
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = dir.path().join("htpasswd");
        for (i, (user, password)) in [(ALICE, PAT), (BOB, PAT2)].into_iter().enumerate() {
            let flags = if i == 0 { "-iBc" } else { "-iB" };
            let mut child = Command::new("htpasswd")
                .args([flags, htpasswd.to_str().unwrap(), user])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(password.as_bytes()).unwrap();
            drop(stdin);
            assert!(child.wait().unwrap().success(), "htpasswd {user}");
        }
        let log = dir.path().join("registry.log");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        );
        let registry = Registry::serve_with(dir, &auth, Some(&log));
        Self { registry, log }
    }

    pub fn host(&self) -> &str {
        &self.registry.host
    }

    /// Where the log ends now.
    pub fn mark(&self) -> usize {
        std::fs::read(&self.log).map(|b| b.len()).unwrap_or(0)
    }

    /// The accounts the registry logged requests as since `mark`, each once, in order.
    pub fn users_since(&self, mark: usize) -> Vec<String> {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned();
        let mut users: Vec<String> = Vec::new();
        for field in text.split_whitespace() {
            if let Some(user) = field.strip_prefix("auth.user.name=") {
                let user = user.trim_matches('"').to_owned();
                if !users.contains(&user) {
                    users.push(user);
                }
            }
        }
        users
    }
}

impl Env {
    /// A folder under the test's HOME (`~/work/app`), made if missing.
    pub fn home_dir(&self, relative: &str) -> PathBuf {
        let dir = self.home().join(relative);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs a client program from `dir`, as a person in that directory would
    /// (`PWD` set as a shell sets it), with the helper first on PATH.
    pub fn client_in(&self, dir: &Path, program: &str, args: &[&str], input: &str) -> Output {
        let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();
        let mut command = self.command(program);
        command
            .env("PATH", path)
            .env("PWD", dir)
            .current_dir(dir)
            .args(args);
        run_with_input(command, input, program)
    }
}
