//! GitLab's tokens beside the stored ones (`gitlab tokens`), the audit
//! (`gitlab audit`), and revoking (`gitlab revoke`). What GitLab said of
//! each linked token is kept on its record for `tokens`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Gitlab, ManageError, Result, link_of, token_ref};
use crate::index::{RemoteOwner, RemoteView};
use crate::ledger::Entry;
use crate::names::TokenName;
use crate::remote::RemoteError;
use crate::remote::api::{RemoteToken, TokenApi, TokenRef};
use crate::remote::audit::Audited;
use crate::remote::gitlab::client::is_token_id;
use crate::usage::UsageTable;

/// One GitLab token with the stored token linked to it, for `gitlab tokens`.
pub(crate) struct Row {
    pub token: RemoteToken,
    pub local: Option<TokenName>,
    pub local_last_used: Option<DateTime<Utc>>,
}

/// What `gitlab revoke` revoked.
pub(crate) struct Revoked {
    pub id: String,
    pub owner: RemoteOwner,
    /// The stored token it was, now deleted here too.
    pub local: Option<TokenName>,
}

impl Gitlab<'_> {
    /// The stored tokens of this registry linked to GitLab.
    fn linked(&self) -> Result<Vec<Entry>> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|e| {
                e.record
                    .remote
                    .as_ref()
                    .is_some_and(|l| l.api == super::API)
            })
            .collect())
    }

    fn latest_uses(&self, entries: &[Entry]) -> HashMap<String, crate::ledger::MachineUse> {
        let usage = UsageTable::load(&self.service.paths);
        self.service.latest_uses(entries, &usage)
    }

    /// Keeps what GitLab listed for `owner` on the records linked to its
    /// tokens; a linked token of `owner` it no longer lists is gone.
    fn remember(&self, entries: &[Entry], owner: &RemoteOwner, listed: &[RemoteToken]) {
        let now = Utc::now();
        let by_id: BTreeMap<&str, &RemoteToken> =
            listed.iter().map(|t| (t.id.as_str(), t)).collect();
        let views: HashMap<String, RemoteView> = entries
            .iter()
            .filter_map(|e| {
                let link = e.record.remote.as_ref().filter(|l| &l.owner == owner)?;
                let view = by_id
                    .get(link.id.as_str())
                    .map_or_else(|| crate::remote::view::gone(now), |t| t.view(now));
                Some((e.record.id.clone(), view))
            })
            .collect();
        let _ = crate::remote::view::remember(self.service, entries, views);
    }

    /// Every token of `owner` at GitLab, with the stored token linked to it.
    pub(crate) fn rows(&self, owner: &RemoteOwner) -> Result<Vec<Row>> {
        let listed = self.managed(|api| api.list(owner))?;
        let entries = self.linked()?;
        self.remember(&entries, owner, &listed);
        let uses = self.latest_uses(&entries);
        let linked: BTreeMap<&str, &Entry> = entries
            .iter()
            .filter_map(|e| {
                let link = e.record.remote.as_ref().filter(|l| &l.owner == owner)?;
                Some((link.id.as_str(), e))
            })
            .collect();
        Ok(listed
            .into_iter()
            .map(|token| {
                let local = linked.get(token.id.as_str());
                Row {
                    local_last_used: local.and_then(|e| uses.get(&e.record.id).map(|u| u.at)),
                    local: local.map(|e| e.name.clone()),
                    token,
                }
            })
            .collect())
    }

    /// Compares GitLab's last use of each linked token with the latest use
    /// known here (on every machine, with a team server).
    pub(crate) fn audit(&self) -> Result<Vec<Audited>> {
        let entries = self.linked()?;
        let uses = self.latest_uses(&entries);
        let tolerance =
            chrono::Duration::minutes(i64::from(self.service.config.audit_tolerance_minutes));
        let mut owners: Vec<RemoteOwner> = Vec::new();
        for entry in &entries {
            let owner = &entry.record.remote.as_ref().expect("linked").owner;
            if !owners.contains(owner) {
                owners.push(owner.clone());
            }
        }
        let mut listed: BTreeMap<(RemoteOwner, String), RemoteToken> = BTreeMap::new();
        for owner in &owners {
            let tokens = self.managed(|api| api.list(owner))?;
            self.remember(&entries, owner, &tokens);
            for token in tokens {
                listed.insert((owner.clone(), token.id.clone()), token);
            }
        }
        Ok(entries
            .into_iter()
            .map(|entry| {
                let link = entry.record.remote.clone().expect("linked");
                let known = uses
                    .get(&entry.record.id)
                    .map(|u| u.at)
                    .max(link.used_before_link);
                let remote = listed.get(&(link.owner.clone(), link.id.clone()));
                let mut audited = Audited::new(
                    entry.name,
                    link.id.clone(),
                    remote.cloned(),
                    known,
                    tolerance,
                );
                audited.local_active = entry.record.active;
                audited.rotating = link.rotating.is_some();
                audited
            })
            .collect())
    }

    /// Revokes a token at GitLab — a stored one, or one given by id (of
    /// `owner`) — then deletes it here if it is stored.
    pub(crate) fn revoke(&self, text: &str, owner: Option<RemoteOwner>) -> Result<Revoked> {
        let entries = self.linked()?;
        let (reference, local) = if is_token_id(text) {
            let owner = owner.unwrap_or(RemoteOwner::Personal);
            let local = entries
                .iter()
                .find(|e| {
                    e.record
                        .remote
                        .as_ref()
                        .is_some_and(|l| l.id == text && l.owner == owner)
                })
                .map(|e| e.name.clone());
            let reference = TokenRef {
                owner,
                id: text.to_owned(),
            };
            (reference, local)
        } else {
            let (name, record) = self.stored(text)?;
            let link = link_of(&name, &record)?;
            (token_ref(&link), Some(name))
        };
        match self.managed(|api| api.revoke(&reference)) {
            Ok(()) => {}
            // Revoked or gone already: nothing is left to revoke there.
            Err(RemoteError::Refused { status: 404, .. }) if local.is_some() => {}
            Err(e) => return Err(ManageError::Remote(e)),
        }
        if let Some(name) = &local {
            self.service.delete(&[name.to_string()])?;
        }
        Ok(Revoked {
            id: reference.id,
            owner: reference.owner,
            local,
        })
    }
}
