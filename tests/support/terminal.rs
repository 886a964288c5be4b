//! A real terminal for the tests that need one: tmux, on a server of its own.

use std::path::PathBuf;

use super::{Env, require_tool, stderr, stdout};

/// A terminal (tmux, on its own server) running one shell script, for the
/// prompts that read `/dev/tty` while stdin carries the protocol.
pub struct Terminal {
    socket: PathBuf,
    dir: PathBuf,
}

impl Terminal {
    /// Runs `script` in a new 200-column terminal; `script` sees the environment's variables.
    pub fn start(env: &Env, name: &str, script: &str) -> Self {
        Self::sized(env, name, script, 200, 50)
    }

    /// Runs `script` in a new terminal of `columns` × `rows`.
    pub fn sized(env: &Env, name: &str, script: &str, columns: u16, rows: u16) -> Self {
        require_tool("tmux", "tmux");
        let dir = env.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let exports: String = env
            .command("true")
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
            .map(|(k, v)| format!("export {k}='{v}'\n"))
            .collect();
        std::fs::write(
            dir.join("run.sh"),
            // The pane stays open after the script, for the last screen to be read.
            format!(
                "{exports}{script}\necho $? > '{}'\nexec sleep 60\n",
                dir.join("rc").display()
            ),
        )
        .unwrap();
        let terminal = Self {
            socket: dir.join("tmux.sock"),
            dir,
        };
        let run = format!("sh '{}'", terminal.dir.join("run.sh").display());
        let (columns, rows) = (columns.to_string(), rows.to_string());
        let started = terminal.tmux(&["new-session", "-d", "-x", &columns, "-y", &rows, &run]);
        assert!(started.status.success(), "{}", stderr(&started));
        terminal
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    pub fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p"]))
    }

    /// The screen with lines the terminal wrapped joined again, so a line
    /// wider than the terminal shows as one long line.
    pub fn joined_screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-J"]))
    }

    /// Waits until the screen shows `text` `count` times.
    pub fn wait_for(&self, text: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.screen().matches(text).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "waited for {text:?}; the screen shows:\n{}",
                self.screen()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The processes the script started (its children), as `(pid, command line)`.
    pub fn children(&self) -> Vec<(u32, String)> {
        let listed = self.tmux(&["list-panes", "-F", "#{pane_pid}"]);
        let shell: u32 = stdout(&listed).trim().parse().unwrap();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        // The fields after the command name, which may hold spaces.
                        let rest = &stat[stat.rfind(')')? + 2..];
                        rest.split(' ').nth(1)?.parse::<u32>().ok()
                    })
                    == Some(shell)
            })
            .filter_map(|pid| {
                let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
            })
            .collect()
    }

    pub fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
        self.tmux(&["send-keys", "Enter"]);
    }

    /// Waits for the script to end; returns its exit status and the final screen.
    pub fn finish(&self) -> (i32, String) {
        let rc = self.dir.join("rc");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !rc.exists() || std::fs::read_to_string(&rc).unwrap().trim().is_empty() {
            assert!(std::time::Instant::now() < deadline, "{}", self.screen());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let screen = self.screen();
        assert!(!screen.trim().is_empty(), "the terminal closed early");
        let code = std::fs::read_to_string(&rc)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (code, screen)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}
