//! The audit of Docker Hub's personal tokens: the shared rule
//! ([`crate::remote::audit`]) applied to what Hub lists, and what it found
//! there in words, one [`Report`] a finding, so the `hub audit` command and
//! `doctor` say it in the same words.

use chrono::{DateTime, Utc};

use super::client::{HubToken, rfc3339};
use crate::index::Retiring;
use crate::names::TokenName;
pub(crate) use crate::remote::audit::{Level, Report, Verdict, judge};

/// One linked token as the audit sees it.
pub(crate) struct Audited {
    pub name: TokenName,
    pub uuid: String,
    /// `None`: Hub no longer has the token.
    pub hub: Option<HubToken>,
    pub known_last_use: Option<DateTime<Utc>>,
    pub verdict: Option<Verdict>,
    /// A replaced token still to be switched off, and whether Hub still has it active.
    pub retiring: Option<(Retiring, bool)>,
    /// Whether the stored token is active here.
    pub local_active: bool,
}

impl Audited {
    /// What the audit found for this token, most serious first.
    pub(crate) fn reports(&self) -> Vec<Report> {
        let name = &self.name;
        let mut reports = Vec::new();
        let Some(hub) = &self.hub else {
            reports.push(Report {
                level: Level::Warn,
                message: format!("{name}: its token {} is no longer on Docker Hub", self.uuid),
                fix: Some(format!(
                    "if it was deleted there, `docker-credential-pat delete {name}` removes it here too"
                )),
            });
            return reports;
        };
        let seen = |at: DateTime<Utc>| rfc3339(at);
        match self.verdict {
            Some(Verdict::Unaccounted { after }) => reports.push(Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: Docker Hub saw it used at {}, {} after the last use known here ({})",
                    hub.last_used.map(seen).unwrap_or_default(),
                    crate::text::span_of(after),
                    self.known_last_use.map(seen).unwrap_or_default()
                ),
                fix: Some(suspicious_fix(name)),
            }),
            Some(Verdict::Unseen) => reports.push(Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: Docker Hub saw it used at {}, and it was never used where this helper can see",
                    hub.last_used.map(seen).unwrap_or_default()
                ),
                fix: Some(suspicious_fix(name)),
            }),
            Some(Verdict::Accounted) => reports.push(Report {
                level: Level::Ok,
                message: format!(
                    "{name}: Docker Hub's last use ({}) matches a use known here",
                    hub.last_used.map(seen).unwrap_or_default()
                ),
                fix: None,
            }),
            Some(Verdict::Unused) | None => reports.push(Report {
                level: Level::Ok,
                message: format!("{name}: Docker Hub has not seen it used"),
                fix: None,
            }),
        }
        if !hub.is_active && self.local_active {
            reports.push(Report {
                level: Level::Warn,
                message: format!("{name} is inactive on Docker Hub but active here"),
                fix: Some(format!(
                    "`docker-credential-pat hub activate {name}`, or `deactivate {name}` to match Hub"
                )),
            });
        }
        if let Some((retiring, true)) = &self.retiring {
            reports.push(Report {
                level: Level::Warn,
                message: format!(
                    "{name} replaced Hub token {}, which is still active",
                    retiring.uuid
                ),
                fix: Some(format!(
                    "`docker-credential-pat hub {} {}`",
                    if retiring.delete {
                        "delete"
                    } else {
                        "deactivate"
                    },
                    retiring.uuid
                )),
            });
        }
        reports
    }
}

fn suspicious_fix(name: &TokenName) -> String {
    format!(
        "if that was not you, `docker-credential-pat hub rotate {name}` replaces it, or `docker-credential-pat hub deactivate {name}` stops it now"
    )
}

/// The audit: the tokens compared, and the linked tokens of other accounts left out.
pub(crate) struct Audit {
    pub username: String,
    /// The organisation whose tokens were audited; `None`: the account's own.
    pub org: Option<String>,
    pub tokens: Vec<Audited>,
    pub skipped: Vec<TokenName>,
    /// Active Hub tokens stored nowhere here that carry a linked token's
    /// label: what a `create` or `rotate` stopped right after Hub made the
    /// token leaves behind.
    pub strays: Vec<(HubToken, TokenName)>,
}

impl Audit {
    pub(crate) fn stray_reports(&self) -> Vec<Report> {
        self.strays
            .iter()
            .map(|(token, like)| Report {
                level: Level::Warn,
                message: format!(
                    "Docker Hub token {} (\"{}\") is active and stored nowhere here; it has the label of {like}'s token, as an interrupted `hub create` or `hub rotate` leaves one",
                    token.uuid,
                    crate::text::printable(&token.token_label, 100)
                ),
                fix: Some(format!(
                    "if nothing else uses it, `docker-credential-pat hub delete {}{}`",
                    super::org_flag(self.org.as_deref()),
                    token.uuid
                )),
            })
            .collect()
    }
}
