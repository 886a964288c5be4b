//! The arguments of the commands on stored tokens: `tokens`, `add`, `delete`,
//! and the lists of tokens that `activate` and `deactivate` take.

use clap::Args;

/// Tokens named on the command line.
#[derive(Debug, Args)]
pub struct TokenList {
    /// Tokens, as INTEGRATION@REGISTRY
    #[arg(required = true)]
    pub tokens: Vec<String>,
}

/// How a registry's token table is printed: `--json`, `--wide`.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Show every column however wide the table gets
    #[arg(long)]
    pub wide: bool,
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

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["tokens", "all"]))]
pub struct DeleteArgs {
    /// Tokens, as INTEGRATION@REGISTRY
    pub tokens: Vec<String>,
    /// Delete every token of this registry
    #[arg(long, value_name = "REGISTRY", conflicts_with = "tokens")]
    pub all: Option<String>,
}
