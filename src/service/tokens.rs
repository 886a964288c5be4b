//! Tokens as people see and change them: listed with their last use,
//! found by name (or the names that come close), renamed, made default,
//! (de)activated, deleted and described. Every change is one ledger commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::Service;
use super::write::clean_description;
use crate::error::{Result, ServiceError};
use crate::index::TokenRecord;
use crate::ledger::{Edit, Entry, MachineUse};
use crate::names::{Integration, TokenName};
use crate::policy::{self, SecretKind};
use crate::registry::Registry;
use crate::usage::{self, Usage, UsageTable};

/// A token as people see it: its record joined with its usage.
pub struct TokenView {
    pub name: TokenName,
    pub record: TokenRecord,
    pub is_default: bool,
    /// This machine's own uses.
    pub usage: Usage,
    /// The latest use on any machine, this one included.
    pub last_use: Option<MachineUse>,
    /// A password stored for an account where tokens are now required.
    pub password_on_protected_account: bool,
}

impl Service {
    /// Finds a token by name, or explains which names come close.
    pub(crate) fn resolve(&self, edit: &mut dyn Edit, text: &str) -> Result<TokenName> {
        let name = TokenName::parse(text)?;
        if edit.token(&name)?.is_some() {
            return Ok(name);
        }
        let names: Vec<String> = edit
            .names()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        Err(ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: closest(&name.to_string(), &names),
        })
    }

    /// Every token with its usage, in name order.
    pub fn tokens(&self) -> Result<Vec<TokenView>> {
        let entries = self.ledger()?.entries()?;
        let usage = UsageTable::load(&self.paths);
        let latest = self.latest_uses(&entries, &usage);
        Ok(entries
            .into_iter()
            .map(|entry| self.view(entry, &usage, &latest))
            .collect())
    }

    /// The latest known use of each token (by id), on this machine or on any
    /// other that reported one to the server; tokens never used are left out.
    /// Every use this helper can see is here: `get` on any machine, and its
    /// own checks of a token at Docker Hub (recorded as uses, as Hub counts them).
    pub fn latest_uses(
        &self,
        entries: &[Entry],
        usage: &UsageTable,
    ) -> HashMap<String, MachineUse> {
        let here = usage::this_machine(&self.config);
        let ids: Vec<&str> = entries.iter().map(|e| e.record.id.as_str()).collect();
        let mut latest = self
            .ledger()
            .map(|ledger| ledger.reported_uses(&ids))
            .unwrap_or_default();
        for id in ids {
            let local = usage.get(id);
            let (Some(at), Some(client)) = (local.last_used_at, local.last_client) else {
                continue;
            };
            if latest.get(id).is_none_or(|other| other.at < at) {
                latest.insert(
                    id.to_owned(),
                    MachineUse {
                        at,
                        machine: here.clone(),
                        client,
                        chosen_by: local.last_chosen_by,
                    },
                );
            }
        }
        latest
    }

    fn view(
        &self,
        entry: Entry,
        usage: &UsageTable,
        latest: &HashMap<String, MachineUse>,
    ) -> TokenView {
        let password_on_protected_account = entry.record.kind == SecretKind::Password
            && policy::tokens_required(&entry.name.registry, &entry.record.username, &self.config);
        TokenView {
            usage: usage.get(&entry.record.id),
            last_use: latest.get(&entry.record.id).cloned(),
            record: entry.record,
            is_default: entry.is_default,
            name: entry.name,
            password_on_protected_account,
        }
    }

    /// One token's view, for `history`.
    pub fn token(&self, text: &str) -> Result<TokenView> {
        let entries = self.ledger()?.entries()?;
        let entry = find_entry(&entries, text)?.clone();
        let usage = UsageTable::load(&self.paths);
        let latest = self.latest_uses(std::slice::from_ref(&entry), &usage);
        Ok(self.view(entry, &usage, &latest))
    }

    /// Applies `change` to each named token's record in one commit; all names must exist first.
    pub fn update_tokens(
        &self,
        names: &[String],
        mut change: impl FnMut(&mut TokenRecord),
    ) -> Result<Vec<TokenName>> {
        self.change_each(names, false, |edit, name| {
            if let Some(mut record) = edit.token(name)? {
                change(&mut record);
                edit.update(name, record)?;
            }
            Ok(())
        })
    }

    pub fn set_active(&self, names: &[String], active: bool) -> Result<Vec<TokenName>> {
        self.update_tokens(names, |token| token.active = active)
    }

    pub fn delete(&self, names: &[String]) -> Result<Vec<TokenName>> {
        self.change_each(names, true, |edit, name| edit.remove(name).map(drop))
    }

    /// Finds every named token first, so one unknown name changes nothing,
    /// then applies `act` to each, all in one commit. With `finish_dangling`,
    /// a name that is gone but still its registry's default counts as found.
    fn change_each(
        &self,
        names: &[String],
        finish_dangling: bool,
        mut act: impl FnMut(&mut dyn Edit, &TokenName) -> Result<()>,
    ) -> Result<Vec<TokenName>> {
        let mut edit = self.ledger()?.begin()?;
        let resolved = names
            .iter()
            .map(|n| match self.resolve(&mut *edit, n) {
                // A delete cut off after the token went but before its registry's
                // default stopped naming it: running it again finishes it.
                Err(e @ ServiceError::UnknownToken { .. }) if finish_dangling => {
                    let name = TokenName::parse(n)?;
                    let dangling = name.integration.as_str() != crate::names::DEFAULT_INTEGRATION
                        && edit.default_of(&name.registry)?.as_ref() == Some(&name.integration);
                    if dangling { Ok(name) } else { Err(e) }
                }
                other => other,
            })
            .collect::<Result<Vec<_>>>()?;
        for name in &resolved {
            act(&mut *edit, name)?;
        }
        edit.commit()?;
        Ok(resolved)
    }

    /// Removes every token of a registry; returns their names.
    pub fn delete_all(&self, registry_text: &str) -> Result<Vec<TokenName>> {
        let registry = Registry::parse(registry_text)?;
        let mut edit = self.ledger()?.begin_for(&registry)?;
        let names: Vec<TokenName> = edit
            .names()?
            .into_iter()
            .filter(|n| n.registry == registry)
            .collect();
        if names.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "there are no tokens for {registry}"
            )));
        }
        for name in &names {
            edit.remove(name)?;
        }
        edit.commit()?;
        Ok(names)
    }

    pub fn rename(&self, from: &str, new_integration: &str) -> Result<(TokenName, TokenName)> {
        let integration = Integration::parse(new_integration)?;
        let mut edit = self.ledger()?.begin()?;
        let old = self.resolve(&mut *edit, from)?;
        let new = TokenName::new(integration, old.registry.clone());
        if edit.token(&new)?.is_some() && !edit.is_copy_of(&old, &new)? {
            return Err(ServiceError::Invalid(format!(
                "{new} already exists; delete it first or choose another name"
            )));
        }
        edit.rename(&old, &new)?;
        edit.commit()?;
        Ok((old, new))
    }

    pub fn make_default(&self, text: &str) -> Result<(TokenName, bool)> {
        let mut edit = self.ledger()?.begin()?;
        let name = self.resolve(&mut *edit, text)?;
        // Read before the change: after it, nothing may fail and hide that it was made.
        let active = edit.token(&name)?.is_some_and(|t| t.active);
        edit.set_default(&name)?;
        edit.commit()?;
        Ok((name, active))
    }

    pub fn describe(&self, text: &str, description: &str) -> Result<TokenName> {
        let description = clean_description(description)?;
        let names = self.update_tokens(&[text.to_owned()], |token| {
            token.description = description.clone();
        })?;
        Ok(names.into_iter().next().expect("one name in, one out"))
    }

    /// Tokens not used (or never used) on any machine for more than `stale_after_days`.
    pub fn is_stale(&self, view: &TokenView, now: DateTime<Utc>) -> bool {
        policy::is_stale(
            view.record.created_at,
            view.last_use.as_ref().map(|u| u.at),
            self.config.stale_after_days,
            now,
        )
    }
}

/// The entry named `text`, or which names come close.
pub(crate) fn find_entry<'a>(entries: &'a [Entry], text: &str) -> Result<&'a Entry> {
    let name = TokenName::parse(text)?;
    entries.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<String> = entries.iter().map(|e| e.name.to_string()).collect();
        ServiceError::UnknownToken {
            name: name.to_string(),
            suggestions: closest(&name.to_string(), &names),
        }
    })
}

/// Up to three names closest to `wanted`.
fn closest(wanted: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(wanted, n), n))
        .filter(|(score, _)| *score > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}
