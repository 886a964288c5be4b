//! The signed-in Docker Hub session: who, and the bearer token Hub gave.
//!
//! Managing tokens needs the account password, so the session it buys is
//! worth protecting: it lives only in the kernel's *session* keyring (never
//! on disk), readable only by the login session that signed in
//! ([`Entry::private`]), for at most `hub_session_seconds`, under a
//! description derived from Hub's URL and the helper's data folder.
//! `hub logout` drops it, and so does a 401.

use zeroize::Zeroizing;

use super::HubError;
use crate::config::Paths;
use crate::kernel_keyring::{self, Entry};
use crate::secret::Secret;

const WHAT: &str = "Docker Hub session";
/// The longest session kept: the account name and a Hub JWT, well under this.
const MAX_LEN: usize = 16 * 1024;

/// A Docker Hub session: the account and its bearer token. No `Debug`: it holds a secret.
pub(crate) struct Session {
    pub username: String,
    token: Secret,
}

impl Session {
    pub(crate) fn new(username: &str, token: Secret) -> Self {
        Self {
            username: username.to_owned(),
            token,
        }
    }

    /// The `Authorization` header value.
    pub(crate) fn bearer(&self) -> Zeroizing<String> {
        let mut value = Zeroizing::new(String::with_capacity(7 + self.token.len()));
        value.push_str("Bearer ");
        value.push_str(self.token.expose());
        value
    }

    /// The session kept for Hub at `hub_url`, if one is open.
    pub(crate) fn open(hub_url: &str, paths: &Paths) -> Option<Self> {
        let payload = Entry::private(&description(hub_url, paths), WHAT).load(MAX_LEN)?;
        let split = payload.iter().position(|&b| b == b'\n')?;
        let username = std::str::from_utf8(&payload[..split]).ok()?;
        let token = Secret::from_utf8(Zeroizing::new(payload[split + 1..].to_vec()))?;
        (!username.is_empty() && !token.is_empty()).then(|| Self::new(username, token))
    }

    /// Keeps the session for `seconds`, replacing any earlier one; says who can read it.
    pub(crate) fn keep(
        &self,
        hub_url: &str,
        paths: &Paths,
        seconds: u32,
    ) -> Result<kernel_keyring::Reach, HubError> {
        if !kernel_keyring::available() {
            return Err(HubError::NoKeyring);
        }
        let mut payload = Zeroizing::new(Vec::with_capacity(
            self.username.len() + 1 + self.token.len(),
        ));
        payload.extend_from_slice(self.username.as_bytes());
        payload.push(b'\n');
        payload.extend_from_slice(self.token.expose_bytes());
        if payload.len() > MAX_LEN {
            // Kept, it could never be read back.
            return Err(HubError::BadBody { what: "sign in" });
        }
        Entry::private(&description(hub_url, paths), WHAT).store(&payload, seconds)?;
        Ok(kernel_keyring::reach())
    }

    /// Drops the session kept for Hub at `hub_url`; `false` when none was open.
    pub(crate) fn forget(hub_url: &str, paths: &Paths) -> Result<bool, HubError> {
        Ok(Entry::private(&description(hub_url, paths), WHAT).forget()?)
    }
}

fn description(hub_url: &str, paths: &Paths) -> String {
    let mut scope = hub_url.trim_end_matches('/').as_bytes().to_vec();
    scope.push(0);
    scope.extend_from_slice(paths.data_dir.as_os_str().as_encoded_bytes());
    format!(
        "docker-credential-pat:hub-session:{}",
        kernel_keyring::short_hash(&scope)
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_kept_per_hub_and_data_folder_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().into());
        let hub = "http://127.0.0.1:1";
        Session::new("alice", Secret::from_str_copy("jwt.abc"))
            .keep(hub, &paths, 60)
            .unwrap();
        let session = Session::open(hub, &paths).unwrap();
        assert_eq!(session.username, "alice");
        assert_eq!(&*session.bearer(), "Bearer jwt.abc");
        assert!(Session::open("http://127.0.0.1:2", &paths).is_none());
        let other = Paths {
            config_dir: dir.path().join("x"),
            data_dir: dir.path().join("x"),
        };
        assert!(Session::open(hub, &other).is_none());
        assert!(Session::forget(hub, &paths).unwrap());
        assert!(Session::open(hub, &paths).is_none());
    }
}
