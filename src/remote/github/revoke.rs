//! `github revoke`: a stored token sent to GitHub's credential revocation
//! endpoint, then removed here.
//!
//! GitHub first, then here: a refusal there changes nothing here, and a
//! token whose revocation's answer was lost stays stored so the same command
//! can be run again. That is safe, as revoking a revoked token is a no-op
//! GitHub answers 202 to again. A token kept by an unfinished `github
//! rotate` (`NAME.retiring`) is revoked the same way, and the rotation's
//! note on the token it was replaced by goes with it.

use super::client::Revocation;
use super::{Github, Result};
use crate::index::TokenRecord;
use crate::names::{Integration, TokenName};
use crate::remote::ManageError;

/// What `NAME.retiring` is: the old secret of `NAME`, kept until GitHub has revoked it.
pub(crate) const RETIRING: &str = ".retiring";

/// Where a revocation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before anything was sent: nothing changed.
    Before,
    /// GitHub refused, or its answer was lost (`maybe`: it may have revoked it).
    AtGithub { maybe: bool },
    /// GitHub revoked it; removing it here failed.
    Here,
}

pub(crate) struct RevokeFailure {
    pub stage: Stage,
    pub error: ManageError,
}

impl RevokeFailure {
    fn at(stage: Stage, error: impl Into<ManageError>) -> Self {
        Self {
            stage,
            error: error.into(),
        }
    }
}

/// The name under which `name`'s old secret is kept during a rotation.
pub(crate) fn retiring_name(name: &TokenName) -> Result<TokenName> {
    let integration = format!("{}{RETIRING}", name.integration);
    Integration::parse(&integration)
        .map(|i| TokenName::new(i, name.registry.clone()))
        .map_err(|_| {
            ManageError::Invalid(format!(
                "{name}'s name is too long to keep its old secret beside it during a rotation; rename it first"
            ))
        })
}

/// The token `name` keeps the old secret of, when it is such a copy.
fn replaced_by(name: &TokenName) -> Option<TokenName> {
    let parent = name.integration.as_str().strip_suffix(RETIRING)?;
    Some(TokenName::new(
        Integration::parse(parent).ok()?,
        name.registry.clone(),
    ))
}

impl Github<'_> {
    /// Revokes the stored token `text` at GitHub, then removes it here.
    pub(crate) fn revoke(
        &self,
        text: &str,
    ) -> std::result::Result<(TokenName, Revocation), RevokeFailure> {
        let before = |e| RevokeFailure::at(Stage::Before, e);
        let (name, _, secret) =
            crate::remote::stored_with_secret(self.service, &self.endpoint.registry, text)
                .map_err(before)?;
        let revocation = self.api.revoke_secret(&secret).map_err(|e| {
            let maybe = e.may_have_acted();
            RevokeFailure::at(Stage::AtGithub { maybe }, e)
        })?;
        self.remove_revoked(&name)
            .map_err(|e| RevokeFailure::at(Stage::Here, e))?;
        Ok((name, revocation))
    }

    /// Removes a token GitHub has revoked, in one commit with the end of the
    /// rotation it was kept for, if any.
    pub(super) fn remove_revoked(&self, name: &TokenName) -> Result<()> {
        let mut edit = self.service.ledger()?.begin()?;
        if let Some(parent) = replaced_by(name)
            && let Some(mut record) = edit.token(&parent)?
            && finishes(&record, name)
        {
            if let Some(link) = record.remote.as_mut() {
                link.rotating = None;
            }
            edit.update(&parent, record)?;
        }
        edit.remove(name)?;
        edit.commit()?;
        Ok(())
    }
}

/// True when `record`'s rotation waits on the revocation of `retiring`.
fn finishes(record: &TokenRecord, retiring: &TokenName) -> bool {
    record
        .remote
        .as_ref()
        .and_then(|l| l.rotating.as_ref())
        .is_some_and(|r| r.id == retiring.integration.as_str())
}
