//! `github …`: GitHub's classic tokens for ghcr.io, checked, rotated and revoked from here.

use clap::Subcommand;

pub(crate) const GITHUB_ABOUT: &str = "\
Check, rotate and revoke the GitHub classic tokens stored for ghcr.io (or a GitHub \
Enterprise server's registry). ghcr.io accepts only classic tokens, with read:packages \
to pull and write:packages to push, and GitHub has no API that creates them: `rotate` \
says where to make the new one, checks it, stores it and revokes the old one.

Tokens are stored as INTEGRATION@REGISTRY (`docker login ghcr.io` stores default@ghcr.io); \
the registry is taken from a token's name, or --registry (ghcr.io when neither is given). \
The first store of a new ghcr.io token checks it the same way `verify` does, and says on \
stderr what is wrong with it.

A GitHub Enterprise server is named in config.toml: [registries.\"REGISTRY\"] with \
kind = \"github\" and api = \"https://GITHUB-HOST/api/v3\" (DOCKER_PAT_GITHUB_API \
overrides it). Every call is bounded by registry_timeout_seconds (15).";

pub(crate) const GITHUB_ROTATE_ABOUT: &str = "\
Replace a token by one made in GitHub's settings: the helper prints the address of \
GitHub's page for a new classic token with the old one's package scopes ticked, reads \
the new token at a hidden prompt (or from stdin with --token-stdin), checks it with \
GitHub (the same user, at least the old scopes, not expired), stores it in place (Docker \
uses it at once), then revokes the old one at GitHub.

Until GitHub has revoked the old token, its secret is kept in the secret store as the \
inactive token INTEGRATION.retiring@REGISTRY. If the revocation fails or the helper is \
stopped, run `github rotate` again: it revokes the kept token and removes it, asking \
for nothing.";

#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Check stored tokens with GitHub: login, scopes, expiry; kept on each token's record
    Verify {
        /// The token, as INTEGRATION@REGISTRY (default: every token of the registry)
        token: Option<String>,
        /// The registry (default: ghcr.io)
        #[arg(long, conflicts_with = "token")]
        registry: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace a token by a new one made in GitHub's settings, then revoke the old one
    #[command(long_about = GITHUB_ROTATE_ABOUT)]
    Rotate {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
        /// Read the new token from stdin instead of asking on the terminal
        #[arg(long)]
        token_stdin: bool,
    },
    /// Revoke a token at GitHub and delete it here; cannot be undone
    Revoke {
        /// The token, as INTEGRATION@REGISTRY
        token: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
}
