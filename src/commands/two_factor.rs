//! `2fa enable|disable|status`: accounts where only tokens may be stored.
//!
//! The setting lives in config.toml under `[two_factor]`, one array of
//! usernames per registry, so people can also edit it by hand.

use serde_json::json;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::exit::{CommandResult, Exit};
use crate::cli::{AccountArgs, TwoFactorCommand};
use crate::config::{self, Config};
use crate::error::ServiceError;
use crate::output;
use crate::policy::SecretKind;
use crate::registry::Registry;
use crate::service::Service;
use crate::service::write::check_username;

const SECTION: &str = "two_factor";

pub fn run(service: &Service, command: TwoFactorCommand) -> CommandResult {
    match command {
        TwoFactorCommand::Enable(args) => enable(service, &args),
        TwoFactorCommand::Disable(args) => disable(service, &args),
        TwoFactorCommand::Status { json } => status(service, json),
    }
}

fn account(args: &AccountArgs) -> Result<Registry, ServiceError> {
    check_username(&args.username)?;
    if args.username.is_empty() {
        return Err(ServiceError::MissingUsername);
    }
    Ok(Registry::parse(&args.registry)?)
}

fn enable(service: &Service, args: &AccountArgs) -> CommandResult {
    let registry = account(args)?;
    let writer = service.begin()?;
    mark(service, &registry, &args.username)?;
    output::say(&format!(
        "Two-factor authentication is on for {} at {registry}: only tokens will be stored",
        args.username
    ));
    let passwords: Vec<String> = writer
        .index
        .entries()
        .filter(|e| {
            e.name.registry == registry
                && e.record.username.eq_ignore_ascii_case(&args.username)
                && e.record.kind == SecretKind::Password
        })
        .map(|e| e.name.to_string())
        .collect();
    if !passwords.is_empty() {
        output::warn(&format!(
            "{} holds a password for this account; replace it with a personal access token (`docker login`), then check `docker-credential-pat doctor`",
            passwords.join(", ")
        ));
    }
    Ok(Exit::Success)
}

/// Marks `username` at `registry` as two-factor protected in config.toml;
/// the caller holds the data lock. Returns false when it already was.
pub(super) fn mark(
    service: &Service,
    registry: &Registry,
    username: &str,
) -> Result<bool, ServiceError> {
    let mut added = false;
    config::edit(&service.paths, |doc| {
        let users = users_array(doc, registry.key());
        if !users
            .iter()
            .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(username)))
        {
            users.push(username);
            added = true;
        }
    })?;
    Ok(added)
}

fn disable(service: &Service, args: &AccountArgs) -> CommandResult {
    let registry = account(args)?;
    let _lock = service.begin()?;
    let mut removed = false;
    config::edit(&service.paths, |doc| {
        let Some(table) = doc.get_mut(SECTION).and_then(Item::as_table_like_mut) else {
            return;
        };
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
        for key in keys {
            if Registry::parse(&key).ok().as_ref() != Some(&registry) {
                continue;
            }
            if let Some(users) = table.get_mut(&key).and_then(Item::as_array_mut) {
                let before = users.len();
                users.retain(|u| {
                    !u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&args.username))
                });
                removed |= users.len() != before;
                if users.is_empty() {
                    table.remove(&key);
                }
            }
        }
    })?;
    if removed {
        output::say(&format!(
            "Two-factor rule removed for {} at {registry}",
            args.username
        ));
    } else {
        output::note(&format!(
            "{} at {registry} was not marked as two-factor protected",
            args.username
        ));
    }
    Ok(Exit::Success)
}

/// The array of usernames for `key`, created if missing.
fn users_array<'a>(doc: &'a mut DocumentMut, key: &str) -> &'a mut Array {
    let table = doc
        .entry(SECTION)
        .or_insert_with(|| Item::Table(Table::new()));
    if !table.is_table_like() {
        *table = Item::Table(Table::new());
    }
    let table = table.as_table_like_mut().expect("made a table above");
    let item = table
        .entry(key)
        .or_insert(Item::Value(Value::Array(Array::new())));
    if !item.is_array() {
        *item = Item::Value(Value::Array(Array::new()));
    }
    item.as_array_mut().expect("made an array above")
}

fn status(service: &Service, json: bool) -> CommandResult {
    let index = service.load_index()?;
    let accounts = protected_accounts(&service.config);
    let stored = |registry: &Registry, user: &str| {
        let kinds: Vec<SecretKind> = index
            .entries()
            .filter(|e| {
                &e.name.registry == registry && e.record.username.eq_ignore_ascii_case(user)
            })
            .map(|e| e.record.kind)
            .collect();
        if kinds.contains(&SecretKind::Password) {
            Some("password")
        } else if kinds.is_empty() {
            None
        } else {
            Some("token")
        }
    };
    if json {
        let list: Vec<_> = accounts
            .iter()
            .map(|(r, u)| json!({"registry": r.key(), "username": u, "stored": stored(r, u)}))
            .collect();
        let value = json!({"require_tokens": service.config.require_tokens, "accounts": list});
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
        return Ok(Exit::Success);
    }
    if service.config.require_tokens {
        output::say("require_tokens = true: passwords are refused for every account");
    }
    if accounts.is_empty() {
        output::note(
            "no account is marked; `docker-credential-pat 2fa enable --username USER` marks one",
        );
        return Ok(Exit::Success);
    }
    let mut table = output::Table::new(&[("REGISTRY", 10), ("USER", 8), ("STORED", 6)]);
    for (registry, user) in &accounts {
        table.row(vec![
            registry.key().to_owned(),
            user.clone(),
            stored(registry, user).unwrap_or("-").to_owned(),
        ]);
    }
    output::out!("{}", table.render(output::table_width()));
    Ok(Exit::Success)
}

/// Every (registry, username) marked in config.toml.
pub fn protected_accounts(config: &Config) -> Vec<(Registry, String)> {
    let mut accounts: Vec<(Registry, String)> = config
        .two_factor
        .iter()
        .filter_map(|(key, users)| Some((Registry::parse(key).ok()?, users)))
        .flat_map(|(registry, users)| users.iter().map(move |u| (registry.clone(), u.clone())))
        .collect();
    accounts.sort();
    accounts.dedup_by(|a, b| a.0 == b.0 && a.1.eq_ignore_ascii_case(&b.1));
    accounts
}
