//! The commands that set the helper up and look after it: `2fa`, `vault`,
//! `migrate`, `doctor`, `import`, and the shell completions.

use clap::{Args, Subcommand, ValueEnum};

pub(crate) const DOCTOR_ABOUT: &str = "\
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

pub(crate) const IMPORT_ABOUT: &str = "\
Move plaintext logins out of Docker's config.json into the secret store.

Docker writes a login into config.json as base64 user:password (\"auth\") or as an \
\"identitytoken\" when no credential helper is set. Import stores each one as the \
protocol's store would (DOCKER_PAT_INTEGRATION, else the registry's default token), \
under the two-factor rule, reads it back from the store, and only then removes the \
secret from config.json. Everything else in config.json stays as it was; a backup is \
written beside it first. Logins it cannot import stay where they are and are reported \
(exit status 3). Running it again is harmless.";

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
