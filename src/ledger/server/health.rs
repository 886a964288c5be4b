//! What `doctor` checks on the server: every address answers and is
//! unsealed, the client token is accepted, the mount is KV version 2, what
//! the policy allows under the prefix, and each token: deleted or destroyed
//! by hand, or with a record left behind by a change cut off half-way. Each
//! finding says what to do.

use serde::Deserialize;
use serde_json::Value;

use super::ServerLedger;
use crate::finding::Finding;
use crate::http::Method;
use crate::ledger::Ledger as _;
use crate::openbao::OpenBaoError;

const CHECK: &str = "openbao";

impl ServerLedger {
    /// What `doctor` has to say about the server: its findings, most basic first.
    pub(crate) fn health(&self) -> Vec<Finding> {
        check(self)
    }

    /// The token names, or none when they may not be listed.
    fn begin_walk(&self) -> Vec<crate::names::TokenName> {
        self.begin()
            .ok()
            .and_then(|mut edit| edit.names().ok())
            .unwrap_or_default()
    }
}

fn check(ledger: &ServerLedger) -> Vec<Finding> {
    let mut findings = Vec::new();
    let client = &ledger.client;
    let settings = &client.settings;
    client.start();
    let mut usable = 0;
    for address in &settings.addresses {
        let finding = match client.probe(address, "sys/health?standbyok=true&perfstandbyok=true") {
            Ok(answer) => match answer.status {
                200 => {
                    usable += 1;
                    Finding::ok(CHECK, format!("{address} answers and is unsealed"))
                }
                503 => Finding::problem(
                    CHECK,
                    format!("{address} is sealed"),
                    "unseal it: `bao operator unseal` with the key shares (as many times as the threshold)",
                ),
                501 => Finding::problem(
                    CHECK,
                    format!("{address} is not initialised"),
                    "initialise it (`bao operator init`) or join it to the cluster (`bao operator raft join`)",
                ),
                status => Finding::warn(
                    CHECK,
                    format!(
                        "{address} answers its health check with {status} ({})",
                        answer.message()
                    ),
                    "see the server's log",
                ),
            },
            Err(e) => Finding::problem(
                CHECK,
                format!("{address} cannot be reached: {e}"),
                "start the server, or fix [openbao] address in config.toml (or BAO_ADDR)",
            ),
        };
        findings.push(finding);
    }
    if usable == 0 {
        return findings;
    }
    client.start();
    match client.lookup_self() {
        Ok(answer) if answer.status == 200 => findings.push(Finding::ok(
            CHECK,
            describe_token(&answer.body, settings.login.method().name()),
        )),
        Ok(answer) => findings.push(Finding::problem(
            CHECK,
            format!("the client token is refused ({})", answer.message()),
            "log in again: `bao login`, or check the [openbao] auth settings",
        )),
        Err(e @ OpenBaoError::Auth { .. }) => {
            findings.push(Finding::problem(
                CHECK,
                e.to_string(),
                "fix the login, then run doctor again",
            ));
            return findings;
        }
        Err(e) => {
            findings.push(Finding::problem(CHECK, e.to_string(), "see the message"));
            return findings;
        }
    }
    client.start();
    findings.push(check_mount(ledger));
    client.start();
    findings.extend(check_capabilities(ledger));
    findings.extend(ledger.token_findings());
    findings
}

fn describe_token(body: &[u8], method: &str) -> String {
    #[derive(Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(default)]
        policies: Vec<String>,
        #[serde(default)]
        ttl: u64,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(body) => {
            let ttl = match body.data.ttl {
                0 => "does not expire".to_owned(),
                s => format!("expires in {}", crate::text::span(s)),
            };
            format!(
                "authenticated ({method}); the token's policies: {}; it {ttl}",
                body.data.policies.join(", ")
            )
        }
        Err(_) => format!("authenticated ({method})"),
    }
}

fn check_mount(ledger: &ServerLedger) -> Finding {
    let mount = &ledger.client.settings.mount;
    let fix = format!(
        "enable it: `bao secrets enable -path={mount} kv-v2`, or set mount in [openbao] to your KV version 2 mount"
    );
    let path = format!("sys/internal/ui/mounts/{mount}");
    let answer = match ledger.client.call(Method::Get, &path, None) {
        Ok(answer) => answer,
        Err(e) => return Finding::problem(CHECK, e.to_string(), fix),
    };
    if answer.status != 200 {
        return Finding::problem(
            CHECK,
            format!(
                "the mount {mount}/ is not there, or this token may not see it ({} {})",
                answer.status,
                answer.message()
            ),
            fix,
        );
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let data = &body["data"];
    let kind = data["type"].as_str().unwrap_or("?");
    let version = data["options"]["version"].as_str().unwrap_or("1");
    if kind == "kv" && version == "2" {
        Finding::ok(CHECK, format!("{mount}/ is a KV version 2 mount"))
    } else {
        Finding::problem(
            CHECK,
            format!("{mount}/ is a {kind} mount (version {version}), not KV version 2"),
            fix,
        )
    }
}

fn check_capabilities(ledger: &ServerLedger) -> Vec<Finding> {
    let settings = &ledger.client.settings;
    let base = format!("{}/data/{}", settings.mount, settings.prefix);
    let list_path = format!("{}/metadata/{}/", settings.mount, settings.prefix);
    let uses_path = format!("{base}/@uses/check");
    let names = ledger.begin_walk();
    let mut paths: Vec<String> = vec![list_path.clone(), uses_path.clone()];
    paths.extend(names.iter().map(|n| ledger.path_of(n)));
    let body = serde_json::to_vec(&serde_json::json!({ "paths": paths })).expect("JSON");
    let answer = match ledger.client.call(
        Method::Post,
        "sys/capabilities-self",
        Some(("application/json", &body)),
    ) {
        Ok(answer) if answer.status == 200 => answer,
        Ok(answer) => {
            return vec![Finding::warn(
                CHECK,
                format!(
                    "the server does not say what the policy allows ({} {})",
                    answer.status,
                    answer.message()
                ),
                "nothing to do if get works; otherwise ask the admin which paths the policy covers",
            )];
        }
        Err(e) => return vec![Finding::warn(CHECK, e.to_string(), "see the message")],
    };
    let caps: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let allowed = |path: &str, capability: &str| {
        let list = caps["data"][path]
            .as_array()
            .or_else(|| caps[path].as_array());
        list.is_some_and(|l| {
            l.iter()
                .any(|c| c.as_str() == Some(capability) || c.as_str() == Some("root"))
        })
    };
    let mut findings = Vec::new();
    if allowed(&list_path, "list") {
        findings.push(Finding::ok(
            CHECK,
            format!("the policy allows listing {list_path}"),
        ));
    } else {
        findings.push(Finding::warn(
            CHECK,
            format!("the policy does not allow listing {list_path}, so `list` and `tokens` show nothing from the server"),
            format!("`get` still works; for the rest, grant `list` on {list_path}*"),
        ));
    }
    let readable: Vec<String> = names
        .iter()
        .filter(|n| allowed(&ledger.path_of(n), "read"))
        .map(ToString::to_string)
        .collect();
    let writable = names
        .iter()
        .filter(|n| allowed(&ledger.path_of(n), "update"))
        .count();
    if !names.is_empty() {
        findings.push(Finding::ok(
            CHECK,
            format!(
                "the policy allows reading {} of the {} token(s) on the server{} and changing {writable}",
                readable.len(),
                names.len(),
                if readable.is_empty() { String::new() } else { format!(" ({})", readable.join(", ")) }
            ),
        ));
    }
    if !allowed(&uses_path, "create") || !allowed(&uses_path, "update") {
        findings.push(Finding::warn(
            CHECK,
            "the policy does not allow reporting uses, so other machines do not see when this one used a token",
            format!("grant `create`, `read` and `update` on {base}/@uses/*"),
        ));
    }
    findings
}
