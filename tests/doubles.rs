//! The API doubles themselves (tests/support: Docker Hub's organisation
//! tokens, GitLab, GitHub, and the faults they share), driven over real HTTP
//! with a real client (ureq) and, for the registry side, through the Docker
//! CLI and skopeo against Debian's registry: what a double says is active is
//! exactly what the registry lets in.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::http_double::Event;
use crate::support::*;
// The name the doubles' own tests know it by.
use crate::support::docker_login_reads as docker_reads;

mod faults;
mod github;
mod gitlab;
mod hub;

/// One answer as a client saw it.
struct Reply {
    status: u16,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The sorted keys of a JSON object body.
    fn keys(&self) -> Vec<String> {
        keys(&self.json())
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Sends one request with ureq, as a client of the real API would.
fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Reply, ureq::Error> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .new_agent();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = agent.run(builder.body(body.as_bytes()).unwrap())?;
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(Reply {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string()?,
    })
}

#[track_caller]
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    send(method, url, headers, body, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Pushes a one-layer image to `host/repository:1` with skopeo, as `user`
/// with `secret` in an authfile of its own (no helper involved).
fn push(env: &Env, host: &str, repository: &str, user: &str, secret: &str) -> Output {
    let layout = env.root.path().join("image");
    if !layout.exists() {
        make_oci_layout(&layout);
    }
    let authfile = env.root.path().join("push-auth.json");
    let auth = base64(format!("{user}:{secret}").as_bytes());
    std::fs::write(
        &authfile,
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let output = env.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-authfile",
        authfile.to_str().unwrap(),
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{host}/{repository}:1"),
    ]);
    std::fs::remove_file(&authfile).unwrap();
    output
}

/// No event, and no `{:?}` of them, holds any of `secrets`.
#[track_caller]
fn assert_no_secret_in(events: &[Event], secrets: &[&str]) {
    let shown = format!("{events:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "a secret in the call log");
    }
}
