//! A registry's token service, as the API doubles play it for Debian's
//! `docker-registry`, so that the local registry accepts exactly the tokens a
//! double holds as usable (old and new side by side during a rotation), and
//! each pull or login is a use the double records.
//!
//! The registry runs with token auth pointed at the double: a client's
//! `docker login` or pull makes the registry send it to the double's token
//! path with Basic credentials; the double decides who that is and which
//! actions on which repositories to grant, and [`TokenService::grant`] signs
//! the answer as an RS256 JWT with `openssl`, whose certificate the registry
//! trusts. (An htpasswd file holds one password per user, so it could not.)

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::http_double::{Answer, Incoming, new_uuid};
use super::{Registry, base64};

/// One `scope` a client asked the token service for: `repository:NAME:pull,push`.
pub struct Requested {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// The key and certificate one double signs with, made on the first registry.
pub struct TokenService {
    issuer: &'static str,
    service: &'static str,
    signer: Mutex<Option<Signer>>,
}

impl TokenService {
    pub fn new(issuer: &'static str, service: &'static str) -> Self {
        Self {
            issuer,
            service,
            signer: Mutex::new(None),
        }
    }

    /// Debian's registry, sending its clients to `realm` for tokens.
    pub fn start_registry(&self, realm: &str) -> Registry {
        let mut signer = self.signer.lock().unwrap();
        let signer = signer.get_or_insert_with(|| Signer::new(self.issuer));
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            self.service,
            self.issuer,
            signer.cert.display()
        );
        Registry::start_with_auth(&auth)
    }

    /// A 200 with a registry JWT for `subject`, granting of each requested
    /// scope the actions `allowed(repository, action)` permits.
    pub fn grant(
        &self,
        call: &Incoming,
        subject: &str,
        allowed: impl Fn(&str, &str) -> bool,
    ) -> Answer {
        let access: Vec<Value> = requested(call)
            .into_iter()
            .map(|scope| {
                let actions: Vec<&String> = scope
                    .actions
                    .iter()
                    .filter(|a| scope.kind == "repository" && allowed(&scope.name, a))
                    .collect();
                json!({"type": scope.kind, "name": scope.name, "actions": actions})
            })
            .collect();
        let signer = self.signer.lock().unwrap();
        let Some(signer) = signer.as_ref() else {
            return Answer::json(404, json!({"detail": "no registry here"}));
        };
        let token = signer.token(self.issuer, self.service, subject, Value::Array(access));
        Answer::json(
            200,
            json!({
                "token": token, "access_token": token, "expires_in": 300,
                "issued_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        )
    }
}

/// The Basic credentials of a call: (user, secret).
pub fn credentials(call: &Incoming) -> Option<(String, String)> {
    let encoded = call.header("authorization")?.strip_prefix("Basic ")?;
    let text = String::from_utf8(decode_base64(encoded.trim())?).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

/// The scopes a call asks for.
pub fn requested(call: &Incoming) -> Vec<Requested> {
    call.query("scope")
        .iter()
        .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|scope| {
            // The name may hold a port-less path; the actions are after the last colon.
            let (rest, actions) = scope.rsplit_once(':')?;
            let (kind, name) = rest.split_once(':')?;
            Some(Requested {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions: actions.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// True when `path` is `prefix` or below it (`team/app` is below `team`).
pub fn within(path: &str, prefix: &str) -> bool {
    let (path, prefix) = (path.to_ascii_lowercase(), prefix.to_ascii_lowercase());
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// The key and self-signed certificate the registry trusts, in a folder of their own.
struct Signer {
    _dir: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    /// The certificate, DER in standard base64, for the JWT's `x5c` header.
    x5c: String,
}

impl Signer {
    fn new(name: &str) -> Self {
        super::require_tool("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", &format!("/CN={name}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let der = std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(der.status.success());
        Self {
            x5c: base64(&der.stdout),
            _dir: dir,
            key,
            cert,
        }
    }

    /// An RS256 JWT granting `access`, as the registry's token auth expects.
    fn token(&self, issuer: &str, service: &str, subject: &str, access: Value) -> String {
        let now = Utc::now().timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]});
        let claims = json!({
            "iss": issuer, "sub": subject, "aud": service,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": new_uuid(), "access": access,
        });
        let signed = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut openssl = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        openssl
            .stdin
            .take()
            .unwrap()
            .write_all(signed.as_bytes())
            .unwrap();
        let signature = openssl.wait_with_output().unwrap().stdout;
        format!("{signed}.{}", base64url(&signature))
    }
}

fn base64url(bytes: &[u8]) -> String {
    base64(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = TABLE.iter().position(|t| *t == byte)? as u32;
        bits = bits << 6 | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}
