//! What acts on GitLab and on the stored token together.
//!
//! The order of each operation keeps a working token stored whatever
//! happens: GitLab first for anything that revokes (a refusal there changes
//! nothing here); for a new token, stored here the moment GitLab's answer
//! arrives, before anything else that can fail. A rotation writes its intent
//! on the token's record before the rotate call, and a run that finds one
//! reads GitLab's state before it calls again (see [`rotate`]).
//!
//! Tokens are read and changed only through the service's ledger, so this
//! works the same on this machine's index and on a team's OpenBao server,
//! where the link, the intent and GitLab's view travel with the record.
//!
//! - this file: [`Gitlab`], the stored tokens commands name, what every
//!   operation shares;
//! - [`login`]: the management credential (`gitlab login`, `gitlab logout`);
//! - [`create`]: a new project or group token made at GitLab and stored;
//! - [`rotate`]: a token replaced through GitLab's rotate calls;
//! - [`listing`]: GitLab's tokens beside the stored ones, the audit, revoke.

use crate::config::Paths;
use crate::index::{RemoteLink, RemoteOwner, TokenRecord};
use crate::ledger::Entry;
use crate::names::TokenName;
use crate::registry::Registry;
use crate::remote::RemoteError;
use crate::remote::api::TokenRef;
use crate::remote::endpoint::{self, Endpoint};
use crate::remote::gitlab::client::GitlabApi;
use crate::remote::session::Place;
use crate::service::Service;

pub(crate) mod create;
pub(crate) mod listing;
pub(crate) mod login;
pub(crate) mod rotate;

/// The word a GitLab link carries in its record's `api`.
pub(crate) const API: &str = "gitlab";
/// The client name recorded for the helper's own calls made with a stored token.
pub(crate) const CHECK_CLIENT: &str = "gitlab-check";
/// The registry GitLab commands act on when none is named.
pub(crate) const DEFAULT_REGISTRY: &str = "registry.gitlab.com";

pub(crate) use crate::remote::ManageError;

type Result<T, E = ManageError> = std::result::Result<T, E>;

/// One GitLab registry as this run sees it: the service, where its API is,
/// and the client (with the management credential, when one is kept).
pub(crate) struct Gitlab<'a> {
    pub service: &'a Service,
    pub endpoint: Endpoint,
    pub api: GitlabApi,
}

impl<'a> Gitlab<'a> {
    /// GitLab for `registry`: where its API is, and the login kept for it.
    pub(crate) fn open(service: &'a Service, registry: &Registry) -> Result<Self> {
        let endpoint = endpoint::gitlab(registry, &service.config, &service.env)
            .map_err(ManageError::Invalid)?;
        let kept = place(&endpoint.api, &service.paths).open();
        let api = GitlabApi::new(
            &endpoint.api,
            service.config.registry_timeout(),
            kept.map(|k| k.secret),
        )?;
        Ok(Self {
            service,
            endpoint,
            api,
        })
    }

    pub(crate) fn place(&self) -> Place<'_> {
        place(&self.endpoint.api, &self.service.paths)
    }

    /// Runs a call made with the management credential. GitLab answers 401
    /// both for a credential it no longer accepts and for a token the
    /// login's user may not see, so a 401 is checked against the login
    /// itself: only a login GitLab refuses is dropped (and the next command
    /// asks for a new one).
    pub(crate) fn managed<T>(
        &self,
        call: impl FnOnce(&GitlabApi) -> Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        let result = call(&self.api);
        if let Err(RemoteError::Unauthorized { what }) = &result
            && self.api.has_manager()
        {
            if self.api.login_works() {
                return Err(RemoteError::Refused {
                    status: 401,
                    what,
                    detail: "the token given to `gitlab login` may not act on it".into(),
                });
            }
            let _ = self.place().forget();
            return Err(RemoteError::NoLogin);
        }
        result
    }

    /// Every stored token of this registry, and those linked to GitLab.
    fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.name.registry == self.endpoint.registry)
            .collect())
    }

    /// A stored token of this registry and its record, read at once.
    fn stored(&self, text: &str) -> Result<(TokenName, TokenRecord)> {
        crate::remote::stored(self.service, &self.endpoint.registry, text)
    }

    /// Writes `change` to the record of `name`, in one commit.
    fn update(&self, name: &TokenName, change: impl FnMut(&mut TokenRecord)) -> Result<()> {
        self.service.update_tokens(&[name.to_string()], change)?;
        Ok(())
    }

    /// Waits while a call begun at `started` (by this run or a stopped one)
    /// may still be under way at GitLab: its client gave up after the
    /// timeout, and a slow server may act a little later.
    pub(crate) fn wait_out(&self, started: chrono::DateTime<chrono::Utc>) {
        let window = self.service.config.registry_timeout() + std::time::Duration::from_secs(1);
        let until = started + chrono::Duration::from_std(window).unwrap_or_default();
        if let Ok(wait) = (until - chrono::Utc::now()).to_std() {
            std::thread::sleep(wait.min(window));
        }
    }

    /// Records a call the helper made with a stored token as a use of it, as
    /// GitLab counts it (here, and on the team server when there is one).
    fn record_own_use(&self, record: &TokenRecord) {
        let at = chrono::Utc::now();
        let _ = crate::usage::record_use(&self.service.paths, &record.id, CHECK_CLIENT, "", at);
        if let Ok(ledger) = self.service.ledger() {
            let _ = ledger.report_use(&record.id, at, CHECK_CLIENT, "");
        }
    }
}

/// Where the management credential of the GitLab API at `api` is kept.
fn place<'a>(api: &'a str, paths: &'a Paths) -> Place<'a> {
    Place {
        kind: "gitlab",
        url: api,
        paths,
        what: "GitLab login",
    }
}

/// The GitLab link of a stored token, or why it has none.
pub(crate) fn link_of(name: &TokenName, record: &TokenRecord) -> Result<RemoteLink> {
    record
        .remote
        .clone()
        .filter(|l| l.api == API)
        .ok_or_else(|| {
            ManageError::Invalid(format!(
                "{name} is not linked to a GitLab token: tokens made by `docker-credential-pat gitlab create` are"
            ))
        })
}

/// The reference a link names at GitLab.
pub(crate) fn token_ref(link: &RemoteLink) -> TokenRef {
    TokenRef {
        owner: link.owner.clone(),
        id: link.id.clone(),
    }
}

/// An owner as people write it: `personal`, `project 12`, `group team`.
pub(crate) fn owner_words(owner: &RemoteOwner) -> String {
    match owner {
        RemoteOwner::Personal => "personal".into(),
        RemoteOwner::Project(id) => format!("project {id}"),
        RemoteOwner::Group(id) => format!("group {id}"),
        RemoteOwner::Org(name) => format!("organisation {name}"),
    }
}
