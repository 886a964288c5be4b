//! `tokens` and `history`: what is stored, and when and by whom it was used.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::exit::{CommandResult, Exit};
use crate::cli::TokensArgs;
use crate::expiry::{self, Standing};
use crate::output::{self, Table};
use crate::service::Service;
use crate::service::tokens::TokenView;

pub fn list(service: &Service, args: TokensArgs) -> CommandResult {
    let TokensArgs {
        json,
        stale: stale_only,
        expiring,
        wide,
    } = args;
    let now = Utc::now();
    let within = expiring.map(|days| days.unwrap_or(service.config.warn_expiry_days));
    let views: Vec<TokenView> = service
        .tokens()?
        .into_iter()
        .filter(|v| !stale_only || service.is_stale(v, now))
        .filter(|v| {
            within.is_none_or(|days| {
                matches!(
                    expiry::standing(v.record.expires_at, now, days),
                    Standing::Soon | Standing::Expired
                )
            })
        })
        .collect();
    let filtered = stale_only || within.is_some();
    if json {
        let items: Vec<serde_json::Value> = views.iter().map(token_json).collect();
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
    } else if views.is_empty() {
        output::note(&match (stale_only, within) {
            (true, _) => "no stale tokens".to_owned(),
            (false, Some(days)) => format!("no token expires within {days} days"),
            (false, None) => {
                "no tokens stored yet; `docker login` or `docker-credential-pat add` stores one"
                    .to_owned()
            }
        });
    } else {
        let fitted = table(
            service,
            &views,
            now,
            if wide { None } else { output::table_width() },
        );
        output::out!("{}", fitted.text);
        if let Some(note) = fitted.left_out_note() {
            output::say(&output::dim(&note, output::stdout_colour()));
        }
        if views.iter().any(|v| v.is_default) {
            output::say(&output::dim(
                "* default: used when no rule or DOCKER_PAT_INTEGRATION chooses another",
                output::stdout_colour(),
            ));
        }
        if views.iter().any(|v| v.password_on_protected_account) {
            output::warn(
                "entries marked `password` hold a password for an account that requires tokens; replace them with `docker login` and a personal access token",
            );
        }
    }
    Ok(if filtered && !views.is_empty() {
        Exit::Attention
    } else {
        Exit::Success
    })
}

fn token_json(view: &TokenView) -> serde_json::Value {
    json!({
        "token": view.name.to_string(),
        "registry": view.name.registry.key(),
        "integration": view.name.integration.as_str(),
        "username": view.record.username,
        "active": view.record.active,
        "default": view.is_default,
        "description": view.record.description,
        "created_at": timestamp(view.record.created_at),
        "rotated_at": timestamp(view.record.rotated_at),
        "last_used_at": view.last_use.as_ref().map(|u| timestamp(u.at)),
        "last_machine": view.last_use.as_ref().map(|u| &u.machine),
        "use_count": view.usage.use_count,
        "last_client": view.last_use.as_ref().map(|u| &u.client),
        "last_chosen_by": view.last_use.as_ref().and_then(|u| u.chosen_by.as_ref()),
        "expires_at": view.record.expires_at.map(timestamp),
        "hub_id": view.record.hub.as_ref().map(|h| h.uuid.as_str()),
        "hub_org": view.record.hub.as_ref().and_then(|h| h.org.as_deref()),
        "hub_resources": view.record.hub.as_ref().map(|h| &h.resources).filter(|r| !r.is_empty()),
        "remote_id": view.record.remote.as_ref().map(|r| r.id.as_str()),
        "remote_api": view.record.remote.as_ref().map(|r| r.api.as_str()),
        "registry_view": view.record.seen.as_ref().map(|seen| json!({
            "state": seen.state,
            "scopes": seen.scopes,
            "expires_at": seen.expires_at.map(timestamp),
            "last_used_at": seen.last_used_at.map(timestamp),
            "seen_at": timestamp(seen.seen_at),
        })),
    })
}

/// The columns of `tokens`, left out in this order when the terminal is
/// narrow: DESCRIPTION, CLIENT, USES, then the registry's view (what its
/// API last said: the state there and its last use, beside ours). Token
/// names are what people copy into commands, so no cell is ever cut.
const COLUMNS: [&str; 11] = [
    "TOKEN",
    "USER",
    "STATE",
    "CREATED",
    "LAST USED",
    "USED THERE",
    "THERE",
    "EXPIRES",
    "USES",
    "CLIENT",
    "DESCRIPTION",
];
const DROP_ORDER: [&str; 5] = ["DESCRIPTION", "CLIENT", "USES", "THERE", "USED THERE"];
/// Shown only when some token has a registry's view.
const VIEW_COLUMNS: [&str; 2] = ["USED THERE", "THERE"];

fn table(
    service: &Service,
    views: &[TokenView],
    now: DateTime<Utc>,
    width: Option<usize>,
) -> output::Fitted {
    let with_view = views.iter().any(|v| v.record.seen.is_some());
    let columns: Vec<&'static str> = COLUMNS
        .into_iter()
        .filter(|c| with_view || !VIEW_COLUMNS.contains(c))
        .collect();
    let specs: Vec<(&'static str, usize)> = columns.iter().map(|c| (*c, 0)).collect();
    let mut table = Table::new(&specs);
    let here = crate::usage::this_machine(&service.config);
    let ago =
        |at: Option<DateTime<Utc>>| at.map_or_else(|| "never".to_owned(), |t| relative(t, now));
    for view in views {
        let mut state = if view.record.active {
            "active".to_owned()
        } else {
            "inactive".to_owned()
        };
        if view.is_default {
            state.push('*');
        }
        if view.password_on_protected_account {
            state.push_str(" password");
        }
        let seen = view.record.seen.as_ref();
        let checked_only = view.record.rotated_by() == Some("github");
        let cell = |column: &str| match column {
            "TOKEN" => view.name.to_string(),
            "USER" => view.record.username.clone(),
            "STATE" => state.clone(),
            "CREATED" => relative(view.record.created_at, now),
            "LAST USED" => ago(view.last_use.as_ref().map(|u| u.at)),
            // GitHub keeps no last use of a classic token, but says its scopes.
            "USED THERE" if checked_only => "-".into(),
            "USED THERE" => seen.map_or_else(|| "-".into(), |s| ago(s.last_used_at)),
            "THERE" if checked_only => seen.map_or_else(
                || "-".into(),
                |s| {
                    let scopes = if s.scopes.is_empty() {
                        "no scopes".to_owned()
                    } else {
                        s.scopes.join(",")
                    };
                    format!(
                        "{} ({scopes}; checked {})",
                        s.state,
                        relative(s.seen_at, now)
                    )
                },
            ),
            "THERE" => seen.map_or_else(|| "-".into(), |s| s.state.clone()),
            "EXPIRES" => expiry::relative(view.record.expires_at, now),
            "USES" => view.usage.use_count.to_string(),
            "CLIENT" => view.last_use.as_ref().map_or_else(
                || "-".into(),
                // Where, when it was another machine of the fleet; which
                // rule chose the token, when one did (`history` says more).
                |u| {
                    let mut cell = u.client.clone();
                    if u.machine != here {
                        cell = format!("{cell} on {}", u.machine);
                    }
                    if let Some(rule) = u.chosen_by.as_deref().filter(|c| c.starts_with("rule ")) {
                        cell = format!("{cell} ({rule})");
                    }
                    cell
                },
            ),
            _ => view.record.description.clone().unwrap_or_default(),
        };
        table.row_whole(columns.iter().map(|c| cell(c)).collect());
    }
    let drop_order: Vec<usize> = DROP_ORDER
        .iter()
        .filter_map(|d| columns.iter().position(|c| c == d))
        .collect();
    table.render_whole(width, &drop_order)
}

pub fn history(service: &Service, token: &str, json: bool) -> CommandResult {
    let view = service.token(token)?;
    let uses: Vec<_> = view.usage.history.iter().rev().collect();
    if json {
        let value = json!({
            "token": view.name.to_string(),
            "use_count": view.usage.use_count,
            "last_used_at": view.usage.last_used_at.map(timestamp),
            "last_client": view.usage.last_client,
            "last_chosen_by": view.usage.last_chosen_by,
            "history": uses.iter().map(|u| json!({"at": timestamp(u.at), "client": u.client, "chosen_by": u.chosen_by})).collect::<Vec<_>>(),
        });
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
        return Ok(Exit::Success);
    }
    if uses.is_empty() {
        output::note(&format!("{} has never been used", view.name));
        return Ok(Exit::Success);
    }
    let now = Utc::now();
    let mut table = Table::new(&[
        ("WHEN (UTC)", 20),
        ("AGO", 8),
        ("CLIENT", 6),
        ("CHOSEN BY", 9),
    ]);
    for u in &uses {
        let chosen_by = u.chosen_by.clone().unwrap_or_else(|| "-".into());
        table.row(vec![
            timestamp(u.at),
            relative(u.at, now),
            u.client.clone(),
            chosen_by,
        ]);
    }
    output::out!("{}", table.render(output::table_width()));
    output::say(&format!(
        "{} use(s) in all; the last {} are kept",
        view.usage.use_count,
        crate::usage::HISTORY_LEN
    ));
    Ok(Exit::Success)
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// "just now", "5m ago", "3h ago", "12d ago".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..60 => "just now".into(),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - Duration::minutes(5), now), "5m ago");
        assert_eq!(relative(now - Duration::hours(3), now), "3h ago");
        assert_eq!(relative(now - Duration::days(12), now), "12d ago");
        assert_eq!(relative(now + Duration::minutes(5), now), "just now");
    }
}
