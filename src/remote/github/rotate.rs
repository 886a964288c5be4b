//! `github rotate`: GitHub has no API that makes a classic token, so a
//! person makes the new one in GitHub's settings (the helper says where,
//! with the old token's scopes ticked) and hands it over; the helper checks
//! it, stores it in place, then revokes the old one.
//!
//! 1. **Check** the new token with GitHub: the stored username's, classic,
//!    at least the package scopes the old one had, not expired.
//! 2. **Store** it in place and, in the same commit, keep the old secret in
//!    the secret store as an inactive token `NAME.retiring`, named by a note
//!    on the new record (`rotating`). Docker uses the new token at once.
//! 3. **Revoke** the old one at GitHub.
//! 4. **Remove** `NAME.retiring` and the note, in one commit.
//!
//! Whatever stops it after step 2 (a refusal, a lost answer, the helper
//! killed), running `github rotate NAME` again finds the note and finishes
//! steps 3 and 4 with the kept secret, asking for nothing; `github revoke
//! NAME.retiring` does the same. Revoking twice is safe: GitHub answers 202
//! for a token it has already revoked.

use chrono::Utc;

use super::client::{Checked, Revocation};
use super::revoke::retiring_name;
use super::{API, Github, READ, Result, WRITE, covers};
use crate::index::{RemoteLink, RemoteOwner, RemoteView, Rotating, TokenRecord};
use crate::names::TokenName;
use crate::remote::ManageError;
use crate::secret::Secret;
use crate::service::write::{Facts, TokenFacts, TokenSpec};

/// The scopes a ghcr.io token is judged by.
const PACKAGE_SCOPES: [&str; 3] = [READ, WRITE, "delete:packages"];

/// Where and how to make the new token.
pub(crate) struct Guide {
    pub name: TokenName,
    /// `https://github.com/settings/tokens/new?scopes=…&description=…`.
    pub url: String,
    pub scopes: Vec<String>,
    pub username: String,
}

/// The steps of a rotation after the new token is in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Check,
    Store,
    Revoke,
    Remove,
}

pub(crate) struct RotateFailure {
    pub step: Step,
    pub error: ManageError,
    /// The revocation's answer was lost: GitHub may have revoked the old token.
    pub maybe: bool,
}

impl RotateFailure {
    fn at(step: Step, error: impl Into<ManageError>) -> Box<Self> {
        Box::new(Self {
            step,
            error: error.into(),
            maybe: false,
        })
    }
}

/// What a rotation did.
pub(crate) struct Rotated {
    pub name: TokenName,
    /// The new token as GitHub described it; `None` when this run only
    /// finished an earlier one.
    pub new: Option<Checked>,
    /// The old one, removed here.
    pub retired: TokenName,
    /// What GitHub said to its revocation; `None` when the kept old secret
    /// was gone (deleted by hand): nothing could be sent to GitHub, and the
    /// old token may still be live there.
    pub old: Option<Revocation>,
}

type Outcome<T> = std::result::Result<T, Box<RotateFailure>>;

impl Github<'_> {
    /// Replaces the stored token `text` with one a person makes, asked for
    /// through `ask` once the guide is ready; or, when an earlier rotation
    /// left its old token unrevoked, finishes that one and asks nothing.
    pub(crate) fn rotate(
        &self,
        text: &str,
        ask: impl FnOnce(&Guide) -> Result<Secret>,
    ) -> Outcome<Rotated> {
        let check = |e: ManageError| RotateFailure::at(Step::Check, e);
        let (name, record, old) =
            crate::remote::stored_with_secret(self.service, &self.endpoint.registry, text)
                .map_err(check)?;
        if let Some(pending) = record.remote.as_ref().and_then(|l| l.rotating.as_ref()) {
            let retired = TokenName::parse(&format!("{}@{}", pending.id, name.registry))
                .map_err(|e| check(crate::error::ServiceError::from(e).into()))?;
            let old = self.retire(&retired)?;
            return Ok(Rotated {
                name,
                new: None,
                retired,
                old,
            });
        }
        let retired = retiring_name(&name).map_err(check)?;
        let scopes = self.old_scopes(&name, &record, &old);
        let guide = Guide {
            url: self.new_token_url(&name, &scopes),
            name: name.clone(),
            scopes,
            username: record.username.clone(),
        };
        let new = ask(&guide).map_err(check)?;
        if new.is_empty() {
            return Err(check(ManageError::Invalid(
                "no token given; nothing was changed".into(),
            )));
        }
        if new == old {
            return Err(check(ManageError::Invalid(format!(
                "that is the token {name} holds now; make a new one at {}",
                guide.url
            ))));
        }
        let checked = self.api.check(&new).map_err(|e| check(e.into()))?;
        judge(&guide, &checked).map_err(check)?;
        self.store_new(&name, &retired, &record, &old, &new, &checked)
            .map_err(|e| RotateFailure::at(Step::Store, e))?;
        let old = self.retire(&retired)?;
        Ok(Rotated {
            name,
            new: Some(checked),
            retired,
            old,
        })
    }

    /// The package scopes the old token has: as GitHub says now, else as it
    /// said last, else `read:packages`.
    fn old_scopes(&self, name: &TokenName, record: &TokenRecord, old: &Secret) -> Vec<String> {
        let known = match self.verify_stored(name.clone(), &record.username, old) {
            Ok(verified) => verified.checked.scopes,
            Err(_) => record
                .remote
                .as_ref()
                .filter(|l| l.api == API)
                .map(|l| l.scopes.clone()),
        };
        let mut scopes: Vec<String> = known
            .unwrap_or_default()
            .into_iter()
            .filter(|s| PACKAGE_SCOPES.contains(&s.as_str()))
            .collect();
        if scopes.is_empty() {
            scopes.push(READ.into());
        }
        scopes
    }

    /// GitHub's page for a new classic token, the scopes ticked and the
    /// note filled in: on github.com for api.github.com, else on the API's host.
    fn new_token_url(&self, name: &TokenName, scopes: &[String]) -> String {
        let base = &self.endpoint.api;
        let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
        let host = rest.split('/').next().unwrap_or(rest);
        let web = host.strip_prefix("api.").unwrap_or(host);
        format!(
            "{scheme}://{web}/settings/tokens/new?scopes={}&description={}",
            scopes.join(","),
            encode(&format!("{name} (docker-credential-pat)"))
        )
    }

    /// Step 2: the new secret in place and the old one kept beside it, in one commit.
    fn store_new(
        &self,
        name: &TokenName,
        retired: &TokenName,
        before: &TokenRecord,
        old: &Secret,
        new: &Secret,
        checked: &Checked,
    ) -> Result<()> {
        let mut edit = self.service.ledger()?.begin()?;
        let now = Utc::now();
        let kept = TokenRecord {
            id: crate::ids::new_id(),
            active: false,
            description: Some(format!(
                "the old secret of {name}, until `docker-credential-pat github rotate {name}` has GitHub revoke it"
            )),
            hub: None,
            remote: None,
            ..before.clone()
        };
        edit.put(retired, kept, old)?;
        let scopes = checked.scopes.clone().unwrap_or_default();
        let facts = TokenFacts {
            expires_at: checked.expires_at,
            hub: None,
            remote: Some(RemoteLink {
                api: API.into(),
                id: checked.login.clone(),
                owner: RemoteOwner::Personal,
                scopes: scopes.clone(),
                rotating: Some(Rotating {
                    id: retired.integration.as_str().to_owned(),
                    started_at: now,
                }),
                used_before_link: None,
            }),
            seen: Some(RemoteView {
                state: "active".into(),
                scopes,
                expires_at: checked.expires_at,
                last_used_at: None,
                seen_at: now,
            }),
        };
        let spec = TokenSpec {
            name: name.clone(),
            username: &before.username,
            server_url: before.server_url.clone(),
            secret: new,
            description: None,
            make_default: false,
        };
        self.service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok(())
    }

    /// Steps 3 and 4: the kept old secret revoked at GitHub, then removed
    /// here; `None` when it was gone, so nothing could be revoked.
    fn retire(&self, retired: &TokenName) -> Outcome<Option<Revocation>> {
        let secret = {
            let mut edit = self
                .service
                .ledger()
                .and_then(|l| l.begin())
                .map_err(|e| RotateFailure::at(Step::Revoke, e))?;
            edit.secret(retired)
                .map_err(|e| RotateFailure::at(Step::Revoke, e))?
        };
        // Gone already (removed by hand): only the note is left to clear.
        let old = match &secret {
            Some(secret) => Some(self.api.revoke_secret(secret).map_err(|e| {
                Box::new(RotateFailure {
                    step: Step::Revoke,
                    maybe: e.may_have_acted(),
                    error: e.into(),
                })
            })?),
            None => None,
        };
        self.remove_revoked(retired)
            .map_err(|e| RotateFailure::at(Step::Remove, e))?;
        Ok(old)
    }
}

/// Refuses a new token that would not do the old one's work.
fn judge(guide: &Guide, checked: &Checked) -> Result<()> {
    let invalid = |m: String| Err(ManageError::Invalid(format!("{m}; nothing was changed")));
    let Some(scopes) = &checked.scopes else {
        return invalid(format!(
            "that is a fine-grained token, which ghcr.io refuses: make a classic one at {}",
            guide.url
        ));
    };
    if !checked.login.eq_ignore_ascii_case(&guide.username) {
        return invalid(format!(
            "that token is GitHub user {}'s, but {} is {}'s",
            crate::text::printable(&checked.login, 100),
            guide.name,
            crate::text::printable(&guide.username, 100)
        ));
    }
    let missing: Vec<&str> = guide
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !covers(scopes, s))
        .collect();
    if !missing.is_empty() {
        return invalid(format!(
            "that token lacks {} that the old one has: make one at {}",
            missing.join(", "),
            guide.url
        ));
    }
    if checked.expires_at.is_some_and(|at| at <= Utc::now()) {
        return invalid("that token has expired".into());
    }
    Ok(())
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(scopes: &[&str]) -> Guide {
        Guide {
            name: TokenName::parse("ci@ghcr.io").unwrap(),
            url: "https://github.com/settings/tokens/new".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            username: "Octocat".into(),
        }
    }

    fn checked(login: &str, scopes: Option<&[&str]>, days: Option<i64>) -> Checked {
        Checked {
            login: login.into(),
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            expires_at: days.map(|d| Utc::now() + chrono::Duration::days(d)),
        }
    }

    #[test]
    fn a_new_token_must_do_the_old_ones_work() {
        let pull = guide(&[READ]);
        assert!(
            judge(&pull, &checked("octocat", Some(&[WRITE]), None)).is_ok(),
            "write grants read"
        );
        assert!(judge(&pull, &checked("octocat", Some(&[READ, "repo"]), Some(30))).is_ok());
        let push = guide(&[READ, WRITE]);
        for (bad, why) in [
            (
                checked("octocat", Some(&[READ]), None),
                "lacks write:packages",
            ),
            (
                checked("hubot", Some(&[READ, WRITE]), None),
                "GitHub user hubot's",
            ),
            (checked("octocat", None, None), "fine-grained"),
            (
                checked("octocat", Some(&[READ, WRITE]), Some(-1)),
                "has expired",
            ),
        ] {
            let error = judge(&push, &bad).unwrap_err().to_string();
            assert!(
                error.contains(why) && error.ends_with("nothing was changed"),
                "{error}"
            );
        }
        assert_eq!(encode("ci@ghcr.io (x)"), "ci%40ghcr.io%20%28x%29");
    }
}
