//! Plaintext logins in Docker's config.json, moved into the secret store.
//!
//! Without a credential helper, `docker login` writes `auths.HOST.auth` =
//! base64(user:password), or an `identitytoken`, into config.json. Import
//! stores each one through the same path as the protocol's `store` (the
//! two-factor rule included), reads it back from the store, and only then
//! removes it from config.json, so an interruption at any point loses
//! nothing and a second run picks up where the first stopped.

use base64ct::Encoding;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::docker_config::{DockerConfig, DockerConfigError};
use crate::error::ServiceError;
use crate::ledger::Edit;
use crate::names::TokenName;
use crate::policy::IDENTITY_TOKEN_USERNAME;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::service::Service;
use crate::service::write::{TokenSpec, check_username};
use crate::store::BackendKind;

/// The fields of an `auths` entry that carry a secret.
pub const SECRET_FIELDS: [&str; 3] = ["auth", "password", "identitytoken"];

/// True when an `auths` entry holds a secret in the clear.
pub fn holds_secret(entry: &Value) -> bool {
    entry.as_object().is_some_and(|fields| {
        SECRET_FIELDS.iter().any(|f| {
            fields
                .get(*f)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
    })
}

/// The `auths` keys whose entries hold a secret, in file order.
pub fn plaintext_keys(root: &Map<String, Value>) -> Vec<String> {
    auths(root)
        .map(|auths| {
            auths
                .iter()
                .filter(|(_, entry)| holds_secret(entry))
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn auths(root: &Map<String, Value>) -> Option<&Map<String, Value>> {
    root.get("auths").and_then(Value::as_object)
}

/// One plaintext login read from config.json. The secret is never printed.
pub struct Login {
    pub registry: Registry,
    pub username: String,
    pub secret: Secret,
}

/// Reads the login in `auths[key]`; the error says why it cannot be imported.
pub fn read_login(key: &str, entry: &Value) -> Result<Login, String> {
    let fields = entry.as_object().ok_or("the entry is not an object")?;
    let field = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let registry = Registry::parse(key).map_err(|e| format!("its address is not usable: {e}"))?;
    let (username, secret) = if let Some(token) = field("identitytoken") {
        // Docker hands identity tokens to helpers under this username.
        (
            IDENTITY_TOKEN_USERNAME.to_owned(),
            Secret::from_str_copy(token),
        )
    } else if let Some(auth) = field("auth") {
        let bytes =
            decode_auth(auth).map_err(|e| format!("its auth field is not valid base64 ({e})"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "its auth field is not text")?;
        let (user, password) = text
            .split_once(':')
            .ok_or("its auth field does not have the form user:password")?;
        if password.is_empty() {
            return Err("its auth field holds no password".into());
        }
        (user.to_owned(), Secret::from_str_copy(password))
    } else if let Some(password) = field("password") {
        let user = field("username").ok_or("it has a password but no username")?;
        (user.to_owned(), Secret::from_str_copy(password))
    } else {
        return Err("it holds no secret".into());
    };
    if username.is_empty() {
        return Err("its username is empty".into());
    }
    check_username(&username).map_err(|e| e.to_string())?;
    Ok(Login {
        registry,
        username,
        secret,
    })
}

/// Decodes an `auth` field (padded standard base64, as Go's `base64.StdEncoding`
/// writes it) straight into a buffer that is wiped on drop, in constant time.
pub fn decode_auth(auth: &str) -> Result<Zeroizing<Vec<u8>>, base64ct::Error> {
    let mut bytes = Zeroizing::new(vec![0u8; auth.len() / 4 * 3 + 3]);
    let len = base64ct::Base64::decode(auth, &mut bytes)?.len();
    bytes.truncate(len);
    Ok(bytes)
}

/// What became of one `auths` entry.
pub enum Outcome {
    /// Stored (or, in a dry run, would be) as this token.
    Imported {
        token: TokenName,
        backend: Option<BackendKind>,
    },
    /// The token already holds this very secret (a previous run was interrupted).
    AlreadyStored { token: TokenName },
    /// Left in config.json, for this reason.
    Left { reason: String },
}

impl Outcome {
    pub fn removes_plaintext(&self) -> bool {
        !matches!(self, Outcome::Left { .. })
    }
}

pub struct Entry {
    pub key: String,
    pub username: Option<String>,
    pub outcome: Outcome,
}

pub struct Report {
    pub config_path: std::path::PathBuf,
    pub entries: Vec<Entry>,
    /// The copy of config.json taken before the first change.
    pub backup: Option<std::path::PathBuf>,
    /// True when Docker sends every imported registry to this helper.
    pub wired: bool,
}

/// Imports every plaintext login; with `dry_run`, only says what would happen.
pub fn run(service: &Service, dry_run: bool) -> Result<Report, ServiceError> {
    let dir = service.env.docker_config_dir()?;
    let mut config = DockerConfig::load(&dir).map_err(invalid)?;
    let keys = plaintext_keys(&config.root);
    let mut report = Report {
        config_path: config.path.clone(),
        entries: Vec::new(),
        backup: None,
        wired: true,
    };
    if keys.is_empty() {
        return Ok(report);
    }
    // Held across store and config.json rewrite: no other writer sees a half-done import.
    let mut edit = service.ledger()?.begin()?;
    let mut removed_any = false;
    for key in keys {
        let entry = &auths(&config.root).expect("keys came from auths")[&key];
        let login = match read_login(&key, entry) {
            Ok(login) => login,
            Err(reason) => {
                report.entries.push(Entry {
                    key,
                    username: None,
                    outcome: Outcome::Left { reason },
                });
                continue;
            }
        };
        let mut outcome = plan(service, &mut *edit, &key, &login);
        if let (false, Outcome::Imported { token, .. }) = (dry_run, &outcome) {
            let token = token.clone();
            outcome = store(service, &mut *edit, &key, &login, token);
        }
        if !dry_run
            && outcome.removes_plaintext()
            && let Some(fields) = config
                .object_mut("auths")
                .get_mut(&key)
                .and_then(Value::as_object_mut)
        {
            for field in SECRET_FIELDS {
                if let Some(mut value) = fields.remove(field) {
                    crate::docker_config::wipe(&mut value);
                }
            }
            removed_any = true;
        }
        report.entries.push(Entry {
            key,
            username: Some(login.username.clone()),
            outcome,
        });
    }
    // Only a removal rewrites the file: re-serialising alone would change its layout.
    if removed_any {
        report.backup = config.backup().map_err(invalid)?;
        config.save().map_err(invalid)?;
    }
    drop(edit);
    report.wired = report
        .entries
        .iter()
        .filter(|e| e.outcome.removes_plaintext())
        .all(|e| wired_for(&config.root, &e.key));
    Ok(report)
}

/// Decides what to do with one login, changing nothing.
fn plan(service: &Service, edit: &mut dyn Edit, key: &str, login: &Login) -> Outcome {
    let left = |reason: String| Outcome::Left { reason };
    if let Err(e) = service.check_policy(&login.registry, &login.username, &login.secret) {
        return left(e.to_string());
    }
    let token = match service.protocol_target(edit, login.registry.clone()) {
        Ok((token, _)) => token,
        Err(e) => return left(e.to_string()),
    };
    let existing = match edit.token(&token) {
        Ok(Some(existing)) => existing,
        Ok(None) => {
            return Outcome::Imported {
                token,
                backend: None,
            };
        }
        Err(e) => return left(format!("cannot read {token}: {e}")),
    };
    match edit.secret(&token) {
        Ok(Some(secret)) if secret == login.secret && existing.username == login.username => {
            Outcome::AlreadyStored { token }
        }
        Ok(_) => left(format!(
            "{token} already holds a different login; to keep both, import this one under another name: `DOCKER_PAT_INTEGRATION=NAME docker-credential-pat import`; if {token} is the one to keep, delete the entry for {key} from config.json by hand"
        )),
        Err(e) => left(format!("cannot read {token} from its store: {e}")),
    }
}

/// Stores one login and confirms it by reading it back.
fn store(
    service: &Service,
    edit: &mut dyn Edit,
    key: &str,
    login: &Login,
    token: TokenName,
) -> Outcome {
    // Chosen again against the index as it is now: an earlier entry may have set a default.
    let make_default = match service.protocol_target(edit, token.registry.clone()) {
        Ok((chosen, make_default)) => chosen == token && make_default,
        Err(_) => false,
    };
    let spec = TokenSpec {
        name: token.clone(),
        username: &login.username,
        server_url: key.to_owned(),
        secret: &login.secret,
        description: None,
        make_default,
    };
    let outcome = match service.put_token(edit, spec) {
        Ok(outcome) => outcome,
        Err(e) => {
            return Outcome::Left {
                reason: e.to_string(),
            };
        }
    };
    let confirmed = matches!(edit.secret(&token), Ok(Some(secret)) if secret == login.secret);
    if !confirmed {
        return Outcome::Left {
            reason: format!(
                "{token} was written but could not be read back from the {}; the plaintext stays until it can",
                outcome.backend
            ),
        };
    }
    Outcome::Imported {
        token,
        backend: Some(outcome.backend),
    }
}

/// True when Docker asks this helper for `key`'s credentials.
pub fn wired_for(root: &Map<String, Value>, key: &str) -> bool {
    crate::docker_config::helper_in(root, key) == Some(crate::docker_config::HELPER_NAME)
}

fn invalid(e: DockerConfigError) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(text: &str) -> String {
        base64ct::Base64::encode_string(text.as_bytes())
    }

    fn decoded(auth: &str) -> Option<Vec<u8>> {
        decode_auth(auth).ok().map(|bytes| bytes.to_vec())
    }

    #[test]
    fn auth_fields_decode_as_go_writes_them() {
        for (encoded, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYmE=", "fooba"),
            ("YWxpY2U6ZGNrcl9wYXRfeCt5L3o=", "alice:dckr_pat_x+y/z"),
        ] {
            assert_eq!(
                decoded(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decoded(&base64ct::Base64::encode_string(&all)), Some(all));
    }

    #[test]
    fn malformed_auth_fields_are_refused_without_echoing_them() {
        for input in [
            "Zm9",
            "Zm9v\n",
            "Zm9-",
            "Zm 9",
            "Zg=a",
            "Z===",
            "Zg==Zm9v",
            "Zm9vYmFyé=",
        ] {
            let Err(err) = decode_auth(input) else {
                panic!("{input:?} decoded");
            };
            assert!(!err.to_string().contains(input.trim()), "{input:?}");
        }
    }

    fn login(key: &str, entry: Value) -> Result<Login, String> {
        read_login(key, &entry)
    }

    #[test]
    fn auth_field_gives_user_and_password() {
        let entry = json!({"auth": enc("alice:pa:ss")});
        let login = login("127.0.0.1:5000", entry).unwrap();
        assert_eq!(login.username, "alice");
        assert_eq!(
            login.secret.expose(),
            "pa:ss",
            "only the first colon splits"
        );
        assert_eq!(login.registry.key(), "127.0.0.1:5000");
    }

    #[test]
    fn identity_token_wins_and_uses_the_token_username() {
        let entry = json!({"auth": enc("alice:"), "identitytoken": "refresh-xyz"});
        let login = login("https://index.docker.io/v1/", entry).unwrap();
        assert_eq!(login.username, IDENTITY_TOKEN_USERNAME);
        assert_eq!(login.secret.expose(), "refresh-xyz");
        assert!(login.registry.is_docker_hub());
    }

    #[test]
    fn separate_username_and_password_fields_are_read() {
        let login = login("ghcr.io", json!({"username": "octo", "password": "pw"})).unwrap();
        assert_eq!(
            (login.username.as_str(), login.secret.expose()),
            ("octo", "pw")
        );
    }

    #[test]
    fn unusable_entries_say_why_without_the_secret() {
        let secret = "s3cr3t-value";
        let cases = [
            json!({"auth": "not base64!"}),
            json!({"auth": enc(&format!("nocolon{secret}"))}),
            json!({"auth": enc(&format!(":{secret}"))}),
            json!({"auth": enc("alice:")}),
            json!({"password": secret}),
            json!({"auth": enc(&format!("a\u{1b}b:{secret}"))}),
        ];
        for entry in cases {
            let reason = login("ghcr.io", entry.clone()).err().unwrap();
            assert!(!reason.contains(secret), "{reason}");
            assert!(!reason.contains("bm9jb2xvb"), "{reason}");
        }
        let reason = login("ftp://x", json!({"auth": "YTpi"})).err().unwrap();
        assert!(reason.contains("address"), "{reason}");
    }

    #[test]
    fn only_entries_with_secrets_count_as_plaintext() {
        let root = json!({"auths": {
            "a.io": {},
            "b.io": {"auth": ""},
            "c.io": {"auth": "YTpi"},
            "d.io": {"identitytoken": "t"},
            "e.io": {"email": "x@y"},
            "f.io": {"password": "p", "username": "u"}
        }});
        let keys = plaintext_keys(root.as_object().unwrap());
        assert_eq!(keys, ["c.io", "d.io", "f.io"]);
    }

    #[test]
    fn wiring_follows_cred_helpers_before_creds_store() {
        let root = json!({"credsStore": "pat", "credHelpers": {"ghcr.io": "desktop"}});
        let root = root.as_object().unwrap();
        assert!(wired_for(root, "docker.io"));
        assert!(!wired_for(root, "ghcr.io"));
        let root = json!({"credHelpers": {"ghcr.io": "pat"}});
        let root = root.as_object().unwrap();
        assert!(wired_for(root, "ghcr.io"));
        assert!(!wired_for(root, "docker.io"));
    }
}
