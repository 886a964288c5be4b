//! Shell completions and the man page, generated from the clap definitions.

use super::{CommandResult, Exit};
use crate::cli::{self, Shell};
use crate::service::ServiceError;

pub fn completions(shell: Shell) -> CommandResult {
    let mut command = cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut command,
        "docker-credential-pat",
        &mut std::io::stdout(),
    );
    Ok(Exit::Success)
}

pub fn man() -> CommandResult {
    let page = clap_mangen::Man::new(cli::command());
    page.render(&mut std::io::stdout())
        .map_err(|e| ServiceError::Invalid(format!("cannot write the man page: {e}")))?;
    Ok(Exit::Success)
}
