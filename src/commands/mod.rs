//! The commands for people, beside the protocol verbs.

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command, TokenList};
use crate::config::Environment;
use crate::error::ServiceError;
use crate::output;
use crate::service::Service;
use exit::{CommandResult, Exit};

mod configure;
mod doctor;
mod exec;
mod exit;
mod generate;
pub(crate) mod github;
mod gitlab;
mod hub;
mod import;
mod manage;
mod migrate;
mod remote;
mod tokens;
mod two_factor;
mod vault;
mod which;

/// Parses and runs a human-facing command; returns the exit status.
pub fn run(args: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Success as u8
                }
                _ => Exit::Usage as u8,
            };
        }
    };
    output::set_quiet(cli.quiet);
    match dispatch(cli.command) {
        Ok(exit) => exit as u8,
        Err(e) => {
            output::error(&e.to_string());
            Exit::Failure as u8
        }
    }
}

fn open() -> Result<Service, ServiceError> {
    Service::open(Environment::capture())
}

fn dispatch(command: Command) -> CommandResult {
    match command {
        // The protocol verbs reach here only through `--quiet get` and the like;
        // they are served by the protocol module, which main dispatches first.
        Command::Store | Command::Get | Command::Erase | Command::List | Command::Version => {
            output::error(
                "protocol verbs take no options: run `docker-credential-pat get` (etc.) on its own",
            );
            Ok(Exit::Usage)
        }
        Command::Tokens(args) => tokens::list(&open()?, args),
        Command::History { token, json } => tokens::history(&open()?, &token, json),
        Command::Which { registry, json } => which::run(&open()?, registry.as_deref(), json),
        Command::Exec {
            integration,
            command,
        } => exec::run(&open()?, &integration, &command),
        Command::Add(args) => manage::add(&open()?, args),
        Command::Rename {
            token,
            new_integration,
        } => manage::rename(&open()?, &token, &new_integration),
        Command::Default { token } => manage::make_default(&open()?, &token),
        Command::Deactivate(TokenList { tokens }) => manage::set_active(&open()?, &tokens, false),
        Command::Activate(TokenList { tokens }) => manage::set_active(&open()?, &tokens, true),
        Command::Delete(args) => manage::delete(&open()?, args.tokens, args.all),
        Command::Describe { token, text } => manage::describe(&open()?, &token, &text),
        Command::TwoFactor(command) => two_factor::run(&open()?, command),
        Command::Vault(command) => vault::run(&open()?, command),
        Command::Migrate { to } => migrate::run(&open()?, to),
        Command::Doctor { json, repair } => doctor::run(Environment::capture(), json, repair),
        Command::Import { dry_run } => import::run(&open()?, dry_run),
        Command::ConfigureDocker(args) => configure::run(
            &Environment::capture(),
            &args.registries,
            configure::Action::of(&args),
        ),
        Command::ConfigurePodman(args) => {
            configure::podman(&open()?, &args.registries, configure::Action::of(&args))
        }
        Command::Hub(command) => hub::run(&open()?, command),
        Command::Gitlab(command) => gitlab::run(&open()?, command),
        Command::Github(command) => github::run(&open()?, command),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man => generate::man(),
    }
}
