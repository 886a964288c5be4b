//! What acts on Docker Hub and on the stored token together.
//!
//! The order of each operation is what keeps a token usable whatever
//! happens: Hub first for anything that revokes (so a refusal changes
//! nothing here), the store first for anything that replaces (so the old
//! token stays stored and active until the new one is stored and checked).
//! `rotate` goes: create the new token, check it at Hub, store it (one
//! ledger commit: from then on Docker gets it), then switch the old one off.
//! A rotation interrupted after the commit leaves the old token's id on the
//! record (`retiring`), and the next rotation of that token finishes the job.
//!
//! Tokens are read and changed only through the service's [`Ledger`], so all
//! of this works the same on this machine's index and on a team's OpenBao
//! server, where the expiry and the Hub link travel with the record.
//!
//! [`Ledger`]: crate::ledger::Ledger

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::HubError;
use super::audit::{self, Verdict};
use super::client::{CreatedToken, HubClient, HubToken, NewToken, SignIn};
use super::session::Session;
use super::spec;
use crate::error::ServiceError;
use crate::index::{HubLink, Retiring, TokenRecord};
use crate::ledger::Entry;
use crate::names::{Integration, TokenName};
use crate::registry::Registry;
use crate::secret::Secret;
use crate::service::{self as service_mod, Facts, Service, TokenFacts, TokenSpec};
use crate::store::BackendKind;
use crate::usage::UsageTable;

/// The client name recorded for the helper's own checks of a token at Hub.
pub(crate) const CHECK_CLIENT: &str = "hub-check";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManageError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Local(#[from] ServiceError),
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::config::ConfigError> for ManageError {
    fn from(e: crate::config::ConfigError) -> Self {
        ManageError::Local(e.into())
    }
}

type Result<T, E = ManageError> = std::result::Result<T, E>;

/// Docker Hub as this run sees it: the service, the client, Hub's URL.
pub(crate) struct Hub<'a> {
    pub service: &'a Service,
    pub client: HubClient,
    pub url: String,
}

/// A token given on the command line: one stored here, or only a Hub token id.
pub(crate) enum Target {
    Local {
        name: TokenName,
        record: Box<TokenRecord>,
        uuid: String,
    },
    Remote {
        uuid: String,
    },
}

impl Target {
    pub(crate) fn uuid(&self) -> &str {
        match self {
            Target::Local { uuid, .. } | Target::Remote { uuid } => uuid,
        }
    }
}

/// What `hub create` should make.
pub(crate) struct CreateRequest {
    pub integration: Integration,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub make_default: bool,
}

/// What `hub create` made.
pub(crate) struct Created {
    pub name: TokenName,
    pub uuid: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub backend: BackendKind,
    pub is_default: bool,
}

/// A new Hub token that could not be kept, and whether it was taken back off Hub.
pub(crate) struct Abandoned {
    pub uuid: String,
    pub deleted: bool,
}

/// Why `hub create` failed, and whether a token was left on Hub.
pub(crate) struct CreateFailure {
    pub error: ManageError,
    pub abandoned: Option<Abandoned>,
}

impl From<ManageError> for CreateFailure {
    fn from(error: ManageError) -> Self {
        Self {
            error,
            abandoned: None,
        }
    }
}

impl From<HubError> for CreateFailure {
    fn from(e: HubError) -> Self {
        ManageError::from(e).into()
    }
}

impl From<ServiceError> for CreateFailure {
    fn from(e: ServiceError) -> Self {
        ManageError::from(e).into()
    }
}

/// The steps of a rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Switching off the token an interrupted rotation replaced.
    Finish,
    Read,
    Create,
    Check,
    Store,
    Retire,
}

/// Why a rotation stopped, and what it left.
pub(crate) struct RotateFailure {
    pub step: Step,
    pub error: ManageError,
    /// A new token created on Hub and not kept.
    pub abandoned: Option<Abandoned>,
    /// The token still active on Hub that should be switched off.
    pub still_active: Option<Retiring>,
}

impl RotateFailure {
    fn at(step: Step, error: impl Into<ManageError>) -> Box<Self> {
        Box::new(Self {
            step,
            error: error.into(),
            abandoned: None,
            still_active: None,
        })
    }

    fn leaving_active(mut self: Box<Self>, retiring: &Retiring) -> Box<Self> {
        self.still_active = Some(retiring.clone());
        self
    }

    fn abandoning(mut self: Box<Self>, abandoned: Abandoned) -> Box<Self> {
        self.abandoned = Some(abandoned);
        self
    }
}

/// What a rotation did.
pub(crate) struct Rotated {
    pub name: TokenName,
    pub old_uuid: String,
    pub new_uuid: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// A replaced token an earlier, interrupted rotation left active, now switched off.
    pub finished: Option<Retiring>,
}

/// One Hub token with its local counterpart, for `hub tokens`.
pub(crate) struct Row {
    pub token: HubToken,
    pub local: Option<TokenName>,
    pub local_last_used: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One linked token as the audit sees it.
pub(crate) struct Audited {
    pub name: TokenName,
    pub uuid: String,
    /// `None`: Hub no longer has the token.
    pub hub: Option<HubToken>,
    pub known_last_use: Option<DateTime<Utc>>,
    pub verdict: Option<Verdict>,
    /// A replaced token still to be switched off, and whether Hub still has it active.
    pub retiring: Option<(Retiring, bool)>,
    /// Whether the stored token is active here.
    pub local_active: bool,
}

/// How one audited token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    /// Out of step with Hub, but not a sign of misuse.
    Warn,
    Suspicious,
}

/// One audited token in words: how it stands, what was found, what to do.
pub(crate) struct Report {
    pub level: Level,
    pub message: String,
    pub fix: Option<String>,
}

impl Audited {
    /// What the audit found for this token, most serious first.
    pub(crate) fn reports(&self) -> Vec<Report> {
        let name = &self.name;
        let mut reports = Vec::new();
        let Some(hub) = &self.hub else {
            reports.push(Report {
                level: Level::Warn,
                message: format!("{name}: its token {} is no longer on Docker Hub", self.uuid),
                fix: Some(format!(
                    "if it was deleted there, `docker-credential-pat delete {name}` removes it here too"
                )),
            });
            return reports;
        };
        let seen = |at: DateTime<Utc>| rfc3339(at);
        match self.verdict {
            Some(Verdict::Unaccounted { after }) => reports.push(Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: Docker Hub saw it used at {}, {} after the last use known here ({})",
                    hub.last_used.map(seen).unwrap_or_default(),
                    span(after),
                    self.known_last_use.map(seen).unwrap_or_default()
                ),
                fix: Some(suspicious_fix(name)),
            }),
            Some(Verdict::Unseen) => reports.push(Report {
                level: Level::Suspicious,
                message: format!(
                    "{name}: Docker Hub saw it used at {}, and it was never used where this helper can see",
                    hub.last_used.map(seen).unwrap_or_default()
                ),
                fix: Some(suspicious_fix(name)),
            }),
            Some(Verdict::Accounted) => reports.push(Report {
                level: Level::Ok,
                message: format!(
                    "{name}: Docker Hub's last use ({}) matches a use known here",
                    hub.last_used.map(seen).unwrap_or_default()
                ),
                fix: None,
            }),
            Some(Verdict::Unused) | None => reports.push(Report {
                level: Level::Ok,
                message: format!("{name}: Docker Hub has not seen it used"),
                fix: None,
            }),
        }
        if !hub.is_active && self.local_active {
            reports.push(Report {
                level: Level::Warn,
                message: format!("{name} is inactive on Docker Hub but active here"),
                fix: Some(format!(
                    "`docker-credential-pat hub activate {name}`, or `deactivate {name}` to match Hub"
                )),
            });
        }
        if let Some((retiring, true)) = &self.retiring {
            reports.push(Report {
                level: Level::Warn,
                message: format!(
                    "{name} replaced Hub token {}, which is still active",
                    retiring.uuid
                ),
                fix: Some(format!(
                    "`docker-credential-pat hub {} {}`",
                    if retiring.delete {
                        "delete"
                    } else {
                        "deactivate"
                    },
                    retiring.uuid
                )),
            });
        }
        reports
    }
}

fn suspicious_fix(name: &TokenName) -> String {
    format!(
        "if that was not you, `docker-credential-pat hub rotate {name}` replaces it, or `docker-credential-pat hub deactivate {name}` stops it now"
    )
}

/// A length of time as people say it: `45 s`, `12 min`, `3 h`, `4 days`.
pub(crate) fn span(length: chrono::Duration) -> String {
    let seconds = length.num_seconds().max(0);
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7200 => format!("{} min", seconds / 60),
        7200..172_800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86400),
    }
}

/// The audit: the tokens compared, and the linked tokens of other accounts left out.
pub(crate) struct Audit {
    pub username: String,
    pub tokens: Vec<Audited>,
    pub skipped: Vec<TokenName>,
    /// Active Hub tokens stored nowhere here that carry a linked token's
    /// label: what a `create` or `rotate` stopped right after Hub made the
    /// token leaves behind.
    pub strays: Vec<(HubToken, TokenName)>,
}

impl Audit {
    pub(crate) fn stray_reports(&self) -> Vec<Report> {
        self.strays
            .iter()
            .map(|(token, like)| Report {
                level: Level::Warn,
                message: format!(
                    "Docker Hub token {} (\"{}\") is active and stored nowhere here; it has the label of {like}'s token, as an interrupted `hub create` or `hub rotate` leaves one",
                    token.uuid,
                    crate::text::printable(&token.token_label, 100)
                ),
                fix: Some(format!(
                    "if nothing else uses it, `docker-credential-pat hub delete {}`",
                    token.uuid
                )),
            })
            .collect()
    }
}

impl<'a> Hub<'a> {
    pub(crate) fn open(service: &'a Service) -> Result<Self> {
        let url = service.env.hub_url(&service.config)?;
        let timeout = Duration::from_secs(u64::from(service.config.hub_timeout_seconds));
        Ok(Self {
            service,
            client: HubClient::new(&url, timeout)?,
            url,
        })
    }

    /// The open session, or the error that says to sign in.
    pub(crate) fn session(&self) -> Result<Session, HubError> {
        Session::open(&self.url, &self.service.paths).ok_or(HubError::NoSession)
    }

    /// Runs a call with the session; a 401 drops it, so the next command asks to sign in.
    fn with_session<T>(
        &self,
        session: &Session,
        call: impl FnOnce(&HubClient, &Session) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let result = call(&self.client, session);
        if matches!(result, Err(HubError::SessionExpired)) {
            let _ = Session::forget(&self.url, &self.service.paths);
        }
        result
    }

    // ---- Signing in ----

    /// Signs in with the account password, asking `code` for the second
    /// factor when Hub wants one, and keeps the session. Returns whether a
    /// second factor was needed.
    pub(crate) fn sign_in(
        &self,
        username: &str,
        password: &Secret,
        code: &mut dyn FnMut() -> Result<Secret, String>,
    ) -> Result<bool> {
        // Nowhere to keep the session: say so before the password goes anywhere.
        if !crate::kernel_keyring::available() {
            return Err(HubError::NoKeyring.into());
        }
        if crate::policy::classify(
            &Registry::DockerHub,
            username,
            password.expose(),
            &self.service.config,
        ) == crate::policy::SecretKind::Token
        {
            return Err(ManageError::Invalid(
                "that is an access token, and an access token cannot manage tokens: sign in with the account password".into(),
            ));
        }
        let (token, second_factor) = match self.client.sign_in(username, password)? {
            SignIn::Done(token) => (token, false),
            SignIn::SecondFactor(challenge) => {
                let code = code().map_err(ManageError::Invalid)?;
                if code.is_empty() {
                    return Err(ManageError::Invalid(
                        "no two-factor code given; nothing was changed".into(),
                    ));
                }
                (self.client.second_factor(&challenge, &code)?, true)
            }
        };
        Session::new(username, token).keep(
            &self.url,
            &self.service.paths,
            self.service.config.hub_session_seconds,
        )?;
        Ok(second_factor)
    }

    pub(crate) fn sign_out(&self) -> Result<bool> {
        Ok(Session::forget(&self.url, &self.service.paths)?)
    }

    // ---- Finding tokens ----

    /// A token named on the command line: a stored one linked to Hub, or a
    /// Hub token id (in full, or its first 8 or more characters).
    fn target(
        &self,
        session: &Session,
        entries: &[Entry],
        text: &str,
        listing: &mut Option<Vec<HubToken>>,
    ) -> Result<Target> {
        if let Some(uuid) = self.expand_id(session, text, listing)? {
            return Ok(match linked_to(entries, &uuid) {
                Some((name, record)) => Target::Local {
                    name,
                    record: Box::new(record),
                    uuid,
                },
                None => Target::Remote { uuid },
            });
        }
        let entry = service_mod::find_entry(entries, text)?;
        let uuid = hub_uuid(&entry.name, &entry.record)?;
        Ok(Target::Local {
            name: entry.name.clone(),
            record: Box::new(entry.record.clone()),
            uuid,
        })
    }

    /// The full Hub token id `text` stands for, when it is one or a unique
    /// beginning of one (as `hub tokens` shows them); `None` for anything else.
    fn expand_id(
        &self,
        session: &Session,
        text: &str,
        listing: &mut Option<Vec<HubToken>>,
    ) -> Result<Option<String>> {
        if spec::is_uuid(text) {
            return Ok(Some(text.to_ascii_lowercase()));
        }
        if !spec::is_id_prefix(text) {
            return Ok(None);
        }
        if listing.is_none() {
            *listing = Some(self.with_session(session, |c, s| c.list(s))?);
        }
        let prefix = text.to_ascii_lowercase();
        let found: Vec<&HubToken> = listing
            .iter()
            .flatten()
            .filter(|t| t.uuid.starts_with(&prefix))
            .collect();
        match found.as_slice() {
            [one] => Ok(Some(one.uuid.clone())),
            [] => Err(ManageError::Invalid(format!(
                "no token on Docker Hub has an id starting with {prefix}; `docker-credential-pat hub tokens` shows them"
            ))),
            _ => Err(ManageError::Invalid(format!(
                "{} tokens on Docker Hub have ids starting with {prefix}; give more of the id",
                found.len()
            ))),
        }
    }

    /// A stored token and its record, read at once: nothing is held while Hub is called.
    fn stored(&self, text: &str) -> Result<(TokenName, TokenRecord), ServiceError> {
        let mut edit = self.service.ledger()?.begin()?;
        let name = self.service.resolve(&mut *edit, text)?;
        let record = edit
            .token(&name)?
            .ok_or_else(|| ServiceError::UnknownToken {
                name: name.to_string(),
                suggestions: Vec::new(),
            })?;
        Ok((name, record))
    }

    /// Refuses a stored token that belongs to another Hub account than the session's.
    fn check_owner(&self, session: &Session, name: &TokenName, record: &TokenRecord) -> Result<()> {
        if record.username.eq_ignore_ascii_case(&session.username) {
            return Ok(());
        }
        Err(ManageError::Invalid(format!(
            "{name} belongs to {} on Docker Hub, and this session is {}'s: `docker-credential-pat hub login --username {}` first",
            crate::text::printable(&record.username, 64),
            session.username,
            crate::text::printable(&record.username, 64)
        )))
    }

    // ---- Create and link ----

    /// Creates a token on Hub and stores it at once as `INTEGRATION@docker.io`.
    pub(crate) fn create(&self, request: CreateRequest) -> Result<Created, CreateFailure> {
        let session = self.session()?;
        if let Some(username) = &request.username
            && !username.eq_ignore_ascii_case(&session.username)
        {
            return Err(ManageError::Invalid(format!(
                "this Docker Hub session is {}'s: `docker-credential-pat hub login --username {}` first",
                session.username,
                crate::text::printable(username, 64)
            ))
            .into());
        }
        let name = TokenName::new(request.integration.clone(), Registry::DockerHub);
        if self.service.ledger()?.begin()?.token(&name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} already exists: `docker-credential-pat hub rotate {name}` replaces its token, or choose another --integration"
            ))
            .into());
        }
        let label = spec::label(
            request.integration.as_str(),
            &spec::host_name(),
            request.description.as_deref(),
        );
        let new = NewToken {
            token_label: label.clone(),
            scopes: request.scopes.clone(),
            expires_at: request.expires_at.map(rfc3339),
        };
        let created = self.with_session(&session, |c, s| c.create(s, &new))?;
        let stored = self.store_created(&session, &name, &created, &request);
        match stored {
            Ok((backend, is_default)) => Ok(Created {
                name,
                uuid: created.uuid.clone(),
                label: created.token_label.clone(),
                scopes: scopes_or(&created.scopes, &request.scopes),
                expires_at: request.expires_at,
                backend,
                is_default,
            }),
            Err(error) => Err(CreateFailure {
                error,
                abandoned: Some(self.abandon(&session, &created.uuid)),
            }),
        }
    }

    fn store_created(
        &self,
        session: &Session,
        name: &TokenName,
        created: &CreatedToken,
        request: &CreateRequest,
    ) -> Result<(BackendKind, bool)> {
        self.service
            .check_policy(&name.registry, &session.username, &created.token)?;
        let mut edit = self.service.ledger()?.begin()?;
        if edit.token(name)?.is_some() {
            return Err(ManageError::Invalid(format!(
                "{name} was stored by another process meanwhile"
            )));
        }
        // The registry's default counts only while that token exists (a team
        // server names `default` as the default even before it does).
        let has_default = match edit.default_of(&name.registry)? {
            Some(default) => edit
                .token(&TokenName::new(default, name.registry.clone()))?
                .is_some(),
            None => false,
        };
        let spec = TokenSpec {
            name: name.clone(),
            username: &session.username,
            server_url: name.registry.default_address().to_owned(),
            secret: &created.token,
            description: request.description.clone(),
            make_default: request.make_default || !has_default,
        };
        let facts = TokenFacts {
            expires_at: request.expires_at,
            hub: Some(HubLink {
                uuid: created.uuid.clone(),
                scopes: scopes_or(&created.scopes, &request.scopes),
                retiring: None,
                used_before_link: None,
            }),
        };
        let is_default = spec.make_default;
        let outcome = self
            .service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok((outcome.backend, is_default))
    }

    /// Takes a new token that could not be kept back off Hub, if it can.
    fn abandon(&self, session: &Session, uuid: &str) -> Abandoned {
        let deleted = self.with_session(session, |c, s| c.delete(s, uuid)).is_ok();
        Abandoned {
            uuid: uuid.to_owned(),
            deleted,
        }
    }

    /// Links a stored Docker Hub token to its Hub id, taking its scopes from Hub.
    pub(crate) fn link(
        &self,
        text: &str,
        uuid: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenName, HubToken)> {
        let session = self.session()?;
        let uuid = self.expand_id(&session, uuid, &mut None)?.ok_or_else(|| {
            ManageError::Invalid(format!(
                "{:?} is not a Docker Hub token id; `docker-credential-pat hub tokens` shows them",
                crate::text::printable(uuid, 60)
            ))
        })?;
        let entries = self.service.ledger()?.entries()?;
        let entry = service_mod::find_entry(&entries, text)?;
        let name = entry.name.clone();
        if name.registry != Registry::DockerHub {
            return Err(not_hub(&name));
        }
        self.check_owner(&session, &name, &entry.record)?;
        if let Some((other, _)) = linked_to(&entries, &uuid).filter(|(other, _)| *other != name) {
            return Err(ManageError::Invalid(format!(
                "Hub token {uuid} is already linked to {other}"
            )));
        }
        let token = self.with_session(&session, |c, s| c.get(s, &uuid))?;
        let link = HubLink {
            uuid: uuid.clone(),
            scopes: token.scopes.clone(),
            retiring: None,
            used_before_link: token.last_used,
        };
        let expires_at = expires_at.or(token.expires_at);
        self.service.update_tokens(&[name.to_string()], |record| {
            record.hub = Some(link.clone());
            if expires_at.is_some() {
                record.expires_at = expires_at;
            }
        })?;
        Ok((name, token))
    }

    // ---- Acting on Hub and here together ----

    /// Activates or deactivates a token on Hub, then here. Stops at the first refusal.
    pub(crate) fn set_active(
        &self,
        texts: &[String],
        active: bool,
        done: &mut dyn FnMut(&Target),
    ) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            self.with_session(&session, |c, s| c.set_active(s, target.uuid(), active))?;
            if let Target::Local { name, .. } = target {
                self.service.set_active(&[name.to_string()], active)?;
            }
            if !active {
                self.clear_retiring(target.uuid())?;
            }
            done(target);
        }
        Ok(())
    }

    /// Deletes tokens on Hub, then here. Stops at the first refusal.
    pub(crate) fn delete(&self, texts: &[String], done: &mut dyn FnMut(&Target)) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            self.with_session(&session, |c, s| c.delete(s, target.uuid()))?;
            if let Target::Local { name, .. } = target {
                self.service.delete(&[name.to_string()])?;
            }
            self.clear_retiring(target.uuid())?;
            done(target);
        }
        Ok(())
    }

    /// Every named token, found and checked before anything is done.
    fn targets(&self, session: &Session, texts: &[String]) -> Result<Vec<Target>> {
        let entries = self.service.ledger()?.entries()?;
        let mut listing = None;
        let targets = texts
            .iter()
            .map(|text| self.target(session, &entries, text, &mut listing))
            .collect::<Result<Vec<_>>>()?;
        for target in &targets {
            if let Target::Local { name, record, .. } = target {
                self.check_owner(session, name, record)?;
            }
        }
        Ok(targets)
    }

    /// Forgets a replaced token once it is switched off on Hub.
    fn clear_retiring(&self, uuid: &str) -> Result<()> {
        let names: Vec<String> = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| {
                e.record
                    .hub
                    .as_ref()
                    .and_then(|h| h.retiring.as_ref())
                    .is_some_and(|r| r.uuid == uuid)
            })
            .map(|e| e.name.to_string())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        self.service.update_tokens(&names, |record| {
            if let Some(link) = record.hub.as_mut()
                && link.retiring.as_ref().is_some_and(|r| r.uuid == uuid)
            {
                link.retiring = None;
            }
        })?;
        Ok(())
    }

    // ---- Rotation ----

    /// Replaces a linked token with a new one of the same label, scopes and
    /// expiry length; see the module comment for the order of the steps.
    pub(crate) fn rotate(
        &self,
        text: &str,
        delete_old: bool,
    ) -> Result<Rotated, Box<RotateFailure>> {
        let read = |e: ManageError| RotateFailure::at(Step::Read, e);
        let session = self.session().map_err(|e| read(e.into()))?;
        let (name, record) = self.stored(text).map_err(|e| read(e.into()))?;
        let old_uuid = hub_uuid(&name, &record).map_err(read)?;
        self.check_owner(&session, &name, &record).map_err(read)?;
        let link = record.hub.clone().expect("linked");

        let finished = match &link.retiring {
            Some(retiring) => {
                self.retire(&session, retiring)
                    .map_err(|e| RotateFailure::at(Step::Finish, e).leaving_active(retiring))?;
                Some(retiring.clone())
            }
            None => None,
        };

        let old = self
            .with_session(&session, |c, s| c.get(s, &old_uuid))
            .map_err(|e| read(e.into()))?;
        let expires_at = same_length(&record, &old, Utc::now());
        let new = NewToken {
            token_label: if old.token_label.is_empty() {
                spec::label(name.integration.as_str(), &spec::host_name(), None)
            } else {
                old.token_label.clone()
            },
            scopes: scopes_or(&old.scopes, &scopes_or(&link.scopes, &["repo:read".into()])),
            expires_at: expires_at.map(rfc3339),
        };
        let created = self
            .with_session(&session, |c, s| c.create(s, &new))
            .map_err(|e| RotateFailure::at(Step::Create, e))?;
        let give_up = |step: Step, error: ManageError| {
            RotateFailure::at(step, error).abandoning(self.abandon(&session, &created.uuid))
        };

        match self.client.check_token(&session.username, &created.token) {
            Ok(true) => {
                // Hub counts the check as a use; so does the audit, here and
                // (through the team server, when there is one) on every machine.
                let at = Utc::now();
                let _ = crate::usage::record_use(&self.service.paths, &record.id, CHECK_CLIENT, at);
                if let Ok(ledger) = self.service.ledger() {
                    let _ = ledger.report_use(&record.id, at, CHECK_CLIENT);
                }
            }
            Ok(false) => {
                return Err(give_up(
                    Step::Check,
                    ManageError::Invalid("Docker Hub refused the new token".into()),
                ));
            }
            Err(e) => return Err(give_up(Step::Check, e.into())),
        }

        let retiring = Retiring {
            uuid: old_uuid.clone(),
            delete: delete_old,
        };
        let facts = TokenFacts {
            expires_at,
            hub: Some(HubLink {
                uuid: created.uuid.clone(),
                scopes: scopes_or(&created.scopes, &new.scopes),
                retiring: Some(retiring.clone()),
                used_before_link: None,
            }),
        };
        self.store_rotated(&name, &record, &created.token, facts)
            .map_err(|e| give_up(Step::Store, e))?;

        // From here on Docker gets the new token; what is left is switching the old one off.
        self.retire(&session, &retiring)
            .map_err(|e| RotateFailure::at(Step::Retire, e).leaving_active(&retiring))?;
        Ok(Rotated {
            name,
            old_uuid,
            new_uuid: created.uuid.clone(),
            expires_at,
            finished,
        })
    }

    /// Stores the new secret in place of the old, in one ledger commit.
    fn store_rotated(
        &self,
        name: &TokenName,
        before: &TokenRecord,
        secret: &Secret,
        facts: TokenFacts,
    ) -> Result<()> {
        self.service
            .check_policy(&name.registry, &before.username, secret)?;
        let mut edit = self.service.ledger()?.begin()?;
        let now = edit.token(name)?;
        if now.as_ref().and_then(|t| t.hub.as_ref()).map(|h| &h.uuid)
            != before.hub.as_ref().map(|h| &h.uuid)
        {
            return Err(ManageError::Invalid(format!(
                "{name} was changed by another process meanwhile"
            )));
        }
        let spec = TokenSpec {
            name: name.clone(),
            username: &before.username,
            server_url: before.server_url.clone(),
            secret,
            description: None,
            make_default: false,
        };
        self.service
            .put_token_with(&mut *edit, spec, Facts::Replace(facts))?;
        Ok(())
    }

    /// Switches a replaced token off on Hub (deactivates or deletes it), then forgets it.
    fn retire(&self, session: &Session, retiring: &Retiring) -> Result<()> {
        let result = if retiring.delete {
            self.with_session(session, |c, s| c.delete(s, &retiring.uuid))
        } else {
            self.with_session(session, |c, s| {
                c.set_active(s, &retiring.uuid, false).map(drop)
            })
        };
        match result {
            // Already gone from Hub: nothing is left to switch off.
            Ok(()) | Err(HubError::Refused { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.clear_retiring(&retiring.uuid)
    }

    // ---- Listing and the audit ----

    /// The latest known use of each of `entries`, on any machine.
    fn latest_uses(
        &self,
        entries: &[Entry],
    ) -> std::collections::HashMap<String, crate::ledger::MachineUse> {
        let usage = UsageTable::load(&self.service.paths);
        self.service.latest_uses(entries, &usage)
    }

    /// Every token on Hub, with the stored token linked to it and that token's last known use.
    pub(crate) fn rows(&self) -> Result<Vec<Row>> {
        let session = self.session()?;
        let tokens = self.with_session(&session, |c, s| c.list(s))?;
        let entries: Vec<Entry> = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.record.hub.is_some())
            .collect();
        let uses = self.latest_uses(&entries);
        let linked: BTreeMap<String, (TokenName, TokenRecord)> = entries
            .into_iter()
            .filter_map(|e| {
                let uuid = e.record.hub.as_ref()?.uuid.clone();
                Some((uuid, (e.name, e.record)))
            })
            .collect();
        Ok(tokens
            .into_iter()
            .map(|token| {
                let local = linked.get(&token.uuid);
                Row {
                    expires_at: token
                        .expires_at
                        .or_else(|| local.and_then(|(_, r)| r.expires_at)),
                    local_last_used: local.and_then(|(_, r)| uses.get(&r.id).map(|u| u.at)),
                    local: local.map(|(n, _)| n.clone()),
                    token,
                }
            })
            .collect())
    }

    /// Compares Hub's last use of each linked token with the latest known use.
    pub(crate) fn audit(&self) -> Result<Audit> {
        let session = self.session()?;
        let hub: BTreeMap<String, HubToken> = self
            .with_session(&session, |c, s| c.list(s))?
            .into_iter()
            .map(|t| (t.uuid.clone(), t))
            .collect();
        let (mine, skipped): (Vec<Entry>, Vec<Entry>) = self
            .service
            .ledger()?
            .entries()?
            .into_iter()
            .filter(|e| e.record.hub.is_some())
            .partition(|e| e.record.username.eq_ignore_ascii_case(&session.username));
        let uses = self.latest_uses(&mine);
        let tolerance =
            chrono::Duration::minutes(i64::from(self.service.config.audit_tolerance_minutes));
        let tokens: Vec<Audited> = mine
            .into_iter()
            .map(|entry| {
                let link = entry.record.hub.clone().expect("filtered");
                // Uses Hub saw before the link were made before this helper held the token.
                let known_last_use = uses
                    .get(&entry.record.id)
                    .map(|u| u.at)
                    .max(link.used_before_link);
                let token = hub.get(&link.uuid).cloned();
                Audited {
                    verdict: token
                        .as_ref()
                        .map(|t| audit::judge(t.last_used, known_last_use, tolerance)),
                    retiring: link.retiring.clone().map(|r| {
                        let active = hub.get(&r.uuid).is_some_and(|t| t.is_active);
                        (r, active)
                    }),
                    local_active: entry.record.active,
                    name: entry.name,
                    uuid: link.uuid,
                    hub: token,
                    known_last_use,
                }
            })
            .collect();
        let linked: BTreeMap<&str, &TokenName> = tokens
            .iter()
            .flat_map(|t: &Audited| {
                let retiring = t.retiring.as_ref().map(|(r, _)| (r.uuid.as_str(), &t.name));
                std::iter::once((t.uuid.as_str(), &t.name)).chain(retiring)
            })
            .collect();
        let labels: BTreeMap<&str, &TokenName> = tokens
            .iter()
            .filter_map(|t: &Audited| Some((t.hub.as_ref()?.token_label.as_str(), &t.name)))
            .filter(|(label, _)| !label.is_empty())
            .collect();
        let strays = hub
            .values()
            .filter(|t| t.is_active && !linked.contains_key(t.uuid.as_str()))
            .filter_map(|t| Some((t.clone(), (*labels.get(t.token_label.as_str())?).clone())))
            .collect();
        let other_accounts = skipped.into_iter().map(|e| e.name).collect();
        Ok(Audit {
            username: session.username.clone(),
            tokens,
            skipped: other_accounts,
            strays,
        })
    }
}

/// The expiry a replacement gets: as far from now as the old token's was
/// from its creation; none when the old one's is not known.
fn same_length(record: &TokenRecord, old: &HubToken, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let expires_at = old.expires_at.or(record.expires_at)?;
    let born = old.created_at.unwrap_or(record.rotated_at);
    let length = (expires_at - born).max(chrono::Duration::days(1));
    DateTime::from_timestamp((now + length).timestamp(), 0)
}

/// The stored token linked to Hub token `uuid`.
fn linked_to(entries: &[Entry], uuid: &str) -> Option<(TokenName, TokenRecord)> {
    entries
        .iter()
        .find(|e| e.record.hub.as_ref().is_some_and(|h| h.uuid == uuid))
        .map(|e| (e.name.clone(), e.record.clone()))
}

/// The Hub id of a stored token, or why it has none.
fn hub_uuid(name: &TokenName, record: &TokenRecord) -> Result<String> {
    if name.registry != Registry::DockerHub {
        return Err(not_hub(name));
    }
    record.hub.as_ref().map(|h| h.uuid.clone()).ok_or_else(|| {
        ManageError::Invalid(format!(
            "{name} is not linked to a Docker Hub token: `docker-credential-pat hub link {name} TOKEN-ID` links it (`hub tokens` shows the ids)"
        ))
    })
}

fn not_hub(name: &TokenName) -> ManageError {
    ManageError::Invalid(format!(
        "{name} is not a Docker Hub token; the hub commands manage tokens of docker.io"
    ))
}

fn scopes_or(scopes: &[String], fallback: &[String]) -> Vec<String> {
    if scopes.is_empty() {
        fallback.to_vec()
    } else {
        scopes.to_vec()
    }
}

/// RFC 3339 in UTC with whole seconds, as Hub's API documents it.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_expires_as_long_after_now_as_the_old_one_did_after_its_creation() {
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let record: TokenRecord = serde_json::from_str(
            r#"{"id":"i","secret":{"backend":"keychain","item":"s"},"username":"alice","server_url":"docker.io","created_at":"2026-01-01T00:00:00Z","rotated_at":"2026-01-01T00:00:00Z","active":true,"kind":"token","expires_at":"2026-03-02T00:00:00Z"}"#,
        )
        .unwrap();
        let old: HubToken = serde_json::from_str(
            r#"{"uuid":"0b2f9c1e-1d2a-4c3b-9e8f-1234567890ab","created_at":"2026-01-31T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            same_length(&record, &old, now).unwrap(),
            "2026-07-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let mut open = record.clone();
        open.expires_at = None;
        assert!(same_length(&open, &old, now).is_none());
    }
}
