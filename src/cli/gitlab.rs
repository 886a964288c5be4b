//! `gitlab …`: GitLab's access tokens, managed from here.

use clap::{Args, Subcommand};

use super::help::EXIT_CODES;
use super::tokens::TableArgs;

pub(crate) const GITLAB_ABOUT: &str = "\
Manage GitLab access tokens from here (gitlab.com and self-managed): list personal, \
project and group tokens, create project and group tokens and store them at once, \
rotate, revoke and audit them, acting on GitLab and on the stored token together.

Start with `gitlab login --registry REGISTRY --token-stdin`: managing tokens needs a \
GitLab token with the api scope. It is kept only in the kernel keyring, for \
gitlab_session_seconds (8 hours) and never past its expiry, never on disk; `gitlab \
logout` drops it. Tokens are stored as INTEGRATION@REGISTRY; the registry is taken from \
a token's name, or --registry (registry.gitlab.com when neither is given).

A self-managed GitLab is named in config.toml: [registries.\"REGISTRY\"] with \
kind = \"gitlab\" and api = \"https://GITLAB-HOST/api/v4\" (DOCKER_PAT_GITLAB_API \
overrides it). Every call is bounded by registry_timeout_seconds (15).";

pub(crate) const GITLAB_ROTATE_ABOUT: &str = "\
Replace a token through GitLab's rotate call: GitLab revokes the old token and issues \
the new one, which is stored here at once and used from then on. The new token lasts as \
many days as the old one did (at most 365).

A token with the self_rotate (or api) scope rotates itself; others are rotated with the \
credential given to `gitlab login`. GitLab revokes every token of a family when an \
already rotated token is presented to a rotate call again, so the helper reads the \
token's state at GitLab before it calls, notes the rotation on the token's record \
before the call, and never sends the call twice. If the answer is lost (the network, \
a timeout, the helper stopped), run `gitlab rotate` again: it reads GitLab's state and \
either rotates (nothing had happened) or recovers a working token from what the lost \
rotation made (this needs `gitlab login`).";

pub(crate) const GITLAB_AUDIT_ABOUT: &str = "\
Compare GitLab's last use of each token linked here with the last use known here (on \
every machine, with an OpenBao server). A use GitLab saw later than every known one by \
more than audit_tolerance_minutes, or of a token never used where this helper can see, \
is flagged: someone else may hold a copy. Exit status 3 when any is.";

/// Where a GitLab token belongs: the signed-in user, a project or a group.
#[derive(Debug, Args)]
pub struct GitlabOwnerArgs {
    /// A project's access tokens: its numeric id or full path (group/app)
    #[arg(long, value_name = "ID", conflicts_with = "group")]
    pub project: Option<String>,
    /// A group's access tokens: its numeric id or full path
    #[arg(long, value_name = "ID")]
    pub group: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GitlabCommand {
    /// Keep a GitLab token with the api scope to manage tokens with (read from stdin or a hidden prompt)
    Login {
        /// The registry, as Docker names it (default: registry.gitlab.com)
        #[arg(long)]
        registry: Option<String>,
        /// Read the token from stdin instead of asking on the terminal
        #[arg(long)]
        token_stdin: bool,
    },
    /// Drop the kept GitLab login now
    Logout {
        /// The registry (default: registry.gitlab.com)
        #[arg(long)]
        registry: Option<String>,
    },
    /// List GitLab's tokens (personal, or a project's or group's) beside the tokens stored here
    Tokens {
        /// The registry (default: registry.gitlab.com)
        #[arg(long)]
        registry: Option<String>,
        #[command(flatten)]
        owner: GitlabOwnerArgs,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Link a token stored earlier (by `docker login`) to its token at GitLab, so it can be rotated and audited
    Link {
        /// The stored token, as INTEGRATION@REGISTRY
        token: String,
        /// Whose token it is (default: a personal access token)
        #[command(flatten)]
        owner: GitlabOwnerArgs,
    },
    /// Create a project or group token at GitLab and store it as INTEGRATION@REGISTRY
    Create(GitlabCreateArgs),
    /// Replace a token through GitLab's rotate call, never presenting a rotated token twice
    #[command(long_about = GITLAB_ROTATE_ABOUT)]
    Rotate {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
    },
    /// Revoke a token at GitLab (and delete it here when it is stored); cannot be undone
    Revoke {
        /// The token, as INTEGRATION@REGISTRY, or a GitLab token id
        token: String,
        /// The registry, for a token given by id (default: registry.gitlab.com)
        #[arg(long)]
        registry: Option<String>,
        #[command(flatten)]
        owner: GitlabOwnerArgs,
    },
    /// Find uses GitLab saw that nobody here made
    #[command(long_about = GITLAB_AUDIT_ABOUT, after_help = EXIT_CODES)]
    Audit {
        /// The registry (default: registry.gitlab.com)
        #[arg(long)]
        registry: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct GitlabCreateArgs {
    /// The integration the token is for (ci, laptop, deploy-bot…)
    #[arg(long, short)]
    pub integration: String,
    /// The registry (default: registry.gitlab.com)
    #[arg(long)]
    pub registry: Option<String>,
    #[command(flatten)]
    pub owner: GitlabOwnerArgs,
    /// What the token may do, comma-separated: read_registry, write_registry, self_rotate…
    #[arg(long, default_value = "read_registry", value_name = "SCOPES")]
    pub scopes: String,
    /// When the token expires: a number of days from now, or a date (YYYY-MM-DD);
    /// GitLab's default (its longest lifetime) without it
    #[arg(long, value_name = "DAYS|DATE")]
    pub expires: Option<String>,
    /// A note on what the token is for; GitLab shows it too
    #[arg(long)]
    pub description: Option<String>,
    /// The role of the token: guest, planner, reporter, developer, maintainer or owner
    /// (or 10…50); reporter pulls, developer pushes
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The user name `docker login` is given (default: the integration's name)
    #[arg(long, short)]
    pub username: Option<String>,
    /// Make it the registry's default token here
    #[arg(long)]
    pub default: bool,
}
