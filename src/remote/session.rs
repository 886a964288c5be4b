//! A management credential, kept only in the kernel keyring: the Docker Hub
//! session, the GitLab token given to `gitlab login`.
//!
//! Such a credential is worth more than any token it manages, so it is
//! never written to disk: it lives in the kernel keyring for a limited time
//! (`hub_session_seconds`, `gitlab_session_seconds`), under a description
//! derived from the kind of API, its address and the helper's data folder.
//! Every registry keeps its credential through this one module, so a change
//! in where or how such credentials are kept reaches them all.

use zeroize::Zeroizing;

use crate::config::Paths;
use crate::kernel_keyring::{self, Entry, KeyringError};
use crate::secret::Secret;

/// The longest credential kept: an account name and a token or JWT, well under this.
const MAX_LEN: usize = 16 * 1024;

/// Why a credential could not be kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeepError {
    #[error("no kernel keyring")]
    NoKeyring,
    #[error("too long to keep")]
    TooLong,
    #[error("{0}")]
    Keyring(#[from] KeyringError),
}

/// A kept credential: who it is (an account, or a token's name) and the
/// secret. No `Debug`: it holds a secret.
pub(crate) struct Kept {
    pub who: String,
    pub secret: Secret,
}

/// Where one kind of credential for one API is kept.
pub(crate) struct Place<'a> {
    /// `hub`, `gitlab`: part of the entry's description.
    pub kind: &'static str,
    /// The API's address.
    pub url: &'a str,
    pub paths: &'a Paths,
    /// What the entry holds, for error messages ("Docker Hub session").
    pub what: &'static str,
}

impl Place<'_> {
    fn description(&self) -> String {
        let mut scope = self.url.trim_end_matches('/').as_bytes().to_vec();
        scope.push(0);
        scope.extend_from_slice(self.paths.data_dir.as_os_str().as_encoded_bytes());
        format!(
            "docker-credential-pat:{}-session:{}",
            self.kind,
            kernel_keyring::short_hash(&scope)
        )
    }

    /// The one place that says which keyring management credentials live in:
    /// the session keyring, readable only by the login session that kept them.
    fn with_entry<T>(&self, act: impl FnOnce(&Entry<'_>) -> T) -> T {
        let description = self.description();
        act(&Entry::private(&description, self.what))
    }

    /// The credential kept here, if one is and it reads back whole.
    pub(crate) fn open(&self) -> Option<Kept> {
        let payload = self.with_entry(|e| e.load(MAX_LEN))?;
        let split = payload.iter().position(|&b| b == b'\n')?;
        let who = std::str::from_utf8(&payload[..split]).ok()?;
        let secret = Secret::from_utf8(Zeroizing::new(payload[split + 1..].to_vec()))?;
        (!who.is_empty() && !secret.is_empty()).then(|| Kept {
            who: who.to_owned(),
            secret,
        })
    }

    /// Keeps `who` and `secret` for `seconds`, replacing what was kept before;
    /// says who can read it.
    pub(crate) fn keep(
        &self,
        who: &str,
        secret: &Secret,
        seconds: u32,
    ) -> Result<kernel_keyring::Reach, KeepError> {
        if !kernel_keyring::available() {
            return Err(KeepError::NoKeyring);
        }
        let mut payload = Zeroizing::new(Vec::with_capacity(who.len() + 1 + secret.len()));
        payload.extend_from_slice(who.as_bytes());
        payload.push(b'\n');
        payload.extend_from_slice(secret.expose_bytes());
        if payload.len() > MAX_LEN || who.contains('\n') {
            // Kept, it could never be read back.
            return Err(KeepError::TooLong);
        }
        self.with_entry(|e| e.store(&payload, seconds))?;
        Ok(kernel_keyring::reach())
    }

    /// Drops what is kept here; `false` when nothing was.
    pub(crate) fn forget(&self) -> Result<bool, KeyringError> {
        self.with_entry(|e| e.forget())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_kept_per_kind_api_and_data_folder_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().into());
        let place = |kind, url| Place {
            kind,
            url,
            paths: &paths,
            what: "test login",
        };
        let gitlab = place("gitlab", "http://127.0.0.1:1/api/v4");
        gitlab
            .keep("manage", &Secret::from_str_copy("glpat-x"), 60)
            .unwrap();
        let kept = gitlab.open().unwrap();
        assert_eq!(
            (kept.who.as_str(), kept.secret.expose()),
            ("manage", "glpat-x")
        );
        assert!(place("hub", "http://127.0.0.1:1/api/v4").open().is_none());
        assert!(
            place("gitlab", "http://127.0.0.1:2/api/v4")
                .open()
                .is_none()
        );
        assert!(matches!(
            gitlab.keep("a\nb", &Secret::from_str_copy("x"), 60),
            Err(KeepError::TooLong)
        ));
        assert!(gitlab.forget().unwrap());
        assert!(gitlab.open().is_none());
    }
}
