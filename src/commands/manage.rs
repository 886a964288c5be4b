//! Adding, renaming, (de)activating, deleting and describing tokens.

use super::exit::{CommandResult, Exit};
use crate::cli::AddArgs;
use crate::error::ServiceError;
use crate::names::{Integration, TokenName};
use crate::output;
use crate::registry::Registry;
use crate::service::Service;
use crate::service::write::{Facts, TokenSpec, check_username, clean_description};

pub fn add(service: &Service, args: AddArgs) -> CommandResult {
    let registry = Registry::parse(&args.registry)?;
    let integration = Integration::parse(&args.integration)?;
    check_username(&args.username)?;
    if args.username.is_empty() {
        return Err(ServiceError::MissingUsername);
    }
    let description = match &args.description {
        Some(text) => clean_description(text)?,
        None => None,
    };
    let expires_at = args
        .expires
        .as_deref()
        .map(|text| crate::expiry::parse(text, chrono::Utc::now()))
        .transpose()
        .map_err(ServiceError::Invalid)?;
    let name = TokenName::new(integration, registry.clone());
    let prompt = format!(
        "Token for {} at {registry}: ",
        crate::text::printable(&args.username, 64)
    );
    let secret =
        crate::prompt::read_secret(&prompt).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    if secret.is_empty() {
        return Err(ServiceError::Invalid(
            "no token given; nothing was stored".into(),
        ));
    }
    service.check_policy(&registry, &args.username, &secret)?;
    let mut edit = service.ledger()?.begin()?;
    let has_default = edit.has_default(&registry)?;
    let spec = TokenSpec {
        name: name.clone(),
        username: &args.username,
        server_url: registry.default_address().to_owned(),
        secret: &secret,
        description,
        make_default: args.default || !has_default,
    };
    let github = crate::remote::github::is_github(service, &registry);
    let facts = Facts::Carry {
        expires_at,
        compare: github,
    };
    let outcome = service.put_token_with(&mut *edit, spec, facts)?;
    let verb = if outcome.replaced {
        "Replaced the secret of"
    } else {
        "Added"
    };
    output::say(&format!(
        "{verb} {name} (stored in {})",
        outcome.backend.place()
    ));
    if github && outcome.new_secret == Some(true) {
        // The check keeps what GitHub says on the record: the lock goes first.
        drop(edit);
        super::github::check_new(service, &name, &args.username, &secret);
    }
    Ok(Exit::Success)
}

pub fn rename(service: &Service, token: &str, new_integration: &str) -> CommandResult {
    let (old, new) = service.rename(token, new_integration)?;
    output::say(&format!("Renamed {old} to {new}"));
    Ok(Exit::Success)
}

pub fn make_default(service: &Service, token: &str) -> CommandResult {
    let (name, active) = service.make_default(token)?;
    output::say(&format!("{name} is now the default for {}", name.registry));
    if !active {
        output::warn(&format!(
            "{name} is inactive; `docker-credential-pat activate {name}` to use it"
        ));
    }
    Ok(Exit::Success)
}

pub fn set_active(service: &Service, tokens: &[String], active: bool) -> CommandResult {
    let names = service.set_active(tokens, active)?;
    let verb = if active { "Activated" } else { "Deactivated" };
    for name in names {
        output::say(&format!("{verb} {name}"));
    }
    Ok(Exit::Success)
}

pub fn delete(service: &Service, tokens: Vec<String>, all: Option<String>) -> CommandResult {
    let names = match all {
        Some(registry) => service.delete_all(&registry)?,
        None => service.delete(&tokens)?,
    };
    for name in names {
        output::say(&format!("Deleted {name}"));
    }
    Ok(Exit::Success)
}

pub fn describe(service: &Service, token: &str, text: &str) -> CommandResult {
    let name = service.describe(token, text)?;
    output::say(&format!("Described {name}"));
    Ok(Exit::Success)
}
