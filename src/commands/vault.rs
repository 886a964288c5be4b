//! `vault init|unlock|lock|passwd|status`: the encrypted vault file for people.
//!
//! The store does the work; this module finds the new passphrase (a file, a
//! variable, or asked twice on the terminal), prints what happened, and says
//! what to do next.

use serde_json::json;

use super::exit::{CommandResult, Exit};
use crate::cli::VaultCommand;
use crate::config::{BackendChoice, ENV_NEW_PASSPHRASE, ENV_PASSPHRASE};
use crate::error::ServiceError;
use crate::output;
use crate::prompt::{self, PromptError};
use crate::service::Service;
use crate::store::StoreError;
use crate::store::vault::{Passphrase, PassphraseSources, VaultStore};

pub fn run(service: &Service, command: VaultCommand) -> CommandResult {
    let vault = service.vault();
    match command {
        VaultCommand::Init => init(service, &vault),
        VaultCommand::Unlock => unlock(&vault),
        VaultCommand::Lock => lock(&vault),
        VaultCommand::Passwd => passwd(service, &vault),
        VaultCommand::Status { json } => status(&vault, json),
    }
}

/// A new passphrase: from the file or variable when set, else typed twice.
fn new_passphrase(sources: &PassphraseSources, variables: &str) -> Result<Passphrase, StoreError> {
    if let Some(passphrase) = sources.without_asking().read("")? {
        return Ok(passphrase);
    }
    let ask = |text: &str| {
        prompt::ask_hidden(text).map_err(|e| match e {
            PromptError::NoTerminal => StoreError::Failed(format!(
                "no terminal to ask for the new passphrase on; set {variables}"
            )),
            e => StoreError::Failed(format!("cannot read the passphrase: {e}")),
        })
    };
    let first = Passphrase::from_secret(&ask("New vault passphrase: ")?);
    if first.is_empty() {
        return Err(StoreError::Failed(
            "the passphrase is empty; nothing was changed".into(),
        ));
    }
    let second = Passphrase::from_secret(&ask("Repeat the new passphrase: ")?);
    if first != second {
        return Err(StoreError::Failed(
            "the two passphrases differ; nothing was changed".into(),
        ));
    }
    Ok(first)
}

fn warn_if_weak(vault: &VaultStore) {
    if !vault.kdf().meets_recommendation() {
        output::warn(&format!(
            "the key derivation parameters ({}) are below OWASP's minimum (m=19456 KiB, t=2); raise vault_kdf_memory_kib and vault_kdf_iterations in config.toml unless this vault is for tests",
            vault.kdf()
        ));
    }
}

fn init(service: &Service, vault: &VaultStore) -> CommandResult {
    if vault.exists() {
        return Err(StoreError::Failed(format!(
            "a vault already exists at {}; `docker-credential-pat vault passwd` changes its passphrase",
            vault.path().display()
        ))
        .into());
    }
    let sources = PassphraseSources {
        file: service.env.passphrase_file.clone(),
        env: service.env.passphrase_set.then_some(ENV_PASSPHRASE),
        ask: None,
    };
    let passphrase = new_passphrase(
        &sources,
        "DOCKER_PAT_PASSPHRASE_FILE or DOCKER_PAT_PASSPHRASE",
    )?;
    warn_if_weak(vault);
    vault.init(&passphrase)?;
    output::say(&format!(
        "Created the vault {} ({})",
        vault.path().display(),
        vault.kdf()
    ));
    if service.env.backend_choice(&service.config)? != BackendChoice::File {
        output::note(
            "new tokens go to the vault when no OS keychain is reachable, or always with backend = \"file\" in config.toml; `docker-credential-pat migrate --to file` moves the existing ones",
        );
    }
    Ok(Exit::Success)
}

fn unlock(vault: &VaultStore) -> CommandResult {
    let unlocked = vault.unlock()?;
    let items = plural(unlocked.items, "item");
    match unlocked.cached {
        Ok(true) => output::say(&format!(
            "Unlocked {} ({items}); the key is cached for {} s, until `docker-credential-pat vault lock`",
            vault.path().display(),
            vault.cache_seconds()
        )),
        Ok(false) => output::warn(&format!(
            "the passphrase opens {} ({items}), but vault_cache_seconds is 0 so the key is not cached; every use will ask for the passphrase",
            vault.path().display()
        )),
        Err(cause) => output::warn(&format!(
            "the passphrase opens {} ({items}), but the key could not be cached ({cause}); every use will derive it again",
            vault.path().display()
        )),
    }
    Ok(Exit::Success)
}

fn lock(vault: &VaultStore) -> CommandResult {
    if vault.lock()? {
        output::say(&format!(
            "Locked {}: the cached key was dropped",
            vault.path().display()
        ));
    } else {
        output::say(&format!(
            "{} was not unlocked; no key was cached",
            vault.path().display()
        ));
    }
    Ok(Exit::Success)
}

fn passwd(service: &Service, vault: &VaultStore) -> CommandResult {
    let new_sources = PassphraseSources {
        file: service.env.new_passphrase_file.clone(),
        env: service.env.new_passphrase_set.then_some(ENV_NEW_PASSPHRASE),
        ask: None,
    };
    warn_if_weak(vault);
    vault.passwd(|| {
        new_passphrase(
            &new_sources,
            "DOCKER_PAT_NEW_PASSPHRASE_FILE or DOCKER_PAT_NEW_PASSPHRASE",
        )
    })?;
    output::say(&format!(
        "Changed the passphrase of {} ({}); the old one no longer opens it. The cached key was dropped: `docker-credential-pat vault unlock` caches the new one",
        vault.path().display(),
        vault.kdf()
    ));
    Ok(Exit::Success)
}

fn status(vault: &VaultStore, json: bool) -> CommandResult {
    let status = vault.status().map_err(ServiceError::Fs)?;
    let header = status.header.as_ref().and_then(|h| h.as_ref().ok());
    let problem = status
        .header
        .as_ref()
        .and_then(|h| h.as_ref().err().cloned())
        .or_else(|| status.damage.clone());
    if json {
        let value = json!({
            "path": status.path.display().to_string(),
            "exists": status.exists,
            "format_version": header.map(|h| h.version),
            "kdf": header.map(|h| json!({
                "algorithm": "argon2id",
                "memory_kib": h.kdf.memory_kib,
                "iterations": h.kdf.iterations,
                "parallelism": h.kdf.lanes,
            })),
            "unlocked": status.unlocked,
            "items": status.items,
            "key_cache": status.cache_available,
            "cache_seconds": status.cache_seconds,
            "error": problem,
        });
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
    } else {
        let state = match (status.exists, status.unlocked) {
            (false, _) => "not created (`docker-credential-pat vault init` creates it)".to_owned(),
            (true, true) => format!(
                "unlocked: the key is cached (for up to {} s after unlocking)",
                status.cache_seconds
            ),
            (true, false) => "locked".to_owned(),
        };
        let cache = match (status.cache_available, status.cache_seconds) {
            (false, _) => "unavailable: every use derives the key from the passphrase".to_owned(),
            (true, 0) => "off (vault_cache_seconds = 0)".to_owned(),
            (true, seconds) => format!("kernel user keyring, {seconds} s"),
        };
        output::outln!("vault:      {}", status.path.display());
        output::outln!("state:      {state}");
        if let Some(header) = header {
            output::outln!("format:     version {}, {}", header.version, header.kdf);
            if header.kdf != vault.kdf() {
                output::note(&format!(
                    "config.toml asks for {}; `docker-credential-pat vault passwd` re-encrypts the vault with it",
                    vault.kdf()
                ));
            }
        }
        if let Some(items) = status.items {
            output::outln!("items:      {items}");
        }
        output::outln!("key cache:  {cache}");
        if let Some(problem) = &problem {
            output::error(problem);
        }
    }
    Ok(if problem.is_some() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
