//! The long help texts: the helper's, and those of the commands that need
//! more than a line. They are prose for people (the man page is made of
//! them), so they stand together, apart from the definitions.

pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  error (for the protocol verbs: the one-line message is on stdout)
  2  invalid command line
  3  attention needed: `tokens --stale` or `tokens --expiring` listed tokens,
     `doctor` found something to fix, `import` left logins in config.json, or
     `hub audit` or `gitlab audit` found a suspicious use";

pub(crate) const ABOUT: &str = "Docker credential helper for personal access tokens";

pub(crate) const LONG_ABOUT: &str = "\
Docker credential helper for personal access tokens.

Docker runs it through \"credsStore\": \"pat\" or \"credHelpers\" in config.json, using the \
verbs store, get, erase, list and version. Secrets live in the OS keychain (or an encrypted \
vault file on machines without one, or a team's OpenBao / HashiCorp Vault server), one token \
per integration and registry, with the last use of each recorded.

The protocol verbs choose a token by the DOCKER_PAT_INTEGRATION environment variable; \
without it, by the first [[select]] rule of config.toml that matches where the client runs \
(directory, variable, calling program, registry) and whose integration has a token there; \
otherwise they use the registry's default token. `which` shows the choice and why. Tokens \
are named INTEGRATION@REGISTRY, for example ci@docker.io.";

pub(crate) const WHICH_ABOUT: &str = "\
Show the token `get` would return here, and why.

The choice is the one the protocol verbs make in this directory with this environment: \
DOCKER_PAT_INTEGRATION when set, else the first [[select]] rule of config.toml that \
matches and whose integration has a token for the registry (or that names the registry), \
else the registry's default token. Without a registry, one line for every registry that \
has tokens. Exits 1 when, for the registry asked about, `get` would find nothing.";

pub(crate) const PODMAN_ABOUT: &str = "\
Point podman's, buildah's and skopeo's auth.json at this helper.

They read containers' auth.json, not Docker's credsStore, and look a registry up in its \
credHelpers by host alone. This writes a credHelpers entry naming this helper for each \
registry: those given with --registry (any spelling: index.docker.io and \
https://index.docker.io/v1/ become docker.io, quay.io/org becomes quay.io), else docker.io \
and every registry that has tokens. It writes the file podman login uses \
($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else \
/run/containers/UID/auth.json) and, unless REGISTRY_AUTH_FILE is set, \
~/.config/containers/auth.json, which survives a reboot. Each file is backed up first and \
written atomically; --undo restores the backups, --remove takes the entries out again.";

pub(crate) const EXEC_ABOUT: &str = "\
Run one command with the token selection fixed to an integration.

The command runs with DOCKER_PAT_INTEGRATION=NAME in its environment (and nothing else \
added: no secret), so every docker, skopeo, podman or buildah it starts uses NAME's token \
for every registry, whatever the directory and the [[select]] rules say. Its exit status \
is passed through (128+N when a signal N ended it), and SIGINT, SIGTERM and SIGHUP sent \
to this process are passed on to it. NAME must have at least one token.";

pub(crate) const DOCTOR_ABOUT: &str = "\
Check the setup and the stored tokens, and repair what can be repaired.

Checks: config.toml; that the OS keychain (and the vault, when used) answers; that \
the index and the secret store agree; that Docker's config.json sends logins to this \
helper, with no other helper shadowing it in credHelpers, and holds no plaintext \
secrets; stale tokens; tokens that expire within warn_expiry_days (expired ones are \
problems); passwords stored for accounts that require tokens; the [[select]] rules (one that \
can never match, names an integration without a token, or is shadowed by an earlier \
one); containers' auth.json for podman, buildah and skopeo; file and folder \
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

pub(crate) const HUB_ABOUT: &str = "\
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

pub(crate) const ROTATE_ABOUT: &str = "\
Replace a token with a new one of the same label, scopes and expiry length.

The new token is created on Docker Hub, checked there, and stored in place of the old \
one, so Docker uses it at once; then the old token is deactivated on Hub (deleted with \
--delete-old). If anything fails or the helper is stopped before the new token is \
stored, the old one stays stored, active and in use; from the moment the new one is \
stored it is the one in use. The error says which step failed and what is left to do. \
If the old token could not be switched off, running `hub rotate` on the token again \
finishes that first.";

pub(crate) const AUDIT_ABOUT: &str = "\
Find uses of your tokens that Docker Hub saw and nobody here made.

For each token linked to Hub, Hub's last use is compared with the latest use known here: \
every `get` that served it and the helper's own checks of it at Hub. A Hub use later \
than all of them by more than audit_tolerance_minutes (10), or any Hub use of a token \
never used here, is reported as suspicious, with the commands to deactivate or rotate \
it. Exit status 3 when something is suspicious. `doctor` runs the audit when a Hub \
session is open.";
