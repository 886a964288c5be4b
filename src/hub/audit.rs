//! The audit rule: a use Docker Hub saw that nobody here can account for.
//!
//! Hub records when each token was last used, wherever that was. The helper
//! knows every use it served (and, with a shared backend, every machine's)
//! and its own checks of a token at Hub. If Hub's last use is later than the
//! latest of those by more than the tolerance, or Hub saw a use of a token
//! never used where we can see, someone else holds a copy.

use chrono::{DateTime, Duration, Utc};

/// What the comparison found for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hub has never seen the token used.
    Unused,
    /// Hub's last use matches one we know of.
    Accounted,
    /// Hub saw a use `after` the latest known one (beyond the tolerance).
    Unaccounted { after: Duration },
    /// Hub saw a use of a token never used where we can see.
    Unseen,
}

/// Compares Hub's last use with the latest known one.
pub(crate) fn judge(
    hub_last_used: Option<DateTime<Utc>>,
    known_last_use: Option<DateTime<Utc>>,
    tolerance: Duration,
) -> Verdict {
    match (hub_last_used, known_last_use) {
        (None, _) => Verdict::Unused,
        (Some(_), None) => Verdict::Unseen,
        (Some(hub), Some(known)) if hub > known + tolerance => {
            Verdict::Unaccounted { after: hub - known }
        }
        (Some(_), Some(_)) => Verdict::Accounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_hub_use_beyond_every_known_use_and_the_tolerance_is_suspicious() {
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
            "an older Hub use was one of ours"
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
