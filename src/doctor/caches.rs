//! Who can read each secret the helper keeps for a while in the kernel
//! keyring: the Docker Hub session, GitLab logins, the OpenBao client token,
//! the vault key.
//!
//! Each is a trade: a cache readable by every process of the user lets cron
//! jobs and other terminals work without asking again, and lets them read
//! it; the Hub session, worth more, is kept to the login session that signed
//! in. Doctor says which each is here, so nobody has to guess.

use crate::finding::Finding;
use crate::kernel_keyring::{self, Reach};
use crate::openbao::settings::{Login, Resolved};
use crate::remote::gitlab::manage::Gitlab;
use crate::remote::hub::manage::Hub;
use crate::service::Service;

const CHECK: &str = "caches";

/// Every process of the user (and root) can read an entry of the user keyring.
const USER_KEYRING: &str = "in this user's kernel keyring, which every process of this user can read (other login sessions, cron jobs, containers sharing the uid without a user namespace) as well as root";

/// Adds one finding per cache: where it is kept and who can read it.
pub(super) fn check(service: &Service, findings: &mut Vec<Finding>) {
    if !kernel_keyring::available() {
        findings.push(Finding::ok(
            CHECK,
            "this system has no kernel keyring: no vault key, OpenBao token or Docker Hub session is kept between commands",
        ));
        return;
    }
    hub_session(service, findings);
    gitlab_logins(service, findings);
    openbao_token(service, findings);
    vault_key(service, findings);
}

fn with_fix(mut finding: Finding, fix: &str) -> Finding {
    finding.fix = Some(fix.to_owned());
    finding
}

fn hub_session(service: &Service, findings: &mut Vec<Finding>) {
    let Ok(hub) = Hub::open(service) else {
        return;
    };
    match hub.session() {
        Ok(session) => login_cache(
            &format!("the Docker Hub session of {}", session.username),
            true,
            "docker-credential-pat hub logout",
            findings,
        ),
        Err(_) => login_cache(
            "a Docker Hub session, once signed in,",
            false,
            "docker-credential-pat hub logout",
            findings,
        ),
    }
}

/// The GitLab logins kept for the registries whose tokens are linked to GitLab.
fn gitlab_logins(service: &Service, findings: &mut Vec<Finding>) {
    for registry in super::remote::gitlab_registries(service) {
        if let Ok(gitlab) = Gitlab::open(service, &registry)
            && gitlab.api.has_login()
        {
            login_cache(
                &format!("the GitLab login for {registry}"),
                true,
                &format!("docker-credential-pat gitlab logout --registry {registry}"),
                findings,
            );
        }
    }
}

/// Where a login the helper signs in with is kept (`Entry::private`), and who can read it.
fn login_cache(what: &str, open: bool, end: &str, findings: &mut Vec<Finding>) {
    let finding = match kernel_keyring::reach() {
        Reach::ThisSession => Finding::ok(
            CHECK,
            format!(
                "{what} is kept in this login session's kernel keyring with possessor-only permissions: only processes of this login session (and root) can read it"
            ),
        ),
        Reach::UserDefault => {
            let message = format!(
                "{what} is kept in this user's default session keyring, since this login has no session keyring of its own: every process of this user without one (cron jobs, logins without pam_keyinit, `docker exec`) and root can read it"
            );
            let fix = format!(
                "sign in from a shell started with `keyctl session` to keep it to that shell and what it starts; `{end}` ends it now"
            );
            if open {
                Finding::warn(CHECK, message, fix)
            } else {
                with_fix(Finding::ok(CHECK, message), &fix)
            }
        }
        Reach::Nowhere => return,
    };
    findings.push(finding);
}

fn openbao_token(service: &Service, findings: &mut Vec<Finding>) {
    if !service.uses_server().unwrap_or(false) {
        return;
    }
    let Ok(settings) = Resolved::new(&service.config.openbao, &service.env) else {
        // Doctor's OpenBao check reports settings that cannot work.
        return;
    };
    let finding = match settings.login {
        Login::Token { .. } => Finding::ok(
            CHECK,
            "the OpenBao token is given (BAO_TOKEN, VAULT_TOKEN or a token file) and is not cached",
        ),
        Login::AppRole { .. } | Login::Jwt { .. } => with_fix(
            Finding::ok(
                CHECK,
                format!(
                    "the OpenBao client token from the {} login is cached for its lifetime {USER_KEYRING}",
                    settings.login.method().name()
                ),
            ),
            "so every process of this user uses the server without logging in again; a shorter token_ttl on the server's role bounds it",
        ),
    };
    findings.push(finding);
}

fn vault_key(service: &Service, findings: &mut Vec<Finding>) {
    if !service.paths.vault_file().exists() {
        return;
    }
    let seconds = service.config.vault_cache_seconds;
    let finding = if seconds == 0 {
        Finding::ok(
            CHECK,
            "the vault key is not cached (vault_cache_seconds = 0): each use asks for the passphrase",
        )
    } else {
        with_fix(
            Finding::ok(
                CHECK,
                format!(
                    "the vault key is cached after an unlock for up to {seconds} s {USER_KEYRING}"
                ),
            ),
            "so `docker pull` in any terminal skips the passphrase; vault_cache_seconds = 0 in config.toml asks every time, `docker-credential-pat vault lock` drops it now",
        )
    };
    findings.push(finding);
}
