//! `hub …`: Docker Hub's tokens, managed from here.

use clap::{Args, Subcommand};

use super::help::{AUDIT_ABOUT, EXIT_CODES, ROTATE_ABOUT};
use super::tokens::TableArgs;

/// Tokens named on the command line, stored here or on Docker Hub.
#[derive(Debug, Args)]
pub struct HubTokenList {
    /// Tokens, as INTEGRATION@docker.io or Hub token ids
    #[arg(required = true)]
    pub tokens: Vec<String>,
    /// The organisation whose access tokens they are (taken from the stored
    /// token's record when left out)
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
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
        /// List this organisation's access tokens instead of the account's own
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        #[command(flatten)]
        table: TableArgs,
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
        /// The organisation whose access token it is (stored with the
        /// organisation as username, as by `docker login -u ORG`)
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// Deactivate tokens on Docker Hub and here
    Deactivate(HubTokenList),
    /// Activate tokens on Docker Hub and here
    Activate(HubTokenList),
    /// Delete tokens on Docker Hub and here; cannot be undone
    Delete(HubTokenList),
    /// Replace a token with a new one, checked and stored before the old one is switched off
    #[command(long_about = ROTATE_ABOUT)]
    Rotate {
        /// The token, as INTEGRATION@docker.io
        token: String,
        /// Delete the old token on Hub instead of deactivating it
        #[arg(long)]
        delete_old: bool,
        /// The organisation whose access token it is (taken from the stored
        /// token's record when left out)
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// Find uses Docker Hub saw that nobody here made
    #[command(long_about = AUDIT_ABOUT, after_help = EXIT_CODES)]
    Audit {
        /// Audit this organisation's access tokens instead of the account's own
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
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
    /// Read the password from stdin instead of asking on the terminal; a
    /// second line, when given, is the code of the second factor
    #[arg(long)]
    pub password_stdin: bool,
    /// No longer taken: a code on the command line is visible to every user
    /// of the machine. The value is dropped unread, and the command refuses.
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "")]
    pub otp: Option<Refused>,
}

/// An argument that is no longer taken: what was given is dropped unread,
/// so not even `Debug` can show it.
#[derive(Debug, Clone)]
pub struct Refused;

impl std::str::FromStr for Refused {
    type Err = std::convert::Infallible;
    fn from_str(_: &str) -> Result<Self, Self::Err> {
        Ok(Self)
    }
}

#[derive(Debug, Args)]
pub struct HubCreateArgs {
    /// The integration the token is for (ci, laptop, deploy-bot…)
    #[arg(long, short)]
    pub integration: String,
    /// The Docker Hub account (default: the one signed in)
    #[arg(long, short, conflicts_with = "org")]
    pub username: Option<String>,
    /// Create an access token of this organisation (an owner's session is
    /// needed); it is stored with the organisation as username
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// With --org: a repository the token reaches: ORG/NAME, 'ORG/*' (a *
    /// matches within the name) or '*/*/public'; give it once per pattern
    #[arg(long, value_name = "PATTERN", requires = "org")]
    pub repo: Vec<String>,
    /// What the token may do: admin (read, write, delete), write, read or
    /// public_read [default: read]; with --org: image-pull, image-push,
    /// image-delete on the repositories, repository-create, repository-list,
    /// member-read on the organisation [default: image-pull]
    #[arg(long, value_name = "SCOPE,…")]
    pub scopes: Option<String>,
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
