//! The Windows build of the helper, run through Wine against Wine's own
//! Credential Manager (CredWriteW, CredReadW, CredDeleteW, CredEnumerateW).
//!
//! tests/wine.sh builds the executable, prepares a Wine prefix with a
//! persistent wineserver (so each call takes about 0.1 s, not a Wine start-up)
//! and names both in DOCKER_PAT_WINDOWS_EXE and WINEPREFIX.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use super::{cannot_run, spawn_with_input, wait_with_timeout};

/// The Windows executable and the prefix it runs in.
pub struct Wine {
    pub exe: PathBuf,
    pub prefix: PathBuf,
}

impl Wine {
    /// The build tests/wine.sh made; `None` when the tests run without it, after
    /// [`cannot_run`] has recorded the test as not run (under `CI` it fails it).
    pub fn from_env() -> Option<Self> {
        let exe = std::env::var_os("DOCKER_PAT_WINDOWS_EXE").map(PathBuf::from);
        let prefix = std::env::var_os("WINEPREFIX").map(PathBuf::from);
        match (exe, prefix) {
            (Some(exe), Some(prefix)) if exe.is_file() && prefix.is_dir() => {
                Some(Self { exe, prefix })
            }
            _ => {
                cannot_run(
                    "no Windows build; tests/wine.sh builds it and runs these tests under Wine",
                );
                None
            }
        }
    }

    /// A fresh data folder and Docker config folder, in this prefix.
    pub fn env(&self) -> WineEnv<'_> {
        let root = tempfile::tempdir().unwrap();
        for d in ["pat", "docker"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        WineEnv {
            wine: self,
            root,
            vars: Vec::new(),
        }
    }

    /// `wine reg export` of the Credential Manager's registry key, as text.
    pub fn credential_registry(&self) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials.reg");
        let mut command = self.command("reg");
        command.args([
            "export",
            r"HKCU\Software\Wine\Credential Manager",
            &windows_path(&file),
            "/y",
        ]);
        let output = run(command, "", "wine reg export");
        assert!(output.status.success(), "wine reg export failed");
        let bytes = std::fs::read(&file).unwrap();
        // regedit writes UTF-16 with a byte-order mark.
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("wine");
        command
            .arg(program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("NO_COLOR", "1");
        command
    }
}

/// One data folder of the Windows helper.
pub struct WineEnv<'a> {
    pub wine: &'a Wine,
    pub root: TempDir,
    pub vars: Vec<(String, String)>,
}

impl WineEnv<'_> {
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        super::set_var(&mut self.vars, key, value);
        self
    }

    pub fn pat_home(&self) -> PathBuf {
        self.root.path().join("pat")
    }

    /// The helper with this data folder, given as Windows paths (Z: is /).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.wine.command(self.wine.exe.to_str().unwrap());
        command
            .args(args)
            .env("DOCKER_PAT_HOME", windows_path(&self.pat_home()))
            .env(
                "DOCKER_CONFIG",
                windows_path(&self.root.path().join("docker")),
            );
        for (k, v) in &self.vars {
            command.env(k, v);
        }
        command
    }

    pub fn run(&self, args: &[&str], input: &str) -> Output {
        self.run_with(args, input, &[])
    }

    /// Like [`WineEnv::run`], with extra variables.
    pub fn run_with(&self, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        for (key, value) in vars {
            command.env(key, value);
        }
        run(command, input, &format!("wine helper {args:?}"))
    }

    /// `store` through the protocol.
    pub fn store(&self, server: &str, user: &str, secret: &str) -> Output {
        self.run(&["store"], &super::store_request(server, user, secret))
    }
}

/// Wine maps the Unix root to drive Z:.
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn run(command: Command, input: &str, what: &str) -> Output {
    let (child, writer) = spawn_with_input(command, input, what);
    let output = wait_with_timeout(child, Duration::from_secs(90), what);
    let _ = writer.join();
    output
}
