//! Command-line definitions only. The man page and shell completions are generated from these.
//!
//! - this file: the helper's own line (`Cli`) and every command;
//! - `help`: the long help texts, the exit codes among them;
//! - [`tokens`]: the arguments of the commands on stored tokens;
//! - [`hub`]: `hub …`, Docker Hub's tokens;
//! - [`gitlab`]: `gitlab …`, GitLab's tokens;
//! - [`github`]: `github …`, GitHub's classic tokens for ghcr.io;
//! - [`setup`]: `2fa`, `vault`, `migrate`, `doctor`, `import` and the completions.

use clap::{Parser, Subcommand};

pub mod github;
pub mod gitlab;
mod help;
pub mod hub;
pub mod setup;
pub mod tokens;

pub use github::GithubCommand;
pub use gitlab::{GitlabCommand, GitlabCreateArgs, GitlabOwnerArgs};
pub use hub::{HubCommand, HubCreateArgs, HubLoginArgs, HubTokenList};
pub use setup::{AccountArgs, BackendArg, Shell, TwoFactorCommand, VaultCommand};
pub use tokens::{AddArgs, DeleteArgs, TokenList, TokensArgs};

pub use help::EXIT_CODES;
use help::{ABOUT, DOCTOR_ABOUT, EXEC_ABOUT, HUB_ABOUT, IMPORT_ABOUT, LONG_ABOUT, WHICH_ABOUT};

#[derive(Debug, Parser)]
#[command(
    name = "docker-credential-pat",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES,
    disable_version_flag = true,
    propagate_version = false
)]
pub struct Cli {
    /// Print only errors and the output asked for
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Protocol: store the credentials given as JSON on stdin
    Store,
    /// Protocol: print the credentials for the server address on stdin
    Get,
    /// Protocol: erase the credentials for the server address on stdin
    Erase,
    /// Protocol: print every server address with its username, as JSON
    List,
    /// Print the version
    Version,

    /// List tokens with their state, last use and client
    Tokens(TokensArgs),
    /// Add a token, read from stdin or typed at a hidden prompt
    Add(AddArgs),
    /// Give a token a new integration name
    Rename {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
        /// The new integration name
        new_integration: String,
    },
    /// Make a token the one used when neither DOCKER_PAT_INTEGRATION nor a rule chooses another
    Default {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
    },
    /// Stop tokens from being used, keeping them stored
    Deactivate(TokenList),
    /// Allow deactivated tokens to be used again
    Activate(TokenList),
    /// Delete tokens and their secrets
    Delete(DeleteArgs),
    /// Show when and by which client a token was last used
    History {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the token `get` would return here, and why
    #[command(long_about = WHICH_ABOUT, after_help = EXIT_CODES)]
    Which {
        /// The registry (any spelling Docker uses); without it, every registry with tokens
        registry: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a command with every protocol verb using one integration's tokens
    #[command(long_about = EXEC_ABOUT)]
    Exec {
        /// The integration whose tokens the command's clients use
        #[arg(long, value_name = "NAME")]
        integration: String,
        /// The command and its arguments (after `--`)
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND",
            value_parser = clap::value_parser!(std::ffi::OsString)
        )]
        command: Vec<std::ffi::OsString>,
    },
    /// Set a token's description (an empty text clears it)
    Describe {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
        /// The description
        text: String,
    },
    /// Mark accounts as protected by two-factor authentication: only tokens may be stored
    #[command(name = "2fa", subcommand)]
    TwoFactor(TwoFactorCommand),
    /// Manage the encrypted vault file used where no OS keychain is available
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Move every token to another backend (keychain, file, or an OpenBao server)
    Migrate {
        /// Where to move the secrets
        #[arg(long, value_enum)]
        to: BackendArg,
    },
    /// Check the setup and the stored tokens, and repair what can be repaired
    #[command(long_about = DOCTOR_ABOUT, after_help = EXIT_CODES)]
    Doctor {
        /// Print the findings as a JSON array
        #[arg(long)]
        json: bool,
        /// Fix what can be fixed without losing a secret
        #[arg(long)]
        repair: bool,
    },
    /// Move plaintext logins out of Docker's config.json into the secret store
    #[command(long_about = IMPORT_ABOUT, after_help = EXIT_CODES)]
    Import {
        /// Show what would be imported, change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Point podman's, buildah's and skopeo's auth.json (credHelpers) at this helper
    #[command(long_about = help::PODMAN_ABOUT)]
    ConfigurePodman(ConfigureArgs),
    /// Point Docker's config.json at this helper
    ConfigureDocker(ConfigureArgs),
    /// Manage access tokens on Docker Hub: create, rotate, deactivate, audit
    #[command(subcommand, long_about = HUB_ABOUT)]
    Hub(HubCommand),
    /// Manage access tokens on GitLab: list, create, rotate, revoke, audit
    #[command(subcommand, long_about = gitlab::GITLAB_ABOUT)]
    Gitlab(GitlabCommand),
    /// Check, rotate and revoke GitHub classic tokens for ghcr.io
    #[command(subcommand, long_about = github::GITHUB_ABOUT)]
    Github(GithubCommand),
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

/// What `configure-docker` and `configure-podman` take.
#[derive(Debug, clap::Args)]
pub struct ConfigureArgs {
    /// Use the helper only for this registry (repeatable); without it, for all registries
    /// (for podman: docker.io and every registry that has tokens)
    #[arg(long = "registry", value_name = "HOST")]
    pub registries: Vec<String>,
    /// Restore the file from the backup taken by the last run of this command
    #[arg(long, conflicts_with_all = ["registries", "remove"])]
    pub undo: bool,
    /// Stop the clients from using this helper (with --registry: only for those
    /// registries); the tokens stay stored
    #[arg(long)]
    pub remove: bool,
}

/// The clap command, for help, the man page and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// True when `word` names a subcommand meant for people (not a protocol verb).
pub fn is_command(word: &str) -> bool {
    command()
        .get_subcommands()
        .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
}

#[cfg(test)]
mod tests {
    #[test]
    fn definitions_are_consistent() {
        super::command().debug_assert();
    }
}
