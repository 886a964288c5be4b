//! The client token: from `BAO_TOKEN`, `VAULT_TOKEN` or a token file, or from
//! an AppRole or JWT login. A login's token is kept in the kernel keyring
//! until shortly before it expires, never on disk; when the server refuses
//! it, it is dropped and the helper logs in again once.

use std::sync::PoisonError;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::OpenBaoError;
use super::client::{Answer, Client, Held, Origin};
use super::settings::Login;
use crate::http::Method;
use crate::kernel_keyring::{self, Entry};
use crate::secret::Secret;

/// The longest client token accepted from a file, a variable or the keyring.
const MAX_TOKEN: usize = 16 * 1024;
/// A cached token is dropped this long before the server would expire it.
const EXPIRY_MARGIN: u64 = 30;
/// How long a login token that never expires stays cached.
const NO_EXPIRY_CACHE: u64 = 3600;

impl Client {
    pub(super) fn held(&self) -> std::sync::RwLockReadGuard<'_, Option<Held>> {
        self.token.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_held(&self, held: Option<Held>) {
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = held;
    }

    /// Runs `f` with the client token; other threads may send with it meanwhile.
    pub(super) fn with_token<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        let held = self.held();
        f(held.as_ref().map_or("", |h| h.token.as_str()))
    }

    /// The token lookup, for doctor; `None` when no token can be had.
    pub(crate) fn lookup_self(&self) -> Result<Answer, OpenBaoError> {
        self.ensure_token()?;
        self.with_token(|token| self.send(Method::Get, "auth/token/lookup-self", Some(token), None))
    }

    pub(super) fn token_refused(&self, detail: &str) -> OpenBaoError {
        let source = match &self.settings.login {
            Login::Token { file } => given_token_source(file),
            _ => "the login".into(),
        };
        OpenBaoError::Auth {
            method: self.settings.login.method().name(),
            detail: format!(
                "the server does not accept the client token from {source} ({detail}); it is invalid or has expired"
            ),
            fix: "log in again (`bao login` writes ~/.vault-token) or set BAO_TOKEN".into(),
        }
    }

    fn cache_entry_name(&self) -> String {
        let s = &self.settings;
        let who = match &s.login {
            Login::Token { .. } => String::new(),
            // The credential's file too: another file may hold another identity.
            Login::AppRole {
                mount,
                role_id,
                secret_id_file,
            } => format!("approle:{mount}:{role_id}:{}", secret_id_file.display()),
            Login::Jwt {
                mount,
                role,
                jwt_file,
            } => format!("jwt:{mount}:{role}:{}", jwt_file.display()),
        };
        let key = format!(
            "{}|{}|{who}",
            s.addresses.join(","),
            s.namespace.as_deref().unwrap_or("")
        );
        format!(
            "docker-credential-pat:openbao:{}",
            kernel_keyring::short_hash(key.as_bytes())
        )
    }

    pub(super) fn forget_token(&self) {
        self.set_held(None);
        let name = self.cache_entry_name();
        let _ = Entry::new(&name, "OpenBao client token").forget();
    }

    /// Has a client token ready (cached, given, or by logging in), so that
    /// requests sent from several threads next share it.
    pub(crate) fn ensure_token(&self) -> Result<(), OpenBaoError> {
        if self.held().is_some() {
            return Ok(());
        }
        let held = match &self.settings.login {
            Login::Token { file } => Held {
                token: given_token(file)?,
                origin: Origin::Given,
            },
            _ => {
                let name = self.cache_entry_name();
                let entry = Entry::new(&name, "OpenBao client token");
                match entry.load(MAX_TOKEN).and_then(token_text) {
                    Some(token) => Held {
                        token,
                        origin: Origin::Cached,
                    },
                    None => {
                        let (token, seconds) = self.login()?;
                        // No cache is only slower: every process logs in again.
                        let _ = entry.store(token.as_bytes(), seconds);
                        Held {
                            token,
                            origin: Origin::Fresh,
                        }
                    }
                }
            }
        };
        self.set_held(Some(held));
        Ok(())
    }

    /// Logs in by AppRole or JWT; returns the token and how long to cache it.
    fn login(&self) -> Result<(Zeroizing<String>, u32), OpenBaoError> {
        #[derive(Serialize)]
        struct AppRole<'a> {
            role_id: &'a str,
            secret_id: &'a str,
        }
        #[derive(Serialize)]
        struct Jwt<'a> {
            role: &'a str,
            jwt: &'a str,
        }
        let mut body = Zeroizing::new(Vec::with_capacity(4096));
        let (method, mount, fix) = match &self.settings.login {
            Login::Token { .. } => unreachable!("token auth has no login"),
            Login::AppRole {
                mount,
                role_id,
                secret_id_file,
            } => {
                let secret_id = read_secret_file(secret_id_file, "approle", "secret_id_file")?;
                serde_json::to_writer(
                    &mut *body,
                    &AppRole {
                        role_id,
                        secret_id: secret_id.expose(),
                    },
                )
                .expect("JSON of two strings");
                (
                    "approle",
                    mount,
                    format!(
                        "check role_id and the secret id in {} (it may be used up or expired; the admin issues a new one with `bao write -f auth/{mount}/role/ROLE/secret-id`)",
                        secret_id_file.display()
                    ),
                )
            }
            Login::Jwt {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = read_secret_file(jwt_file, "jwt", "jwt_file")?;
                serde_json::to_writer(
                    &mut *body,
                    &Jwt {
                        role,
                        jwt: jwt.expose(),
                    },
                )
                .expect("JSON of two strings");
                (
                    "jwt",
                    mount,
                    format!(
                        "check role = \"{role}\" and the id token in {} (it may have expired, or its audience, subject or issuer may not match the role)",
                        jwt_file.display()
                    ),
                )
            }
        };
        let path = format!("auth/{mount}/login");
        let answer = self
            .send(
                Method::Post,
                &path,
                None,
                Some(("application/json", &body[..])),
            )
            // A login is not sent twice (a secret id may be good for one use only).
            .map_err(|e| match e {
                OpenBaoError::Unknown {
                    address, detail, ..
                } => OpenBaoError::Auth {
                    method,
                    detail: format!("the answer to the login at {address} was lost ({detail})"),
                    fix: "run the command again".into(),
                },
                e => e,
            })?;
        match answer.status {
            200 => {}
            400 | 401 | 403 => {
                return Err(OpenBaoError::Auth {
                    method,
                    detail: format!("the server refused the login ({})", answer.message()),
                    fix,
                });
            }
            404 => {
                return Err(OpenBaoError::Auth {
                    method,
                    detail: format!(
                        "no {method} auth method at auth/{mount} ({})",
                        answer.message()
                    ),
                    fix: format!(
                        "set {method}_mount in [openbao] to where it is enabled, or ask the admin to enable it"
                    ),
                });
            }
            status => {
                return Err(OpenBaoError::Server {
                    message: answer.message(),
                    address: answer.address,
                    status,
                    path,
                });
            }
        }
        #[derive(Deserialize)]
        struct Body {
            auth: Auth,
        }
        #[derive(Deserialize)]
        struct Auth {
            client_token: Secret,
            #[serde(default)]
            lease_duration: u64,
        }
        let parsed: Body =
            serde_json::from_slice(&answer.body).map_err(|e| OpenBaoError::Malformed {
                address: answer.address.clone(),
                path: path.clone(),
                detail: crate::text::printable(&e.to_string(), 200),
            })?;
        let seconds = match parsed.auth.lease_duration {
            0 => NO_EXPIRY_CACHE,
            ttl => ttl.saturating_sub(EXPIRY_MARGIN.min(ttl / 10)).max(1),
        };
        let token = Zeroizing::new(parsed.auth.client_token.expose().to_owned());
        Ok((token, u32::try_from(seconds).unwrap_or(u32::MAX)))
    }
}

fn given_token_source(file: &std::path::Path) -> String {
    if std::env::var_os("BAO_TOKEN").is_some_and(|v| !v.is_empty()) {
        "BAO_TOKEN".into()
    } else if std::env::var_os("VAULT_TOKEN").is_some_and(|v| !v.is_empty()) {
        "VAULT_TOKEN".into()
    } else {
        file.display().to_string()
    }
}

/// `BAO_TOKEN`, else `VAULT_TOKEN`, else the token file; read only now, into wiped memory.
fn given_token(file: &std::path::Path) -> Result<Zeroizing<String>, OpenBaoError> {
    for name in ["BAO_TOKEN", "VAULT_TOKEN"] {
        if let Some(value) = std::env::var_os(name) {
            let bytes = Zeroizing::new(value.into_encoded_bytes());
            if !bytes.is_empty() {
                return token_text(bytes).ok_or_else(|| OpenBaoError::Auth {
                    method: "token",
                    detail: format!("{name} is not a client token"),
                    fix: format!("set {name} to the token `bao login` printed"),
                });
            }
        }
    }
    match read_file(file, MAX_TOKEN) {
        Ok(bytes) => token_text(bytes).ok_or_else(|| OpenBaoError::Auth {
            method: "token",
            detail: format!("{} does not hold a client token", file.display()),
            fix: "log in again with `bao login`, or set BAO_TOKEN".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenBaoError::Auth {
            method: "token",
            detail: format!("no client token: BAO_TOKEN and VAULT_TOKEN are unset and {} does not exist", file.display()),
            fix: "log in with `bao login`, set BAO_TOKEN, or choose auth = \"approle\" or \"jwt\" in [openbao]".into(),
        }),
        Err(e) => Err(OpenBaoError::Auth {
            method: "token",
            detail: format!("cannot read {}: {e}", file.display()),
            fix: "make the token file readable by you, or set BAO_TOKEN".into(),
        }),
    }
}

/// A token's text, without a trailing line break; `None` if it is empty or not printable.
fn token_text(bytes: Zeroizing<Vec<u8>>) -> Option<Zeroizing<String>> {
    let text = std::str::from_utf8(&bytes)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| Zeroizing::new(text.to_owned()))
}

fn read_file(path: &std::path::Path, limit: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
    file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::other(format!("longer than {limit} bytes")));
    }
    Ok(bytes)
}

/// A secret id or an id token from its file.
fn read_secret_file(
    path: &std::path::Path,
    method: &'static str,
    key: &str,
) -> Result<Secret, OpenBaoError> {
    let failed = |detail: String| OpenBaoError::Auth {
        method,
        detail,
        fix: format!("point {key} in [openbao] at a readable file"),
    };
    let bytes = read_file(path, 64 * 1024)
        .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
    token_text(bytes)
        .map(Secret::new)
        .ok_or_else(|| failed(format!("{} is empty or not text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_drops_one_line_break_and_refuses_odd_bytes() {
        assert_eq!(
            token_text(Zeroizing::new(b"s.abc\n".to_vec()))
                .unwrap()
                .as_str(),
            "s.abc"
        );
        assert!(token_text(Zeroizing::new(b"\n".to_vec())).is_none());
        assert!(token_text(Zeroizing::new(b"a b".to_vec())).is_none());
    }
}
