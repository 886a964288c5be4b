//! The audit rule, for every registry that records last uses: a use the
//! registry saw that nobody here can account for.
//!
//! A registry records when each token was last used, wherever that was. The
//! helper knows every use it served (and, with a shared backend, every
//! machine's: the fleet's last use on OpenBao) and its own checks of a token
//! at the registry. If the registry's last use is later than the latest of
//! those by more than the tolerance, or the registry saw a use of a token
//! never used where we can see, someone else holds a copy.
//!
//! What the audit found is said here too, one [`Report`] a finding, so each
//! registry's `audit` command and `doctor` say it in the same words.
//! Docker Hub's personal tokens add their own findings (`hub::audit`); the
//! registries behind [`TokenApi`] alone use [`Audited`].
//!
//! [`TokenApi`]: super::api::TokenApi

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::api::{RemoteToken, TokenApi};
use crate::names::TokenName;

/// What the comparison found for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The registry has never seen the token used.
    Unused,
    /// The registry's last use matches one we know of.
    Accounted,
    /// The registry saw a use `after` the latest known one (beyond the tolerance).
    Unaccounted { after: Duration },
    /// The registry saw a use of a token never used where we can see.
    Unseen,
}

/// Compares the registry's last use with the latest known one.
pub(crate) fn judge(
    remote_last_used: Option<DateTime<Utc>>,
    known_last_use: Option<DateTime<Utc>>,
    tolerance: Duration,
) -> Verdict {
    match (remote_last_used, known_last_use) {
        (None, _) => Verdict::Unused,
        (Some(_), None) => Verdict::Unseen,
        (Some(remote), Some(known)) if remote > known + tolerance => Verdict::Unaccounted {
            after: remote - known,
        },
        (Some(_), Some(_)) => Verdict::Accounted,
    }
}

/// How one audited token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    /// Out of step with the registry, but not a sign of misuse.
    Warn,
    Suspicious,
}

/// One finding in words: how it stands, what was found, what to do.
pub(crate) struct Report {
    pub level: Level,
    pub message: String,
    pub fix: Option<String>,
}

/// One stored token linked to a registry's token, as the audit sees it.
pub(crate) struct Audited {
    pub name: TokenName,
    pub id: String,
    /// `None`: the registry no longer has the token.
    pub remote: Option<RemoteToken>,
    pub known_last_use: Option<DateTime<Utc>>,
    pub verdict: Option<Verdict>,
    /// Whether the stored token is active here.
    pub local_active: bool,
    /// A rotation of it was started and not known to have ended.
    pub rotating: bool,
}

impl Audited {
    /// Compares what the registry says of one token with the latest known use.
    pub(crate) fn new(
        name: TokenName,
        id: String,
        remote: Option<RemoteToken>,
        known_last_use: Option<DateTime<Utc>>,
        tolerance: Duration,
    ) -> Self {
        let verdict = remote
            .as_ref()
            .map(|t| judge(t.last_used_at, known_last_use, tolerance));
        Self {
            name,
            id,
            remote,
            known_last_use,
            verdict,
            local_active: true,
            rotating: false,
        }
    }

    /// What the audit found for this token at `registry`, most serious
    /// first, with fixes among the verbs that registry has.
    pub(crate) fn reports(&self, registry: &dyn TokenApi) -> Vec<Report> {
        let api = &registry.name();
        let command = registry.command();
        let stop = if registry.capabilities().deactivate {
            "deactivate"
        } else {
            "revoke"
        };
        let name = &self.name;
        let mut reports = Vec::new();
        let Some(remote) = &self.remote else {
            reports.push(Report {
                level: Level::Warn,
                message: format!("{name}: its token {} is no longer at {api}", self.id),
                fix: Some(format!(
                    "if it was removed there, `docker-credential-pat delete {name}` removes it here too"
                )),
            });
            return reports;
        };
        let seen = |at: Option<DateTime<Utc>>| {
            at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let suspicious_fix = format!(
            "if that was not you, `docker-credential-pat {command} rotate {name}` replaces it, or `docker-credential-pat {command} {stop} {name}` stops it now"
        );
        reports.push(match self.verdict {
            Some(Verdict::Unaccounted { after }) => Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: {api} saw it used at {}, {} after the last use known here ({})",
                    seen(remote.last_used_at),
                    crate::text::span_of(after),
                    seen(self.known_last_use)
                ),
                fix: Some(suspicious_fix),
            },
            Some(Verdict::Unseen) => Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: {api} saw it used at {}, and it was never used where this helper can see",
                    seen(remote.last_used_at)
                ),
                fix: Some(suspicious_fix),
            },
            Some(Verdict::Accounted) => Report {
                level: Level::Ok,
                message: format!(
                    "{name}: {api}'s last use ({}) matches a use known here",
                    seen(remote.last_used_at)
                ),
                fix: None,
            },
            Some(Verdict::Unused) | None => Report {
                level: Level::Ok,
                message: format!("{name}: {api} has not seen it used"),
                fix: None,
            },
        });
        if !remote.is_active() && self.local_active {
            reports.push(Report {
                level: Level::Warn,
                message: format!(
                    "{name} is {} at {api} but active here",
                    remote.state.word()
                ),
                fix: Some(format!(
                    "`docker-credential-pat {command} rotate {name}` replaces it, or `docker-credential-pat deactivate {name}`"
                )),
            });
        }
        if self.rotating {
            reports.push(Report {
                level: Level::Warn,
                message: format!("a rotation of {name} was interrupted"),
                fix: Some(format!(
                    "`docker-credential-pat {command} rotate {name}` reads {api}'s state and finishes it"
                )),
            });
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_registry_use_beyond_every_known_use_and_the_tolerance_is_suspicious() {
        let ten = Duration::minutes(10);
        let known = Some(at("2026-03-01T12:00:00Z"));
        assert_eq!(judge(None, known, ten), Verdict::Unused);
        assert_eq!(judge(None, None, ten), Verdict::Unused);
        assert_eq!(
            judge(Some(at("2026-03-01T12:09:59Z")), known, ten),
            Verdict::Accounted
        );
        assert_eq!(
            judge(Some(at("2026-03-01T11:00:00Z")), known, ten),
            Verdict::Accounted,
            "an older registry use was one of ours"
        );
        let late = judge(Some(at("2026-03-01T12:30:00Z")), known, ten);
        assert_eq!(
            late,
            Verdict::Unaccounted {
                after: Duration::minutes(30)
            }
        );
        let unseen = judge(Some(at("2026-03-01T12:00:00Z")), None, ten);
        assert_eq!(unseen, Verdict::Unseen);
        assert_eq!(
            judge(Some(at("2026-03-01T12:00:01Z")), known, Duration::zero()),
            Verdict::Unaccounted {
                after: Duration::seconds(1)
            }
        );
    }
}
