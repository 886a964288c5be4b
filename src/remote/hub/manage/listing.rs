//! Hub's tokens beside the stored ones (`hub tokens`), and the audit
//! (`hub audit`, and `doctor` while a session is open).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Hub, Result};
use crate::index::{HubResource, TokenRecord};
use crate::ledger::{Entry, MachineUse};
use crate::names::TokenName;
use crate::remote::hub::audit::{self, Audit, Audited};
use crate::remote::hub::client::HubToken;
use crate::usage::UsageTable;

/// One Hub token with its local counterpart, for `hub tokens`.
pub(crate) struct Row {
    pub token: HubToken,
    pub local: Option<TokenName>,
    pub local_last_used: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// What an organisation token reaches, as its stored record keeps it
    /// (Hub's listing leaves it out).
    pub resources: Vec<HubResource>,
}

impl Hub<'_> {
    /// The latest known use of each of `entries`, on any machine.
    fn latest_uses(&self, entries: &[Entry]) -> HashMap<String, MachineUse> {
        let usage = UsageTable::load(&self.service.paths);
        self.service.latest_uses(entries, &usage)
    }

    /// Every token on Hub, with the stored token linked to it and that token's last known use.
    pub(crate) fn rows(&self) -> Result<Vec<Row>> {
        let session = self.session()?;
        let tokens = self.with_session(&session, |c, s| c.list(s))?;
        crate::remote::hub::api::remember(self.service, &tokens, self.org.as_deref());
        let entries: Vec<Entry> = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.record.hub.is_some())
            .collect();
        let uses = self.latest_uses(&entries);
        let linked: BTreeMap<String, (TokenName, TokenRecord)> = entries
            .into_iter()
            .filter_map(|e| {
                let uuid = e.record.hub.as_ref()?.uuid.clone();
                Some((uuid, (e.name, e.record)))
            })
            .collect();
        Ok(tokens
            .into_iter()
            .map(|token| {
                let local = linked.get(&token.uuid);
                Row {
                    expires_at: token
                        .expires_at
                        .or_else(|| local.and_then(|(_, r)| r.expires_at)),
                    local_last_used: local.and_then(|(_, r)| uses.get(&r.id).map(|u| u.at)),
                    resources: local
                        .and_then(|(_, r)| Some(r.hub.as_ref()?.resources.clone()))
                        .unwrap_or_default(),
                    local: local.map(|(n, _)| n.clone()),
                    token,
                }
            })
            .collect())
    }

    /// Compares Hub's last use of each linked token with the latest known use.
    pub(crate) fn audit(&self) -> Result<Audit> {
        let session = self.session()?;
        let listed = self.with_session(&session, |c, s| c.list(s))?;
        crate::remote::hub::api::remember(self.service, &listed, self.org.as_deref());
        let hub: BTreeMap<String, HubToken> =
            listed.into_iter().map(|t| (t.uuid.clone(), t)).collect();
        let (mine, skipped): (Vec<Entry>, Vec<Entry>) = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.record.hub.is_some())
            .partition(|e| self.owns(&e.record, &session.username));
        let uses = self.latest_uses(&mine);
        let tolerance =
            chrono::Duration::minutes(i64::from(self.service.config.audit_tolerance_minutes));
        let tokens: Vec<Audited> = mine
            .into_iter()
            .map(|entry| {
                let link = entry.record.hub.clone().expect("filtered");
                // Uses Hub saw before the link were made before this helper held the token.
                let known_last_use = uses
                    .get(&entry.record.id)
                    .map(|u| u.at)
                    .max(link.used_before_link);
                let token = hub.get(&link.uuid).cloned();
                Audited {
                    verdict: token
                        .as_ref()
                        .map(|t| audit::judge(t.last_used, known_last_use, tolerance)),
                    retiring: link.retiring.clone().map(|r| {
                        let active = hub.get(&r.uuid).is_some_and(|t| t.is_active);
                        (r, active)
                    }),
                    local_active: entry.record.active,
                    name: entry.name,
                    uuid: link.uuid,
                    hub: token,
                    known_last_use,
                }
            })
            .collect();
        let linked: BTreeMap<&str, &TokenName> = tokens
            .iter()
            .flat_map(|t: &Audited| {
                let retiring = t.retiring.as_ref().map(|(r, _)| (r.uuid.as_str(), &t.name));
                std::iter::once((t.uuid.as_str(), &t.name)).chain(retiring)
            })
            .collect();
        let labels: BTreeMap<&str, &TokenName> = tokens
            .iter()
            .filter_map(|t: &Audited| Some((t.hub.as_ref()?.token_label.as_str(), &t.name)))
            .filter(|(label, _)| !label.is_empty())
            .collect();
        let strays = hub
            .values()
            .filter(|t| t.is_active && !linked.contains_key(t.uuid.as_str()))
            // An expired token works nowhere, whatever Hub's switch says.
            .filter(|t| t.expires_at.is_none_or(|at| at > chrono::Utc::now()))
            .filter_map(|t| Some((t.clone(), (*labels.get(t.token_label.as_str())?).clone())))
            .collect();
        let other_accounts = skipped.into_iter().map(|e| e.name).collect();
        Ok(Audit {
            org: self.org.clone(),
            username: match &self.org {
                Some(org) => format!("the organisation {org}"),
                None => session.username.clone(),
            },
            tokens,
            skipped: other_accounts,
            strays,
        })
    }
}
