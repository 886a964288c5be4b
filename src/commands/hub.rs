//! `hub …`: Docker Hub's tokens, managed from here. The work is done in
//! [`crate::remote::hub`]; this turns its outcomes into lines for people, and each
//! error into one line saying what to do.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::exit::{CommandResult, Exit};
use super::remote::{expiry_words, retry_words};
use super::tokens::{relative, timestamp};
use crate::cli::{HubCommand, HubCreateArgs, HubLoginArgs, HubTokenList};
use crate::expiry;
use crate::kernel_keyring::Reach;
use crate::names::Integration;
use crate::output::{self, Table};
use crate::registry::Registry;
use crate::remote::hub::HubError;
use crate::remote::hub::audit::Level;
use crate::remote::hub::manage::StoreOutcome;
use crate::remote::hub::manage::create::{CreateFailure, CreateRequest};
use crate::remote::hub::manage::rotate::{RotateFailure, Step};
use crate::remote::hub::manage::{Abandoned, Hub, ManageError, Target};
use crate::remote::hub::org as hub_org;
use crate::remote::hub::spec;
use crate::service::Service;
use crate::service::write::{check_username, clean_description};

type Result<T, E = ManageError> = std::result::Result<T, E>;

pub fn run(service: &Service, command: HubCommand) -> CommandResult {
    let org = match &command {
        HubCommand::Create(HubCreateArgs { org, .. })
        | HubCommand::Tokens { org, .. }
        | HubCommand::Audit { org, .. }
        | HubCommand::Rotate { org, .. }
        | HubCommand::Link { org, .. } => org.clone(),
        HubCommand::Deactivate(list) | HubCommand::Activate(list) | HubCommand::Delete(list) => {
            list.org.clone()
        }
        HubCommand::Login(_) | HubCommand::Logout => None,
    };
    let mut result = run_for(service, org.as_deref(), &command);
    // A stored token named without --org whose record says it is an
    // organisation's: found before anything was changed, so run again for it.
    if let (Err(ManageError::OrgToken { org: theirs, .. }), None) = (&result, &org) {
        let theirs = theirs.clone();
        result = run_for(service, Some(&theirs), &command);
    }
    Ok(result.unwrap_or_else(|e| {
        output::error(&explain(&e));
        Exit::Failure
    }))
}

fn run_for(service: &Service, org: Option<&str>, command: &HubCommand) -> Result<Exit> {
    let hub = Hub::open_for(service, org)?;
    match command {
        HubCommand::Login(args) => login(&hub, args),
        HubCommand::Logout => logout(&hub),
        HubCommand::Create(args) => create(&hub, args),
        HubCommand::Tokens { table, .. } => tokens(&hub, table.json, table.wide),
        HubCommand::Link {
            token, id, expires, ..
        } => link(&hub, token, id, expires.as_deref()),
        HubCommand::Deactivate(HubTokenList { tokens, .. }) => set_active(&hub, tokens, false),
        HubCommand::Activate(HubTokenList { tokens, .. }) => set_active(&hub, tokens, true),
        HubCommand::Delete(HubTokenList { tokens, .. }) => delete(&hub, tokens),
        HubCommand::Rotate {
            token, delete_old, ..
        } => rotate(&hub, token, *delete_old),
        HubCommand::Audit { json, .. } => audit(&hub, *json),
    }
}

/// `--org ORG ` when the run manages an organisation's tokens, for the commands it suggests.
fn hub_flag(hub: &Hub<'_>) -> String {
    crate::remote::hub::org_flag(hub.org.as_deref())
}

/// One line: what went wrong and what to do about it.
pub(crate) fn explain(error: &ManageError) -> String {
    let hub = match error {
        ManageError::Hub(hub) => hub,
        ManageError::Partial { head, cause, tail } => {
            return format!("{head}{}{tail}", explain(cause));
        }
        other => return other.to_string(),
    };
    match hub {
        HubError::NoSession => {
            "not signed in to Docker Hub: run `docker-credential-pat hub login --username USER`"
                .into()
        }
        HubError::SessionExpired => {
            "the Docker Hub session has expired: run `docker-credential-pat hub login`".into()
        }
        HubError::RateLimited { retry_at } => match retry_at {
            Some(at) => format!("Docker Hub's rate limit was reached: {}", retry_words(*at)),
            None => "Docker Hub's rate limit was reached: retry in a few minutes".into(),
        },
        HubError::SignInRefused { .. } => {
            format!("{hub}; check the username, the password and the code")
        }
        HubError::Http(http) => format!(
            "cannot reach Docker Hub: {http}; check the network, or hub_url in config.toml (DOCKER_PAT_HUB_URL)"
        ),
        HubError::NotOwner { .. } => format!(
            "{hub}; sign in as one of its owners: `docker-credential-pat hub login --username OWNER`"
        ),
        HubError::Unexpected { status, .. } if *status >= 500 => {
            format!("{hub}: Docker Hub has a problem of its own; try again later")
        }
        HubError::NoKeyring => format!(
            "{hub}; on this system, manage tokens on Docker Hub's Security page and store them with `docker login`"
        ),
        _ => hub.to_string(),
    }
}

fn login(hub: &Hub<'_>, args: &HubLoginArgs) -> Result<Exit> {
    if args.otp.is_some() {
        return Err(ManageError::Invalid(
            "--otp is no longer taken: a code on the command line is visible to every user of this machine; type it when asked, or give it on the second line of stdin after the password with --password-stdin".into(),
        ));
    }
    let username = args.username.trim();
    check_username(username)?;
    if username.is_empty() {
        return Err(ManageError::Invalid("no username given".into()));
    }
    // Before the password is asked for: with nowhere to keep a session, it would be for nothing.
    if !crate::kernel_keyring::available() {
        return Err(HubError::NoKeyring.into());
    }
    let (password, mut piped_code) = if args.password_stdin {
        crate::prompt::read_secret_and_code_from(std::io::stdin().lock())
    } else {
        crate::prompt::ask_hidden(&format!(
            "Docker Hub password for {}: ",
            crate::text::printable(username, 64)
        ))
        .map(|password| (password, None))
    }
    .map_err(|e| ManageError::Invalid(format!("{e}; or use --password-stdin")))?;
    if password.is_empty() {
        return Err(ManageError::Invalid(
            "no password given; nothing was changed".into(),
        ));
    }
    let mut code = || {
        match piped_code.take() {
        Some(code) => Ok(code),
        None => crate::prompt::ask_hidden("Two-factor authentication code: ").map_err(|e| {
            format!(
                "Docker Hub asks for a two-factor code: {e}; with --password-stdin, give it on the line after the password"
            )
        }),
    }
    };
    let (second_factor, reach) = hub.sign_in(username, &password, &mut code)?;
    drop(password);
    let service = hub.service;
    output::say(&format!(
        "Signed in to Docker Hub as {username} for {}; `docker-credential-pat hub logout` ends the session now",
        duration_words(service.config.hub_session_seconds)
    ));
    output::say(&format!("The session {}", reach_words(reach)));
    if second_factor && !service.config.two_factor_on(&Registry::DockerHub, username) {
        let _lock = service.begin()?;
        super::two_factor::mark(service, &Registry::DockerHub, username)?;
        output::say(&format!(
            "{username} signs in with a second factor, so it is now marked in config.toml: only tokens are stored for {username} at docker.io from now on"
        ));
    }
    Ok(Exit::Success)
}

/// Where a private kernel-keyring entry is kept and who can read it, after "The session ".
pub(crate) fn reach_words(reach: Reach) -> &'static str {
    match reach {
        Reach::ThisSession => {
            "is kept in this login session's kernel keyring, readable only by the processes of this login session (and root)"
        }
        Reach::UserDefault => {
            "is kept in this user's default session keyring, since this login has no session keyring of its own: every process of this user without one (cron jobs, logins without pam_keyinit, `docker exec`) can read it; to keep it to one terminal, sign in from a shell started with `keyctl session`"
        }
        Reach::Nowhere => "is not kept: this system has no kernel keyring",
    }
}

fn duration_words(seconds: u32) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

fn logout(hub: &Hub<'_>) -> Result<Exit> {
    if hub.sign_out()? {
        output::say("Signed out of Docker Hub");
    } else {
        output::note("no Docker Hub session was open");
    }
    Ok(Exit::Success)
}

fn expires(text: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| expiry::parse(t, Utc::now()))
        .transpose()
        .map_err(ManageError::Invalid)
}

fn create(hub: &Hub<'_>, args: &HubCreateArgs) -> Result<Exit> {
    let integration =
        Integration::parse(&args.integration).map_err(crate::error::ServiceError::from)?;
    let (scopes, resources) = match &hub.org {
        Some(org) => {
            let words = args.scopes.as_deref().unwrap_or(hub_org::DEFAULT_SCOPES);
            let resources =
                hub_org::resources(org, &args.repo, words).map_err(ManageError::Invalid)?;
            if resources.is_empty() {
                return Err(ManageError::Invalid(format!(
                    "say what the token reaches: --repo {org}/NAME (or '{org}/*', '*/*/public'), and --scopes"
                )));
            }
            (Vec::new(), resources)
        }
        None => (
            spec::parse_scopes(args.scopes.as_deref().unwrap_or("read"))
                .map_err(ManageError::Invalid)?,
            Vec::new(),
        ),
    };
    let description = match &args.description {
        Some(text) => clean_description(text)?,
        None => None,
    };
    let name = format!("{integration}@docker.io");
    let request = CreateRequest {
        integration,
        username: args.username.clone(),
        scopes,
        resources,
        expires_at: expires(args.expires.as_deref())?,
        description,
        make_default: args.default,
    };
    let created = match hub.create(request) {
        Ok(created) => created,
        Err(failure) => {
            return Err(ManageError::Invalid(create_failure(
                &name,
                &failure,
                &hub_flag(hub),
            )));
        }
    };
    let name = &created.name;
    // What the token may do: a personal token's scope, an organisation token's reach.
    let (kind, reach) = match &hub.org {
        Some(org) => (
            format!(
                "organisation access token {} of {org}",
                short(&created.uuid)
            ),
            format!("reaching {}", hub_org::short_resources(&created.resources)),
        ),
        None => (
            format!("token {}", short(&created.uuid)),
            format!("scope {}", spec::short_scopes(&created.scopes)),
        ),
    };
    if created.resumed {
        output::say(&format!(
            "Finished creating {name}: Docker Hub {kind}, made by an earlier run that stopped before it knew, is stored in {}, {reach}, {}",
            created.backend.place(),
            expiry_words(created.expires_at)
        ));
        return Ok(Exit::Success);
    }
    let described = match &hub.org {
        Some(_) => reach,
        None => format!("{reach} ({})", spec::describe_scopes(&created.scopes)),
    };
    output::say(&format!(
        "Created {name} on Docker Hub as {kind}: label \"{}\", {described}, {}",
        crate::text::printable(&created.label, 100),
        expiry_words(created.expires_at)
    ));
    if let Some(org) = &hub.org {
        output::say(&format!(
            "It is stored with {org} as its username, as `docker login -u {org}` expects"
        ));
    }
    output::say(&format!(
        "Stored it in {}; {}",
        created.backend.place(),
        if created.is_default {
            "it is Docker Hub's default token here".to_owned()
        } else {
            format!(
                "Docker uses it when DOCKER_PAT_INTEGRATION={}",
                name.integration
            )
        }
    ));
    Ok(Exit::Success)
}

/// Why `hub create` stopped, and what became of the token Hub made: one line.
fn create_failure(name: &str, failure: &CreateFailure, flag: &str) -> String {
    let why = explain(&failure.error);
    match &failure.new {
        None => why,
        Some((_, StoreOutcome::NotStored(abandoned))) => {
            format!(
                "{why}; {name} was not stored{}",
                abandoned_words(abandoned, flag)
            )
        }
        Some((uuid, StoreOutcome::Incomplete)) => format!(
            "Docker Hub token {uuid} was created and stored as {name}, but not all of its record was: {why}; run the same command again to finish"
        ),
        Some((uuid, StoreOutcome::Unknown)) => format!(
            "Docker Hub token {uuid} was created, but whether it was stored as {name} is not known: {why}; run the same command again to finish (it keeps the token if it was stored, and deletes it from Docker Hub if not)"
        ),
    }
}

/// What became of a new token that nothing holds.
fn abandoned_words(abandoned: &Abandoned, flag: &str) -> String {
    if abandoned.deleted {
        "; the new token was deleted from Docker Hub again".into()
    } else {
        format!(
            "; the new token {}, which nothing here holds, could not be deleted from Docker Hub: `docker-credential-pat hub delete {flag}{}` removes it",
            abandoned.uuid, abandoned.uuid
        )
    }
}

fn tokens(hub: &Hub<'_>, json: bool, wide: bool) -> Result<Exit> {
    let rows = hub.rows()?;
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "uuid": row.token.uuid,
                    "label": row.token.token_label,
                    "scopes": row.token.scopes,
                    "resources": row.resources,
                    "is_active": row.token.is_active,
                    "created_at": row.token.created_at.map(timestamp),
                    "last_used": row.token.last_used.map(timestamp),
                    "expires_at": row.expires_at.map(timestamp),
                    "local": row.local.as_ref().map(|n| n.to_string()),
                    "local_last_used": row.local_last_used.map(timestamp),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        output::note(
            "no tokens on Docker Hub yet; `docker-credential-pat hub create --integration NAME` creates one",
        );
        return Ok(Exit::Success);
    }
    let now = Utc::now();
    let when =
        |at: Option<DateTime<Utc>>| at.map_or_else(|| "never".to_owned(), |t| relative(t, now));
    let mut table = Table::new(&[
        ("ID", 0),
        ("LABEL", 0),
        (
            if hub.org.is_some() {
                "REACHES"
            } else {
                "SCOPE"
            },
            0,
        ),
        ("STATE", 0),
        ("CREATED", 0),
        ("LAST USED", 0),
        ("EXPIRES", 0),
        ("LOCAL", 0),
        ("LOCAL USE", 0),
    ]);
    for row in &rows {
        table.row_whole(vec![
            row.token.uuid.chars().take(8).collect(),
            row.token.token_label.clone(),
            match &hub.org {
                Some(_) => hub_org::short_resources(&row.resources),
                None => spec::short_scopes(&row.token.scopes),
            },
            if row.token.is_active {
                "active"
            } else {
                "inactive"
            }
            .into(),
            row.token
                .created_at
                .map_or_else(|| "-".into(), |t| relative(t, now)),
            when(row.token.last_used),
            expiry::relative(row.expires_at, now),
            row.local
                .as_ref()
                .map_or_else(|| "-".into(), |n| n.to_string()),
            if row.local.is_some() {
                when(row.local_last_used)
            } else {
                "-".into()
            },
        ]);
    }
    // CREATED, SCOPE and EXPIRES give way first; Hub's and the local use stay side by side.
    let fitted = table.render_whole(if wide { None } else { output::table_width() }, &[4, 2, 6]);
    print!("{}", fitted.text);
    if let Some(note) = fitted.left_out_note() {
        output::say(&output::dim(&note, output::stdout_colour()));
    }
    Ok(Exit::Success)
}

fn link(hub: &Hub<'_>, token: &str, id: &str, expires_text: Option<&str>) -> Result<Exit> {
    let expires_at = expires(expires_text)?;
    let (name, linked) = hub.link(token, id, expires_at)?;
    let (kind, reach) = match &hub.org {
        Some(org) => (
            format!("organisation access token {} of {org}", linked.uuid),
            format!("reaching {}", hub_org::short_resources(&linked.resources)),
        ),
        None => (
            format!("token {}", linked.uuid),
            format!("scope {}", spec::short_scopes(&linked.scopes)),
        ),
    };
    output::say(&format!(
        "Linked {name} to Docker Hub {kind} (label \"{}\", {reach})",
        crate::text::printable(&linked.token_label, 100),
    ));
    Ok(Exit::Success)
}

fn done_line(verb: &str, target: &Target) -> String {
    match target {
        Target::Local { name, .. } => format!("{verb} {name} on Docker Hub and here"),
        Target::Remote { uuid } => {
            format!("{verb} Docker Hub token {uuid} (not stored here)")
        }
    }
}

fn set_active(hub: &Hub<'_>, tokens: &[String], active: bool) -> Result<Exit> {
    let verb = if active { "Activated" } else { "Deactivated" };
    hub.set_active(tokens, active, &mut |target| {
        output::say(&done_line(verb, target))
    })?;
    Ok(Exit::Success)
}

fn delete(hub: &Hub<'_>, tokens: &[String]) -> Result<Exit> {
    hub.delete(tokens, &mut |target| {
        output::say(&done_line("Deleted", target))
    })?;
    Ok(Exit::Success)
}

fn rotate(hub: &Hub<'_>, token: &str, delete_old: bool) -> Result<Exit> {
    let rotated = hub.rotate(token, delete_old).map_err(|failure| {
        if matches!(failure.error, ManageError::OrgToken { .. }) {
            // Nothing was done: `run` goes again for the organisation.
            return failure.error;
        }
        ManageError::Invalid(rotate_failure(token, &failure, &hub_flag(hub)))
    })?;
    let name = &rotated.name;
    if rotated.resumed {
        output::say(&format!(
            "Finished rotating {name}: the new token {}, made by an earlier run that stopped before it knew, is stored and in use; it {}",
            short(&rotated.new_uuid),
            expiry_words(rotated.expires_at)
        ));
        if let Some(old) = &rotated.finished {
            output::say(&old_token_line(&old.uuid, old.delete));
        }
        return Ok(Exit::Success);
    }
    if let Some(finished) = &rotated.finished {
        output::say(&format!(
            "First {} Docker Hub token {}, which an earlier rotation of {name} had left active",
            if finished.delete {
                "deleted"
            } else {
                "deactivated"
            },
            finished.uuid
        ));
    }
    output::say(&format!(
        "Rotated {name}: the new token {} was checked at Docker Hub and stored, and is in use; it {}",
        short(&rotated.new_uuid),
        expiry_words(rotated.expires_at)
    ));
    output::say(&old_token_line(&rotated.old_uuid, delete_old));
    Ok(Exit::Success)
}

fn old_token_line(uuid: &str, deleted: bool) -> String {
    format!(
        "The old token {} was {}",
        short(uuid),
        if deleted {
            "deleted from Docker Hub"
        } else {
            "deactivated on Docker Hub"
        }
    )
}

fn short(uuid: &str) -> String {
    uuid.chars().take(8).collect()
}

/// Which step stopped, why, and what is left to do: one line.
fn rotate_failure(token: &str, failure: &RotateFailure, flag: &str) -> String {
    let step = match failure.step {
        Step::Finish => "switching off the token an earlier rotation replaced",
        Step::Read => "reading the token",
        Step::Create => "creating the new token",
        Step::Check => "checking the new token at Docker Hub",
        Step::Store => "storing the new token",
        Step::Retire => "switching off the old token",
    };
    let shown = crate::text::printable(token, 80);
    let left = match (failure.step, &failure.still_active, &failure.new) {
        (Step::Retire, Some(old), _) => format!(
            "; {shown} now holds the new token, which is in use, but the old token {} is still active on Docker Hub: `docker-credential-pat hub {} {flag}{}` switches it off",
            old.uuid,
            if old.delete { "delete" } else { "deactivate" },
            old.uuid
        ),
        (Step::Finish, Some(old), _) => format!(
            "; nothing else was changed, and Docker Hub token {} is still active: run this again later, or `docker-credential-pat hub deactivate {flag}{}`",
            old.uuid, old.uuid
        ),
        (Step::Read, ..) => String::new(),
        (_, _, Some((uuid, StoreOutcome::Incomplete))) => format!(
            "; {shown} holds the new token {uuid}, which is in use, but its record is not finished and the old token is still active on Docker Hub: run the same command again to finish"
        ),
        (_, _, Some((uuid, StoreOutcome::Unknown))) => format!(
            "; whether {shown} holds the new token {uuid} or still the old one is not known, and neither was switched off on Docker Hub: run the same command again to finish"
        ),
        (_, _, Some((_, StoreOutcome::NotStored(abandoned)))) => format!(
            "; {shown} still holds the old token, which stays active and in use{}",
            abandoned_words(abandoned, flag)
        ),
        _ => format!("; {shown} still holds the old token, which stays active and in use"),
    };
    format!(
        "rotating {shown} stopped while {step}: {}{left}",
        explain(&failure.error)
    )
}

fn audit(hub: &Hub<'_>, json: bool) -> Result<Exit> {
    let audit = hub.audit()?;
    let mut suspicious = false;
    let mut items = Vec::new();
    let colour = output::stdout_colour();
    let reports = audit
        .tokens
        .iter()
        .flat_map(|token| token.reports().into_iter().map(move |r| (Some(token), r)))
        .chain(audit.stray_reports().into_iter().map(|r| (None, r)));
    for (token, report) in reports {
        suspicious |= report.level == Level::Suspicious;
        if json {
            items.push(json!({
                "token": token.map(|t| t.name.to_string()),
                "uuid": token.map(|t| t.uuid.as_str()),
                "status": match report.level {
                    Level::Ok => "ok",
                    Level::Warn => "warn",
                    Level::Suspicious => "suspicious",
                },
                "hub_last_used": token.and_then(|t| t.hub.as_ref()?.last_used).map(timestamp),
                "known_last_used": token.and_then(|t| t.known_last_use).map(timestamp),
                "message": report.message,
                "fix": report.fix,
            }));
            continue;
        }
        let word = match report.level {
            Level::Ok => output::green("ok        ", colour),
            Level::Warn => output::yellow("warning   ", colour),
            Level::Suspicious => output::red("suspicious", colour),
        };
        let mut line = report.message.clone();
        if let Some(fix) = &report.fix {
            line.push_str(" — ");
            line.push_str(fix);
        }
        println!("{word} {}", crate::text::printable(&line, 4000));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&items).expect("JSON values serialise")
        );
    } else if audit.tokens.is_empty() {
        output::note(
            "no stored token is linked to Docker Hub; `hub create` makes one, `hub link` links one stored earlier",
        );
    }
    if !audit.skipped.is_empty() {
        output::note(&format!(
            "not checked, as they belong to other Docker Hub accounts than {}: {}",
            audit.username,
            audit
                .skipped
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(if suspicious {
        Exit::Attention
    } else {
        Exit::Success
    })
}
