//! What a registry said of each stored token, kept on the token's record
//! (and so on a team's server with it), so that `tokens` shows the
//! registry's view — state, scopes, expiry, its last use — without a call.
//!
//! Every listing or audit that reads a registry's tokens hands what it read
//! here. A record is written only when the view changed, or when the one it
//! holds is an hour old; a failure to keep a view never fails the command
//! that read it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::ServiceError;
use crate::index::RemoteView;
use crate::ledger::Entry;
use crate::service::Service;

/// A view this old is written again even when nothing in it changed.
const REFRESH: chrono::Duration = chrono::Duration::hours(1);

/// The state word of a linked token the registry no longer lists.
pub(crate) const GONE: &str = "gone";

/// A view of a token the registry no longer has.
pub(crate) fn gone(now: DateTime<Utc>) -> RemoteView {
    RemoteView {
        state: GONE.into(),
        scopes: Vec::new(),
        expires_at: None,
        last_used_at: None,
        seen_at: now,
    }
}

/// Keeps `views` (by token record id) on the records of `entries` they
/// belong to, in one commit, writing only those that changed.
pub(crate) fn remember(
    service: &Service,
    entries: &[Entry],
    views: HashMap<String, RemoteView>,
) -> Result<(), ServiceError> {
    let changed: Vec<String> = entries
        .iter()
        .filter(|e| {
            views
                .get(&e.record.id)
                .is_some_and(|view| differs(e.record.seen.as_ref(), view))
        })
        .map(|e| e.name.to_string())
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    service.update_tokens(&changed, |record| {
        if let Some(view) = views.get(&record.id) {
            record.seen = Some(view.clone());
            // The registry's word on expiry is the one that counts.
            if view.expires_at.is_some() {
                record.expires_at = view.expires_at;
            }
        }
    })?;
    Ok(())
}

fn differs(kept: Option<&RemoteView>, new: &RemoteView) -> bool {
    let Some(kept) = kept else { return true };
    kept.state != new.state
        || kept.scopes != new.scopes
        || kept.expires_at != new.expires_at
        || kept.last_used_at != new.last_used_at
        || new.seen_at - kept.seen_at >= REFRESH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_written_again_only_when_it_changed_or_has_aged() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let kept = RemoteView {
            state: "active".into(),
            scopes: vec!["read_registry".into()],
            expires_at: Some(at("2027-01-01T00:00:00Z")),
            last_used_at: None,
            seen_at: at("2026-06-01T12:00:00Z"),
        };
        let mut new = kept.clone();
        new.seen_at = at("2026-06-01T12:30:00Z");
        assert!(!differs(Some(&kept), &new));
        assert!(differs(None, &new));
        new.last_used_at = Some(at("2026-06-01T12:20:00Z"));
        assert!(differs(Some(&kept), &new));
        let mut aged = kept.clone();
        aged.seen_at = at("2026-06-01T13:00:00Z");
        assert!(differs(Some(&kept), &aged));
    }
}
