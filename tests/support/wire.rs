//! Real parts for TLS and proxy tests: a private certificate authority made
//! by `openssl`, and Debian's `tinyproxy` in the foreground with its own
//! configuration and log. The proxy resolves names through an `/etc/hosts` of
//! its own (a private mount namespace), so a name it knows is reachable only
//! through it: a request that skips the proxy cannot even find the host.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{free_port, kill, require_tool, wait_until};

/// A certificate authority of the test's own, and the server certificates it issues.
pub struct Ca {
    pub dir: TempDir,
    /// The CA certificate (PEM), for SSL_CERT_FILE or ca_file.
    pub cert: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    require_tool("openssl", "openssl");
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir.path(),
        );
        Self {
            cert: dir.path().join("ca.pem"),
            key: dir.path().join("ca.key"),
            dir,
        }
    }

    /// A server certificate and key for `names` (DNS names and IP addresses); their paths.
    pub fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let dir = self.dir.path();
        let key = format!("{file}.key");
        let csr = format!("{file}.csr");
        let cert = format!("{file}.pem");
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={}", names[0]),
            ],
            dir,
        );
        let san: Vec<String> = names
            .iter()
            .map(|n| {
                if n.parse::<std::net::IpAddr>().is_ok() {
                    format!("IP:{n}")
                } else {
                    format!("DNS:{n}")
                }
            })
            .collect();
        let ext = format!("{file}.ext");
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                self.cert.to_str().unwrap(),
                "-CAkey",
                self.key.to_str().unwrap(),
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
            dir,
        );
        (dir.join(cert), dir.join(key))
    }
}

/// tinyproxy on a loopback port, requiring a user and password, logging every
/// request to its own file, and resolving `hosts` (name → address) itself.
pub struct Tinyproxy {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
}

impl Tinyproxy {
    pub fn start(user: &str, password: &str, connect_port: u16, hosts: &[(&str, &str)]) -> Self {
        require_tool("tinyproxy", "tinyproxy");
        require_tool("unshare", "util-linux");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("tinyproxy.log");
        let config = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\n\
                 Allow 127.0.0.1\nBasicAuth {user} {password}\nConnectPort {connect_port}\nDisableViaHeader Yes\n",
                log.display()
            ),
        )
        .unwrap();
        let mut etc_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for (name, address) in hosts {
            etc_hosts.push_str(&format!("\n{address} {name}\n"));
        }
        let hosts_file = dir.path().join("hosts");
        std::fs::write(&hosts_file, etc_hosts).unwrap();
        // Its own /etc/hosts, in a mount namespace of its own: nothing else sees the names.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind '{}' /etc/hosts && exec tinyproxy -d -c '{}'",
                hosts_file.display(),
                config.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy");
        wait_until("tinyproxy", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self { dir, port, child }
    }

    /// Everything tinyproxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }

    /// The log once tinyproxy has stopped writing to it: it logs a request
    /// after answering it, so a count taken at once can miss the last one.
    pub fn settled_log(&self) -> String {
        let mut last = self.log();
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let now = self.log();
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("tinyproxy's log kept growing for 5 s");
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
