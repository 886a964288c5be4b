//! Signing in to Docker Hub and out again: `hub login`, `hub logout`.
//!
//! The session is kept only in the kernel's session keyring; nothing is
//! asked of Hub until it is clear there is somewhere to keep what Hub gives back.

use super::{Hub, ManageError, Result};
use crate::kernel_keyring::Reach;
use crate::registry::Registry;
use crate::remote::hub::HubError;
use crate::remote::hub::client::SignIn;
use crate::remote::hub::session::Session;
use crate::secret::Secret;

impl Hub<'_> {
    /// Signs in with the account password, asking `code` for the second
    /// factor when Hub wants one, and keeps the session. Returns whether a
    /// second factor was needed, and who can read the session.
    pub(crate) fn sign_in(
        &self,
        username: &str,
        password: &Secret,
        code: &mut dyn FnMut() -> Result<Secret, String>,
    ) -> Result<(bool, Reach)> {
        // Nowhere to keep the session: say so before the password goes anywhere.
        if !crate::kernel_keyring::available() {
            return Err(HubError::NoKeyring.into());
        }
        if crate::policy::classify(
            &Registry::DockerHub,
            username,
            password.expose(),
            &self.service.config,
        ) == crate::policy::SecretKind::Token
        {
            return Err(ManageError::Invalid(
                "that is an access token, and an access token cannot manage tokens: sign in with the account password".into(),
            ));
        }
        let (token, second_factor) = match self.client.sign_in(username, password)? {
            SignIn::Done(token) => (token, false),
            SignIn::SecondFactor(challenge) => {
                let code = code().map_err(ManageError::Invalid)?;
                if code.is_empty() {
                    return Err(ManageError::Invalid(
                        "no two-factor code given; nothing was changed".into(),
                    ));
                }
                (self.client.second_factor(&challenge, &code)?, true)
            }
        };
        let reach = Session::new(username, token).keep(
            &self.url,
            &self.service.paths,
            self.service.config.hub_session_seconds,
        )?;
        Ok((second_factor, reach))
    }

    pub(crate) fn sign_out(&self) -> Result<bool> {
        Ok(Session::forget(&self.url, &self.service.paths)?)
    }
}
