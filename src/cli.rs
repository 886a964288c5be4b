//! Command-line definitions only. The man page and shell completions are generated from these.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  error (for the protocol verbs: the one-line message is on stdout)
  2  invalid command line
  3  attention needed: `tokens --stale` or `tokens --expiring` listed tokens,
     `doctor` found something to fix, `import` left logins in config.json, or
     `hub audit` found a suspicious use";

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
secrets; stale tokens; tokens that expire within warn_expiry_days (expired ones are \
problems); passwords stored for accounts that require tokens; file and folder \
permissions; and, when a Docker Hub session is open (`hub login`), the audit of the \
tokens linked to Hub (see `hub audit`). With backend = \"openbao\": every server \
address reachable and unsealed, the login, the mount is KV version 2, and what the \
policy allows.

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

const HUB_ABOUT: &str = "\
Manage access tokens on Docker Hub from here: create, link, deactivate, activate, delete, \
rotate and audit them, acting on Hub and on the stored token together.

Start with `hub login --username USER`: managing tokens needs the account password (an \
access token cannot do it), and a second-factor code when two-factor authentication is \
on. The session is kept only in the kernel keyring, for hub_session_seconds (300), \
never on disk; `hub logout` ends it. Tokens are stored as INTEGRATION@docker.io; a token \
stored earlier by `docker login` is linked to its Hub token with `hub link`. Hub token ids \
may be shortened to their first 8 characters, as `hub tokens` shows them.

hub_url in config.toml (or DOCKER_PAT_HUB_URL) says where Hub's API is; every call is \
bounded by hub_timeout_seconds (15).";

const ROTATE_ABOUT: &str = "\
Replace a token with a new one of the same label, scopes and expiry length.

The new token is created on Docker Hub, checked there, and stored in place of the old \
one, so Docker uses it at once; then the old token is deactivated on Hub (deleted with \
--delete-old). If anything fails or the helper is stopped before the new token is \
stored, the old one stays stored, active and in use; from the moment the new one is \
stored it is the one in use. The error says which step failed and what is left to do. \
If the old token could not be switched off, running `hub rotate` on the token again \
finishes that first.";

const AUDIT_ABOUT: &str = "\
Find uses of your tokens that Docker Hub saw and nobody here made.

For each token linked to Hub, Hub's last use is compared with the latest use known here: \
every `get` that served it and the helper's own checks of it at Hub. A Hub use later \
than all of them by more than audit_tolerance_minutes (10), or any Hub use of a token \
never used here, is reported as suspicious, with the commands to deactivate or rotate \
it. Exit status 3 when something is suspicious. `doctor` runs the audit when a Hub \
session is open.";

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
    /// Manage access tokens on Docker Hub: create, rotate, deactivate, audit
    #[command(subcommand, long_about = HUB_ABOUT)]
    Hub(HubCommand),
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
    /// Only tokens that expire within DAYS (default: warn_expiry_days) or have
    /// expired; exit 3 if there are any
    #[arg(long, value_name = "DAYS")]
    pub expiring: Option<Option<u32>>,
    /// Show every column however wide the table gets
    #[arg(long)]
    pub wide: bool,
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
    /// When the token expires: a number of days from now, or a date (YYYY-MM-DD)
    #[arg(long, value_name = "DAYS|DATE")]
    pub expires: Option<String>,
    /// Make it the registry's default token
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Sign in to Docker Hub with the account password (and second factor)
    Login(HubLoginArgs),
    /// End the Docker Hub session now
    Logout,
    /// Create a token on Docker Hub and store it as INTEGRATION@docker.io
    Create(HubCreateArgs),
    /// List the tokens on Docker Hub beside the tokens stored here
    Tokens {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Show every column however wide the table gets
        #[arg(long)]
        wide: bool,
    },
    /// Link a token stored earlier (by `docker login`) to its token on Docker Hub
    Link {
        /// The stored token, as INTEGRATION@docker.io
        token: String,
        /// Its id on Docker Hub (`hub tokens` shows them)
        id: String,
        /// When it expires, if it does: a number of days from now, or a date (YYYY-MM-DD)
        #[arg(long, value_name = "DAYS|DATE")]
        expires: Option<String>,
    },
    /// Deactivate tokens on Docker Hub and here
    Deactivate {
        /// Tokens, as INTEGRATION@docker.io or Hub token ids
        #[arg(required = true)]
        tokens: Vec<String>,
    },
    /// Activate tokens on Docker Hub and here
    Activate {
        /// Tokens, as INTEGRATION@docker.io or Hub token ids
        #[arg(required = true)]
        tokens: Vec<String>,
    },
    /// Delete tokens on Docker Hub and here; cannot be undone
    Delete {
        /// Tokens, as INTEGRATION@docker.io or Hub token ids
        #[arg(required = true)]
        tokens: Vec<String>,
    },
    /// Replace a token with a new one, checked and stored before the old one is switched off
    #[command(long_about = ROTATE_ABOUT)]
    Rotate {
        /// The token, as INTEGRATION@docker.io
        token: String,
        /// Delete the old token on Hub instead of deactivating it
        #[arg(long)]
        delete_old: bool,
    },
    /// Find uses Docker Hub saw that nobody here made
    #[command(long_about = AUDIT_ABOUT, after_help = EXIT_CODES)]
    Audit {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct HubLoginArgs {
    /// The Docker Hub account
    #[arg(long, short)]
    pub username: String,
    /// Read the password from stdin instead of asking on the terminal
    #[arg(long)]
    pub password_stdin: bool,
    /// The code of the second factor, when two-factor authentication is on
    /// (without it, it is asked for on the terminal)
    #[arg(long, value_name = "CODE")]
    pub otp: Option<Code>,
}

/// A one-time code from the command line: wiped on drop, and shown by `Debug` as `Code(..)`.
#[derive(Clone)]
pub struct Code(zeroize::Zeroizing<String>);

impl Code {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Code {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(text.trim().to_owned())))
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(..)")
    }
}

#[derive(Debug, Args)]
pub struct HubCreateArgs {
    /// The integration the token is for (ci, laptop, deploy-bot…)
    #[arg(long, short)]
    pub integration: String,
    /// The Docker Hub account (default: the one signed in)
    #[arg(long, short)]
    pub username: Option<String>,
    /// What the token may do: admin (read, write, delete), write, read or public_read
    #[arg(long, default_value = "read", value_name = "SCOPE")]
    pub scopes: String,
    /// When the token expires: a number of days from now, or a date (YYYY-MM-DD);
    /// without it, never
    #[arg(long, value_name = "DAYS|DATE")]
    pub expires: Option<String>,
    /// A note on what the token is for; Hub shows it in the token's label
    #[arg(long)]
    pub description: Option<String>,
    /// Make it Docker Hub's default token here
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
