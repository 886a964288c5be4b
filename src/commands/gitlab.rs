//! `gitlab …`: GitLab's tokens, managed from here. The work is done in
//! [`crate::remote::gitlab`]; this turns its outcomes into lines for people,
//! and each error into one line naming the registry and saying what to do.

use chrono::{NaiveDate, Utc};
use serde_json::json;

use super::exit::{CommandResult, Exit};
use super::remote::{ago, audit_line, expiry_words, retry_words, status};
use super::tokens::timestamp;
use crate::cli::{GitlabCommand, GitlabCreateArgs, GitlabOwnerArgs};
use crate::expiry;
use crate::index::RemoteOwner;
use crate::names::Integration;
use crate::output::{self, Table};
use crate::registry::Registry;
use crate::remote::RemoteError;
use crate::remote::api::TokenApi;
use crate::remote::audit::Level;
use crate::remote::gitlab::manage::create::CreateRequest;
use crate::remote::gitlab::manage::rotate::{Recovery, RotateFailure, Step, left_words};
use crate::remote::gitlab::manage::{DEFAULT_REGISTRY, Gitlab, ManageError, owner_words};
use crate::service::Service;
use crate::service::write::{check_username, clean_description};

type Result<T, E = ManageError> = std::result::Result<T, E>;

pub fn run(service: &Service, command: GitlabCommand) -> CommandResult {
    let registry = match registry_of(&command) {
        Ok(registry) => registry,
        Err(e) => {
            output::error(&e.to_string());
            return Ok(Exit::Failure);
        }
    };
    let gitlab = match Gitlab::open(service, &registry) {
        Ok(gitlab) => gitlab,
        Err(e) => {
            output::error(&e.to_string());
            return Ok(Exit::Failure);
        }
    };
    let result = match command {
        GitlabCommand::Login { token_stdin, .. } => login(&gitlab, token_stdin),
        GitlabCommand::Logout { .. } => logout(&gitlab),
        GitlabCommand::Tokens { owner, table, .. } => {
            tokens(&gitlab, &owner_of(&owner), table.json, table.wide)
        }
        GitlabCommand::Link { token, owner } => link(&gitlab, &token, &owner),
        GitlabCommand::Create(args) => create(&gitlab, args),
        GitlabCommand::Rotate { token } => rotate(&gitlab, &token),
        GitlabCommand::Revoke { token, owner, .. } => revoke(&gitlab, &token, &owner),
        GitlabCommand::Audit { json, .. } => audit(&gitlab, json),
    };
    Ok(result.unwrap_or_else(|e| {
        output::error(&explain(&gitlab, &e));
        Exit::Failure
    }))
}

/// The registry a command acts on: `--registry`, else the named token's, else registry.gitlab.com.
fn registry_of(command: &GitlabCommand) -> Result<Registry> {
    let (given, token) = match command {
        GitlabCommand::Login { registry, .. }
        | GitlabCommand::Logout { registry }
        | GitlabCommand::Tokens { registry, .. }
        | GitlabCommand::Audit { registry, .. } => (registry.as_deref(), None),
        GitlabCommand::Create(args) => (args.registry.as_deref(), None),
        GitlabCommand::Rotate { token } | GitlabCommand::Link { token, .. } => {
            (None, Some(token.as_str()))
        }
        GitlabCommand::Revoke {
            token, registry, ..
        } => (registry.as_deref(), Some(token.as_str())),
    };
    super::remote::registry_of(given, token, DEFAULT_REGISTRY)
}

fn owner_of(args: &GitlabOwnerArgs) -> RemoteOwner {
    match (&args.project, &args.group) {
        (Some(project), _) => RemoteOwner::Project(project.clone()),
        (None, Some(group)) => RemoteOwner::Group(group.clone()),
        (None, None) => RemoteOwner::Personal,
    }
}

/// One line: what went wrong at which registry, and what to do about it.
fn explain(gitlab: &Gitlab<'_>, error: &ManageError) -> String {
    let remote = match error {
        ManageError::Remote(remote) => remote,
        other => return other.to_string(),
    };
    let name = gitlab.api.name();
    let registry = &gitlab.endpoint.registry;
    match remote {
        RemoteError::NoLogin => format!(
            "not logged in to {name} for {registry}: run `docker-credential-pat gitlab login --registry {registry} --token-stdin` with a token that has the api scope"
        ),
        RemoteError::Unauthorized { what } => {
            format!("{name} refused the token presented to {what} (unknown, expired or revoked)")
        }
        RemoteError::RateLimited { retry_at } => format!(
            "{name}'s rate limit was reached: {}",
            retry_at.map_or_else(|| "retry in a minute".into(), retry_words)
        ),
        RemoteError::Http(http) => format!(
            "cannot reach {name}: {http}; check the network, or {}",
            gitlab.endpoint.setting
        ),
        RemoteError::Unexpected { status, .. } if *status >= 500 => {
            format!("{name} {remote}: GitLab has a problem of its own; try again later")
        }
        RemoteError::NoKeyring => format!(
            "{remote}; on this system, manage GitLab tokens in GitLab's settings and store them with `docker login`"
        ),
        RemoteError::Keyring(_) | RemoteError::Unsupported { .. } => remote.to_string(),
        _ => format!("{name} {remote}"),
    }
}

fn login(gitlab: &Gitlab<'_>, token_stdin: bool) -> Result<Exit> {
    if !crate::kernel_keyring::available() {
        return Err(RemoteError::NoKeyring.into());
    }
    let secret = if token_stdin {
        crate::prompt::read_line_from(std::io::stdin().lock())
    } else {
        crate::prompt::ask_hidden(&format!(
            "GitLab token with the api scope for {}: ",
            gitlab.endpoint.registry
        ))
    }
    .map_err(|e| ManageError::Invalid(format!("{e}; or use --token-stdin")))?;
    if secret.is_empty() {
        return Err(ManageError::Invalid(
            "no token given; nothing was changed".into(),
        ));
    }
    let done = gitlab.log_in(&secret)?;
    output::say(&format!(
        "Logged in to {} for {} with token {} ({}) for {}; `docker-credential-pat gitlab logout` drops it now",
        gitlab.api.name(),
        gitlab.endpoint.registry,
        done.token.id,
        crate::text::printable(&done.token.name, 60),
        crate::text::span(u64::from(done.seconds))
    ));
    Ok(Exit::Success)
}

fn logout(gitlab: &Gitlab<'_>) -> Result<Exit> {
    if gitlab.log_out()? {
        output::say(&format!(
            "Logged out of {} for {}",
            gitlab.api.name(),
            gitlab.endpoint.registry
        ));
    } else {
        output::note(&format!(
            "no GitLab login was kept for {}",
            gitlab.endpoint.registry
        ));
    }
    Ok(Exit::Success)
}

fn tokens(gitlab: &Gitlab<'_>, owner: &RemoteOwner, json: bool, wide: bool) -> Result<Exit> {
    let rows = gitlab.rows(owner)?;
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "id": row.token.id,
                    "name": row.token.name,
                    "owner": owner_words(&row.token.owner),
                    "scopes": row.token.scopes,
                    "state": row.token.state.word(),
                    "access_level": row.token.access_level,
                    "created_at": row.token.created_at.map(timestamp),
                    "last_used_at": row.token.last_used_at.map(timestamp),
                    "expires_at": row.token.expires_at.map(timestamp),
                    "local": row.local.as_ref().map(|n| n.to_string()),
                    "local_last_used": row.local_last_used.map(timestamp),
                })
            })
            .collect();
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        output::note(&format!(
            "no {} tokens at {}",
            owner_words(owner),
            gitlab.api.name()
        ));
        return Ok(Exit::Success);
    }
    let now = Utc::now();
    const COLUMNS: [&str; 8] = [
        "ID",
        "NAME",
        "SCOPES",
        "STATE",
        "LAST USED",
        "EXPIRES",
        "LOCAL",
        "LOCAL USE",
    ];
    let mut table = Table::new(&COLUMNS.map(|c| (c, 0)));
    for row in &rows {
        table.row_whole(vec![
            row.token.id.clone(),
            row.token.name.clone(),
            row.token.scopes.join(","),
            row.token.state.word().into(),
            ago(row.token.last_used_at, now),
            expiry::relative(row.token.expires_at, now),
            row.local
                .as_ref()
                .map_or_else(|| "-".into(), |n| n.to_string()),
            if row.local.is_some() {
                ago(row.local_last_used, now)
            } else {
                "-".into()
            },
        ]);
    }
    // SCOPES and EXPIRES give way first; GitLab's and the local use stay side by side.
    let fitted = table.render_whole(if wide { None } else { output::table_width() }, &[2, 5]);
    output::out!("{}", fitted.text);
    if let Some(note) = fitted.left_out_note() {
        output::say(&output::dim(&note, output::stdout_colour()));
    }
    Ok(Exit::Success)
}

/// `reporter`, `developer`… or a number, as GitLab's access level.
fn role(text: &str) -> Result<u8> {
    const ROLES: [(&str, u8); 6] = [
        ("guest", 10),
        ("planner", 15),
        ("reporter", 20),
        ("developer", 30),
        ("maintainer", 40),
        ("owner", 50),
    ];
    let word = text.trim().to_ascii_lowercase();
    ROLES
        .iter()
        .find(|(name, level)| *name == word || level.to_string() == word)
        .map(|(_, level)| *level)
        .ok_or_else(|| {
            ManageError::Invalid(format!(
                "unknown role {:?}: use guest, planner, reporter, developer, maintainer or owner",
                crate::text::printable(text, 40)
            ))
        })
}

fn scopes(text: &str) -> Result<Vec<String>> {
    let scopes: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let valid =
        |s: &String| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if scopes.is_empty() || !scopes.iter().all(valid) {
        return Err(ManageError::Invalid(format!(
            "--scopes {:?}: give GitLab's scope names, comma-separated (read_registry, write_registry, self_rotate…)",
            crate::text::printable(text, 80)
        )));
    }
    Ok(scopes)
}

fn expires(text: Option<&str>) -> Result<Option<NaiveDate>> {
    text.map(|t| expiry::parse(t, Utc::now()).map(|at| at.date_naive()))
        .transpose()
        .map_err(ManageError::Invalid)
}

fn create(gitlab: &Gitlab<'_>, args: GitlabCreateArgs) -> Result<Exit> {
    let integration =
        Integration::parse(&args.integration).map_err(crate::error::ServiceError::from)?;
    let owner = owner_of(&args.owner);
    if owner == RemoteOwner::Personal {
        return Err(ManageError::Invalid(
            "GitLab's API creates project and group tokens only: give --project ID or --group ID (a personal token is made in GitLab's settings and stored with `docker login`)".into(),
        ));
    }
    if let Some(username) = &args.username {
        check_username(username)?;
    }
    let request = CreateRequest {
        integration,
        owner,
        scopes: scopes(&args.scopes)?,
        expires_at: expires(args.expires.as_deref())?,
        description: match &args.description {
            Some(text) => clean_description(text)?,
            None => None,
        },
        access_level: args.role.as_deref().map(role).transpose()?,
        username: args.username.filter(|u| !u.trim().is_empty()),
        make_default: args.default,
    };
    let created = gitlab.create(request).map_err(|failure| {
        ManageError::Invalid(format!(
            "{}{}",
            explain(gitlab, &failure.error),
            left_words(&failure.left)
        ))
    })?;
    let token = &created.token;
    output::say(&format!(
        "Created {} at {} as {} token {} (\"{}\"): scopes {}, {}",
        created.name,
        gitlab.api.name(),
        owner_words(&token.owner),
        token.id,
        crate::text::printable(&token.name, 100),
        token.scopes.join(","),
        expiry_words(token.expires_at)
    ));
    output::say(&format!(
        "Stored it in {}; {}",
        created.backend.place(),
        if created.is_default {
            format!("it is {}'s default token here", created.name.registry)
        } else {
            format!(
                "Docker uses it when DOCKER_PAT_INTEGRATION={}",
                created.name.integration
            )
        }
    ));
    Ok(Exit::Success)
}

fn link(gitlab: &Gitlab<'_>, token: &str, owner: &GitlabOwnerArgs) -> Result<Exit> {
    let linked = gitlab.link(token, owner_of(owner))?;
    output::say(&format!(
        "Linked {} to {} {} token {} (\"{}\"): scopes {}, {}",
        crate::text::printable(token, 80),
        gitlab.api.name(),
        owner_words(&linked.owner),
        linked.id,
        crate::text::printable(&linked.name, 100),
        linked.scopes.join(","),
        expiry_words(linked.expires_at)
    ));
    Ok(Exit::Success)
}

fn rotate(gitlab: &Gitlab<'_>, token: &str) -> Result<Exit> {
    let rotated = gitlab
        .rotate(token)
        .map_err(|failure| ManageError::Invalid(rotate_failure(gitlab, token, &failure)))?;
    let name = &rotated.name;
    match &rotated.recovery {
        Some(Recovery::Successor { lost }) => output::say(&format!(
            "An earlier rotation of {name} lost GitLab's answer; token {lost}, which it made and nobody held, was rotated again"
        )),
        Some(Recovery::Fresh) => output::say(&format!(
            "An earlier rotation of {name} lost GitLab's answer and left nothing live; a fresh token was created in its place"
        )),
        None => {}
    }
    if !rotated.revoked.is_empty() {
        output::say(&format!(
            "Revoked token {} at GitLab, made by an interrupted rotation and held by nobody",
            rotated.revoked.join(", ")
        ));
    }
    output::say(&format!(
        "Rotated {name}{}: GitLab revoked token {} and issued token {}, which is stored and in use; it {}",
        if rotated.itself { " with itself" } else { "" },
        rotated.old_id,
        rotated.new.id,
        expiry_words(rotated.new.expires_at)
    ));
    Ok(Exit::Success)
}

/// Which step stopped, why, and what is true now: one line.
fn rotate_failure(gitlab: &Gitlab<'_>, token: &str, failure: &RotateFailure) -> String {
    // Nothing was asked of GitLab yet: the stored token is what is wrong.
    if failure.step == Step::Read && !matches!(failure.error, ManageError::Remote(_)) {
        return explain(gitlab, &failure.error);
    }
    let step = match failure.step {
        Step::Read => "reading the token's state",
        Step::Intent => "noting the rotation on the token's record",
        Step::Rotate => "rotating the token at GitLab",
        Step::Store => "storing the new token",
        Step::Recover => "recovering from an interrupted rotation",
    };
    let shown = crate::text::printable(token, 80);
    let now = if failure.in_flight {
        format!(
            "; GitLab may have rotated it: run `docker-credential-pat gitlab rotate {shown}` again, which reads GitLab's state first and never presents the old token twice"
        )
    } else if matches!(failure.step, Step::Rotate | Step::Intent) {
        format!("; nothing was rotated, and {shown} still holds the old token")
    } else {
        String::new()
    };
    format!(
        "rotating {shown} stopped while {step}: {}{now}",
        explain(gitlab, &failure.error)
    )
}

fn revoke(gitlab: &Gitlab<'_>, token: &str, owner: &GitlabOwnerArgs) -> Result<Exit> {
    let hint = (owner.project.is_some() || owner.group.is_some()).then(|| owner_of(owner));
    let revoked = gitlab.revoke(token, hint)?;
    output::say(&match &revoked.local {
        Some(name) => format!(
            "Revoked {name}'s token {} at {} and deleted {name} here",
            revoked.id,
            gitlab.api.name()
        ),
        None => format!(
            "Revoked {} token {} at {} (not stored here)",
            owner_words(&revoked.owner),
            revoked.id,
            gitlab.api.name()
        ),
    });
    Ok(Exit::Success)
}

fn audit(gitlab: &Gitlab<'_>, json: bool) -> Result<Exit> {
    let audited = gitlab.audit()?;
    let colour = output::stdout_colour();
    let mut suspicious = false;
    let mut items = Vec::new();
    for token in &audited {
        for report in token.reports(&gitlab.api) {
            suspicious |= report.level == Level::Suspicious;
            if !json {
                output::outln!("{}", audit_line(&report, colour));
                continue;
            }
            items.push(json!({
                "token": token.name.to_string(),
                "id": token.id,
                "status": status(report.level),
                "gitlab_last_used": token.remote.as_ref().and_then(|t| t.last_used_at).map(timestamp),
                "known_last_used": token.known_last_use.map(timestamp),
                "message": report.message,
                "fix": report.fix,
            }));
        }
    }
    if json {
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
    } else if audited.is_empty() {
        output::note(&format!(
            "no stored token of {} is linked to GitLab; `docker-credential-pat gitlab create` makes one",
            gitlab.endpoint.registry
        ));
    }
    Ok(if suspicious {
        Exit::Attention
    } else {
        Exit::Success
    })
}
