//! The commands that set the helper up and look after it: `2fa`, `vault`,
//! `migrate`, `doctor`, `import`, and the shell completions.

use clap::{Args, Subcommand, ValueEnum};

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
