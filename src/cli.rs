//! Command-line definitions only. The man page and shell completions are generated from these.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  error (for the protocol verbs: the one-line message is on stdout)
  2  invalid command line
  3  attention needed: `tokens --stale` listed tokens, `doctor` found something to
     fix, or `import` left logins in config.json";

const ABOUT: &str = "Docker credential helper for personal access tokens";

const LONG_ABOUT: &str = "\
Docker credential helper for personal access tokens.

Docker runs it through \"credsStore\": \"pat\" or \"credHelpers\" in config.json, using the \
verbs store, get, erase, list and version. Secrets live in the OS keychain (or an encrypted \
vault file on machines without one, or a team's OpenBao / HashiCorp Vault server), one token \
per integration and registry, with the last use of each recorded.

The protocol verbs choose a token by the DOCKER_PAT_INTEGRATION environment variable; \
without it they use the registry's default token. Tokens are named INTEGRATION@REGISTRY, \
for example ci@docker.io.";

const DOCTOR_ABOUT: &str = "\
Check the setup and the stored tokens, and repair what can be repaired.

Checks: config.toml; that the OS keychain (and the vault, when used) answers; that \
the index and the secret store agree; that Docker's config.json sends logins to this \
helper, with no other helper shadowing it in credHelpers, and holds no plaintext \
secrets; stale tokens; passwords stored for accounts that require tokens; file and \
folder permissions. With backend = \"openbao\": every server address reachable and \
unsealed, the login, the mount is KV version 2, and what the policy allows.

Each finding is one line: its status (ok, warning, problem, repaired), the check, what \
is wrong and what to do. --repair removes index entries whose secret is gone, adopts \
store items no token refers to as inactive tokens named recovered-…, removes leftover \
secrets of deleted tokens, rebuilds a damaged index from the store (the damaged file \
is kept beside it), sets a damaged config.toml aside, wires config.json to this \
helper and tightens permissions. It never deletes a secret that a token could still \
need. Exit status 0 when everything is fine, 3 when something needs attention.

--json prints an array with one object per finding: check, status (ok, warn or \
problem), message, fix (null when there is nothing to do; after a repair, what was \
done), repairable and repaired.";

const IMPORT_ABOUT: &str = "\
Move plaintext logins out of Docker's config.json into the secret store.

Docker writes a login into config.json as base64 user:password (\"auth\") or as an \
\"identitytoken\" when no credential helper is set. Import stores each one as the \
protocol's store would (DOCKER_PAT_INTEGRATION, else the registry's default token), \
under the two-factor rule, reads it back from the store, and only then removes the \
secret from config.json. Everything else in config.json stays as it was; a backup is \
written beside it first. Logins it cannot import stay where they are and are reported \
(exit status 3). Running it again is harmless.";

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
    /// Make a token the one used when DOCKER_PAT_INTEGRATION is unset
    Default {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
    },
    /// Stop tokens from being used, keeping them stored
    Deactivate {
        /// Tokens, as INTEGRATION@REGISTRY
        #[arg(required = true)]
        tokens: Vec<String>,
    },
    /// Allow deactivated tokens to be used again
    Activate {
        /// Tokens, as INTEGRATION@REGISTRY
        #[arg(required = true)]
        tokens: Vec<String>,
    },
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
    /// Point Docker's config.json at this helper
    ConfigureDocker {
        /// Use the helper only for this registry (repeatable); without it, for all registries
        #[arg(long = "registry", value_name = "HOST")]
        registries: Vec<String>,
        /// Restore config.json from the backup taken by the last configure-docker
        #[arg(long, conflicts_with_all = ["registries", "remove"])]
        undo: bool,
        /// Stop Docker from using this helper (with --registry: only for those registries);
        /// the tokens stay stored
        #[arg(long)]
        remove: bool,
    },
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

#[derive(Debug, Args)]
pub struct TokensArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Only tokens not used for more than stale_after_days; exit 3 if there are any
    #[arg(long)]
    pub stale: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The registry, in any address form (docker.io, ghcr.io, host:port…)
    pub registry: String,
    /// The account the token belongs to
    #[arg(long, short)]
    pub username: String,
    /// The integration this token is for (ci, laptop, deploy-bot…)
    #[arg(long, short, default_value = "default")]
    pub integration: String,
    /// A note on what the token is for
    #[arg(long)]
    pub description: Option<String>,
    /// Make it the registry's default token
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["tokens", "all"]))]
pub struct DeleteArgs {
    /// Tokens, as INTEGRATION@REGISTRY
    pub tokens: Vec<String>,
    /// Delete every token of this registry
    #[arg(long, value_name = "REGISTRY", conflicts_with = "tokens")]
    pub all: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TwoFactorCommand {
    /// Refuse passwords for this account from now on
    Enable(AccountArgs),
    /// Allow passwords for this account again
    Disable(AccountArgs),
    /// Show which accounts require tokens
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account's username
    #[arg(long, short)]
    pub username: String,
    /// The registry
    #[arg(long, short, default_value = "docker.io")]
    pub registry: String,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault, asking for a new passphrase
    Init,
    /// Unlock the vault and cache its key for vault_cache_seconds
    Unlock,
    /// Forget the cached key; the next use asks for the passphrase
    Lock,
    /// Change the passphrase, re-encrypting the vault
    Passwd,
    /// Show where the vault is, whether it is unlocked, and its parameters
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The OS keychain
    Keychain,
    /// The encrypted vault file
    File,
    /// The OpenBao (or HashiCorp Vault) server in the [openbao] table of config.toml
    #[value(name = "openbao")]
    OpenBao,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
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
