//! When tokens stop working: reading `--expires`, judging how close an expiry
//! is, and the once-a-day note `get` gives for a token that has expired.
//!
//! `get` answers with an expired token all the same (the registry's own
//! refusal is what Docker shows), plus one line on stderr. To keep that line
//! to once a day per token without touching the disk on every pull, the fact
//! that it was given is a key in the kernel keyring that expires after a
//! day; the check runs only once the token's expiry, already read with its
//! record, has passed. Where there is no kernel keyring a small marker file
//! plays that part.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::config::Paths;

/// The furthest ahead an expiry may be set: ten years.
const MAX_DAYS: i64 = 3650;
const DAY_SECONDS: u32 = 24 * 3600;

/// How a token stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No expiry known, or it never expires.
    Open,
    Later,
    /// Within the warning window.
    Soon,
    Expired,
}

/// Where `expires_at` leaves a token at `now`, warning `warn_days` ahead.
pub fn standing(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>, warn_days: u32) -> Standing {
    match expires_at {
        None => Standing::Open,
        Some(at) if at <= now => Standing::Expired,
        Some(at) if at - now <= Duration::days(i64::from(warn_days)) => Standing::Soon,
        Some(_) => Standing::Later,
    }
}

/// `--expires`: a number of days from `now`, or a date (`YYYY-MM-DD`, the start of that day in UTC).
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let at = if let Ok(days) = text.parse::<i64>() {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(format!(
                "--expires {days}: give 1 to {MAX_DAYS} days, or a date (YYYY-MM-DD)"
            ));
        }
        now + Duration::days(days)
    } else {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            format!(
                "--expires {:?}: give a number of days or a date (YYYY-MM-DD)",
                crate::text::printable(text, 40)
            )
        })?;
        date.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    };
    if at <= now {
        return Err(format!("--expires {text}: that date has passed"));
    }
    if at > now + Duration::days(MAX_DAYS) {
        return Err(format!("--expires {text}: at most {MAX_DAYS} days ahead"));
    }
    // Whole seconds: what RFC 3339 in our JSON and Hub's API carry.
    Ok(DateTime::from_timestamp(at.timestamp(), 0).expect("in range"))
}

/// How the EXPIRES column reads: `-`, `in 40d`, `in 5h`, `expired`.
pub fn relative(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = expires_at else {
        return "-".into();
    };
    let seconds = (at - now).num_seconds();
    match seconds {
        ..=0 => "expired".into(),
        1..3600 => format!("in {}m", (seconds + 59) / 60),
        3600..86400 => format!("in {}h", seconds / 3600),
        // To the nearest day: a 90-day token made a moment ago expires "in 90d".
        _ => format!("in {}d", (seconds + 43_200) / 86400),
    }
}

/// The day part of an expiry, as people read it in messages.
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// True the first time in a day that this token's expiry is mentioned; the
/// mention is recorded at once, so concurrent pulls rarely repeat it.
pub fn first_note_today(paths: &Paths, token_id: &str) -> bool {
    platform::first_note_today(paths, token_id)
}

#[cfg(target_os = "linux")]
mod platform {
    use super::DAY_SECONDS;
    use crate::config::Paths;
    use crate::kernel_keyring::{self, Entry};

    pub fn first_note_today(paths: &Paths, token_id: &str) -> bool {
        let description = format!(
            "docker-credential-pat:expired:{}:{}",
            kernel_keyring::short_hash(paths.data_dir.as_os_str().as_encoded_bytes()),
            kernel_keyring::short_hash(token_id.as_bytes())
        );
        let entry = Entry::new(&description, "note of an expired token");
        if entry.load(8).is_some() {
            return false;
        }
        // Without a keyring to remember it in, noting on every use beats never noting.
        let _ = entry.store(b"noted", DAY_SECONDS);
        true
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::DAY_SECONDS;
    use crate::config::Paths;

    /// A marker file per token, whose age says when the note was last given.
    pub fn first_note_today(paths: &Paths, token_id: &str) -> bool {
        let dir = paths.data_dir.join("expiry-notes");
        let marker = dir.join(crate::kernel_keyring::short_hash(token_id.as_bytes()));
        let recent = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() < u64::from(DAY_SECONDS));
        if recent {
            return false;
        }
        let _ = crate::fsutil::ensure_private_dir(&dir)
            .map_err(|_| ())
            .and_then(|()| crate::fsutil::write_atomic(&marker, b"").map_err(|_| ()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn expires_takes_days_or_a_future_date() {
        let now = at("2026-03-01T10:30:00Z");
        assert_eq!(parse("30", now).unwrap(), at("2026-03-31T10:30:00Z"));
        assert_eq!(
            parse("2026-06-01", now).unwrap(),
            at("2026-06-01T00:00:00Z")
        );
        for bad in [
            "0",
            "-3",
            "3651",
            "2026-03-01",
            "2025-12-31",
            "soon",
            "2026-02-30",
            "2040-01-01",
        ] {
            assert!(parse(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn standing_and_column_follow_the_warning_window() {
        let now = at("2026-03-01T00:00:00Z");
        assert_eq!(standing(None, now, 14), Standing::Open);
        assert_eq!(standing(Some(now), now, 14), Standing::Expired);
        assert_eq!(
            standing(Some(at("2026-03-10T00:00:00Z")), now, 14),
            Standing::Soon
        );
        assert_eq!(
            standing(Some(at("2026-04-10T00:00:00Z")), now, 14),
            Standing::Later
        );
        assert_eq!(relative(None, now), "-");
        assert_eq!(relative(Some(at("2026-02-01T00:00:00Z")), now), "expired");
        assert_eq!(relative(Some(at("2026-03-01T00:10:00Z")), now), "in 10m");
        assert_eq!(relative(Some(at("2026-03-01T05:00:00Z")), now), "in 5h");
        assert_eq!(relative(Some(at("2026-04-10T00:00:00Z")), now), "in 40d");
        assert_eq!(relative(Some(at("2026-04-09T23:59:00Z")), now), "in 40d");
    }

    #[test]
    fn the_note_is_given_once_a_day_per_token() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::home(dir.path().into());
        let (one, two) = (crate::ids::new_id(), crate::ids::new_id());
        assert!(first_note_today(&paths, &one));
        assert!(!first_note_today(&paths, &one));
        assert!(first_note_today(&paths, &two));
    }
}
