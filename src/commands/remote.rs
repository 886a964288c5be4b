//! What the commands of every registry's token API (`hub`, `gitlab`,
//! `github`) say and read the same way: the registry acted on, expiry, when
//! to retry, ages, the audit's words.

use chrono::{DateTime, Utc};

use super::tokens::relative;
use crate::expiry;
use crate::names::TokenName;
use crate::output;
use crate::registry::Registry;
use crate::remote::ManageError;
use crate::remote::audit::{Level, Report};

/// The registry a command acts on: `--registry`, else the named token's,
/// else the registry the command family defaults to.
pub(crate) fn registry_of(
    given: Option<&str>,
    token: Option<&str>,
    default: &str,
) -> Result<Registry, ManageError> {
    let from_token = token
        .and_then(|t| TokenName::parse(t).ok())
        .map(|n| n.registry);
    match (given, from_token) {
        (Some(text), _) => Registry::parse(text).map_err(|e| {
            ManageError::Invalid(format!(
                "--registry {:?}: {e}",
                crate::text::printable(text, 80)
            ))
        }),
        (None, Some(registry)) => Ok(registry),
        (None, None) => Ok(Registry::parse(default).expect("a valid registry")),
    }
}

/// "expires on 2027-03-01 (in 90d)" or "never expires".
pub(crate) fn expiry_words(at: Option<DateTime<Utc>>) -> String {
    match at {
        Some(at) => format!(
            "expires on {} ({})",
            expiry::date(at),
            expiry::relative(Some(at), Utc::now())
        ),
        None => "never expires".into(),
    }
}

/// "retry after 14:21:47 UTC (in 59 min)".
pub(crate) fn retry_words(at: DateTime<Utc>) -> String {
    let wait = (at - Utc::now()).num_seconds().max(1);
    format!(
        "retry after {} UTC (in {})",
        at.format("%H:%M:%S"),
        crate::text::span_of(chrono::Duration::seconds(wait))
    )
}

/// "5m ago", or "never".
pub(crate) fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map_or_else(|| "never".to_owned(), |t| relative(t, now))
}

/// The audit's word for a level, in JSON.
pub(crate) fn status(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Warn => "warn",
        Level::Suspicious => "suspicious",
    }
}

/// One finding as the audit prints it: the level, the message, and the fix after a dash.
pub(crate) fn audit_line(report: &Report, colour: bool) -> String {
    let word = match report.level {
        Level::Ok => output::green("ok        ", colour),
        Level::Warn => output::yellow("warning   ", colour),
        Level::Suspicious => output::red("suspicious", colour),
    };
    let fix = report
        .fix
        .as_deref()
        .map(|f| format!(" — {f}"))
        .unwrap_or_default();
    format!(
        "{word} {}",
        crate::text::printable(&format!("{}{fix}", report.message), 4000)
    )
}
