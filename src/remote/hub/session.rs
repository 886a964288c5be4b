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
use crate::kernel_keyring;
use crate::remote::session::{KeepError, Place};
use crate::secret::Secret;

const WHAT: &str = "Docker Hub session";

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
        let kept = place(hub_url, paths).open()?;
        Some(Self::new(&kept.who, kept.secret))
    }

    /// Keeps the session for `seconds`, replacing any earlier one; says who can read it.
    pub(crate) fn keep(
        &self,
        hub_url: &str,
        paths: &Paths,
        seconds: u32,
    ) -> Result<kernel_keyring::Reach, HubError> {
        place(hub_url, paths)
            .keep(&self.username, &self.token, seconds)
            .map_err(|e| match e {
                KeepError::NoKeyring => HubError::NoKeyring,
                // Kept, it could never be read back.
                KeepError::TooLong => HubError::BadBody { what: "sign in" },
                KeepError::Keyring(e) => HubError::Keyring(e),
            })
    }

    /// Drops the session kept for Hub at `hub_url`; `false` when none was open.
    pub(crate) fn forget(hub_url: &str, paths: &Paths) -> Result<bool, HubError> {
        Ok(place(hub_url, paths).forget()?)
    }
}

/// Where the session is kept: the shared place of every management credential.
fn place<'a>(hub_url: &'a str, paths: &'a Paths) -> Place<'a> {
    Place {
        kind: "hub",
        url: hub_url,
        paths,
        what: WHAT,
    }
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
