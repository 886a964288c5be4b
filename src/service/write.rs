//! Writing a token: what its fields must be, the policy check, and the
//! record and secret put in one commit.
//!
//! Every path that stores a secret comes through here: the protocol's
//! `store`, `add`, `import`, `migrate` and the Hub's `create` and `rotate`.
//! A new secret is written to its store before the record refers to it; a
//! secret that changed drops what was known of the old one (its expiry,
//! its Hub link), since a different secret is a different token.

use chrono::{DateTime, Utc};

use super::Service;
use crate::error::{Result, ServiceError};
use crate::index::{HubLink, RemoteLink, RemoteView, TokenRecord};
use crate::ledger::Edit;
use crate::names::TokenName;
use crate::policy::{self, SecretKind};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::store::BackendKind;

const MAX_USERNAME_LEN: usize = 1024;
const MAX_DESCRIPTION_LEN: usize = 200;

/// What a new or replaced token should look like.
pub struct TokenSpec<'a> {
    pub name: TokenName,
    pub username: &'a str,
    pub server_url: String,
    pub secret: &'a Secret,
    /// `Some` replaces the description; `None` keeps the current one.
    pub description: Option<String>,
    pub make_default: bool,
}

/// What is known of a secret beyond itself: when it expires, which Hub (or
/// other registry) token it is, and what the registry last said of it.
#[derive(Debug, Clone, Default)]
pub struct TokenFacts {
    pub expires_at: Option<DateTime<Utc>>,
    pub hub: Option<HubLink>,
    pub remote: Option<RemoteLink>,
    pub seen: Option<RemoteView>,
}

/// What `put_token_with` does with a token's facts. Made once per write and
/// consumed by it, so the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Facts {
    /// Keeps them while the secret is the one already stored, and drops them
    /// for a different one (a different secret is a different token);
    /// `expires_at`, when given, replaces the expiry either way. With
    /// `compare`, the old secret is read to say whether the new one differs
    /// even when nothing is known of it (one more read: asked only where a
    /// registry's check of a new secret needs it).
    Carry {
        expires_at: Option<DateTime<Utc>>,
        compare: bool,
    },
    /// The new secret's own facts, as Hub has just described it.
    Replace(TokenFacts),
}

/// What `put_token` did, for the caller to report.
pub struct PutOutcome {
    pub replaced: bool,
    pub reactivated: bool,
    pub backend: BackendKind,
    /// The secret changed, so the expiry and Hub link known for the old one were dropped.
    pub dropped_facts: bool,
    /// Whether the secret is not the one stored before (or the token is
    /// new), when that is known: what a registry says of a token is worth
    /// asking again. `None` when it was not compared.
    pub new_secret: Option<bool>,
}

impl Service {
    /// Refuses a password where the account requires tokens; returns what the secret is.
    pub fn check_policy(
        &self,
        registry: &Registry,
        username: &str,
        secret: &Secret,
    ) -> Result<SecretKind> {
        let kind = policy::classify(registry, username, secret.expose(), &self.config);
        policy::check_store(registry, username, kind, &self.config)?;
        Ok(kind)
    }

    /// Writes a token and its secret, and commits. The caller has checked the policy.
    pub(crate) fn put_token(&self, edit: &mut dyn Edit, spec: TokenSpec<'_>) -> Result<PutOutcome> {
        let facts = Facts::Carry {
            expires_at: None,
            compare: false,
        };
        self.put_token_with(edit, spec, facts)
    }

    /// [`Service::put_token`], saying what becomes of the token's expiry and Hub link.
    pub(crate) fn put_token_with(
        &self,
        edit: &mut dyn Edit,
        spec: TokenSpec<'_>,
        facts: Facts,
    ) -> Result<PutOutcome> {
        let kind = policy::classify(
            &spec.name.registry,
            spec.username,
            spec.secret.expose(),
            &self.config,
        );
        let existing = edit.token(&spec.name)?;
        let (facts, dropped_facts, same, compare) = match facts {
            Facts::Replace(facts) => (facts, false, None, false),
            Facts::Carry {
                expires_at,
                compare,
            } => {
                let (mut kept, dropped, same) =
                    carried_facts(edit, &spec.name, existing.as_ref(), spec.secret)?;
                kept.expires_at = expires_at.or(kept.expires_at);
                (kept, dropped, same, compare)
            }
        };
        let new_secret = match (&existing, same) {
            (None, _) => Some(true),
            (Some(_), Some(same)) => Some(!same),
            // An old secret that cannot be read counts as another.
            (Some(_), None) if compare => Some(
                edit.secret(&spec.name)
                    .ok()
                    .flatten()
                    .is_none_or(|old| old != *spec.secret),
            ),
            (Some(_), None) => None,
        };
        let now = Utc::now();
        let fresh = TokenRecord {
            id: crate::ids::new_id(),
            secret: crate::index::SecretRef::new(BackendKind::Keychain),
            username: spec.username.to_owned(),
            server_url: spec.server_url,
            description: spec.description,
            created_at: now,
            rotated_at: now,
            active: true,
            kind,
            expires_at: facts.expires_at,
            hub: facts.hub,
            remote: facts.remote,
            seen: facts.seen,
        };
        // A replaced token keeps its id, its place and its history.
        let record = match existing.clone() {
            Some(old) => TokenRecord {
                id: old.id,
                secret: old.secret,
                created_at: old.created_at,
                description: fresh.description.clone().or(old.description),
                ..fresh
            },
            None => fresh,
        };
        let backend = edit.put(&spec.name, record, spec.secret)?;
        if spec.make_default {
            edit.set_default(&spec.name)?;
        }
        edit.commit()?;
        Ok(PutOutcome {
            replaced: existing.is_some(),
            reactivated: existing.as_ref().is_some_and(|t| !t.active),
            backend,
            dropped_facts,
            new_secret,
        })
    }
}

/// What is known of `existing` beyond its secret, kept when `secret` is the
/// one it holds; else none, whether there were any to drop, and whether the
/// secret is the same (`None`: not compared). The old secret is read only
/// when there is something to keep.
fn carried_facts(
    edit: &mut dyn Edit,
    name: &TokenName,
    existing: Option<&TokenRecord>,
    secret: &Secret,
) -> Result<(TokenFacts, bool, Option<bool>)> {
    let Some(existing) = existing.filter(|t| {
        t.expires_at.is_some() || t.hub.is_some() || t.remote.is_some() || t.seen.is_some()
    }) else {
        return Ok((TokenFacts::default(), false, None));
    };
    // An old secret that cannot be read counts as a different one: nothing wrong is kept.
    let same = edit
        .secret(name)
        .ok()
        .flatten()
        .is_some_and(|old| old == *secret);
    Ok(if same {
        let facts = TokenFacts {
            expires_at: existing.expires_at,
            hub: existing.hub.clone(),
            remote: existing.remote.clone(),
            seen: existing.seen.clone(),
        };
        (facts, false, Some(true))
    } else {
        (TokenFacts::default(), true, Some(false))
    })
}

/// Usernames go into JSON and onto terminals; keep them to one printable line.
pub fn check_username(username: &str) -> Result<()> {
    if username.len() > MAX_USERNAME_LEN {
        return Err(ServiceError::Invalid(format!(
            "username is longer than {MAX_USERNAME_LEN} bytes"
        )));
    }
    if crate::text::has_control(username) {
        return Err(ServiceError::Invalid(
            "username contains a control character".into(),
        ));
    }
    Ok(())
}

pub fn clean_description(text: &str) -> Result<Option<String>> {
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(ServiceError::Invalid(format!(
            "description is longer than {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    if crate::text::has_control(text) {
        return Err(ServiceError::Invalid(
            "description contains a control character".into(),
        ));
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}
