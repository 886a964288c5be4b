//! Docker Hub's organisation access tokens (OATs), as documented
//! (`/v2/orgs/{org}/access-tokens`, API `2-beta`).
//!
//! Only an owner of the organisation manages its tokens, with the bearer of
//! `hub login` (a non-owner gets 403). Bodies are held to the documented
//! fields (anything else is a 400); the 201 is the one time the secret is
//! shown; `expires_at` is fixed at creation and an expired token cannot be
//! changed, only deleted; an organisation holds at most 10 tokens (Team
//! plan) counting deactivated and expired ones.
//!
//! What the documentation leaves open, decided here: `label` is required
//! (1–100 characters, as for PATs) and `resources` must name at least one
//! resource (at most 50); a `TYPE_REPO` path is `ORG/NAME` of this
//! organisation, a glob such as `ORG/*`, or `*/*/public` (the repositories a
//! test declared public); a `TYPE_ORG` path is the organisation's own name;
//! scopes are the documented image scopes for repositories and the three
//! named organisation scopes; `expires_at` must be in the future and within
//! a year (the UI's limit); the cap answers `400` with `non_field_errors`;
//! lists are newest first, `page_size` at most 100.
//!
//! ```text
//! let hub = HubDouble::start();
//! hub.add_user("alice", PASSWORD);
//! hub.add_org("acme", &["alice"]);
//! let (id, oat) = hub.add_org_token("acme", "ci", &[("TYPE_REPO", "acme/*", &["scope-image-pull"])], None);
//! let registry = hub.start_registry(); // `docker login -u acme` with `oat` works
//! hub.set_org_token_last_used(&id, Utc::now() - chrono::Duration::hours(1)); // a use elsewhere
//! ```

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{HubDouble, State, time};
use crate::support::http_double::{Answer, Incoming, new_uuid};

/// Repository scopes; each includes the ones before it.
const REPO_SCOPES: [&str; 3] = ["scope-image-pull", "scope-image-push", "scope-image-delete"];
const ORG_SCOPES: [&str; 3] = [
    "scope-repository-create",
    "scope-repository-list",
    "scope-member-read",
];
/// Tokens an organisation on the Team plan may hold.
const TEAM_LIMIT: usize = 10;
const MAX_RESOURCES: usize = 50;
const CREATE_FIELDS: [&str; 4] = ["label", "description", "resources", "expires_at"];
const PATCH_FIELDS: [&str; 4] = ["label", "description", "resources", "is_active"];

pub(super) struct Org {
    pub(super) name: String,
    owners: Vec<String>,
    limit: usize,
}

/// One resource an OAT reaches: `TYPE_REPO` or `TYPE_ORG`, a path, its scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct OatResource {
    pub kind: String,
    pub path: String,
    pub scopes: Vec<String>,
}

/// An organisation access token as the double holds it.
#[derive(Clone)]
pub struct OrgToken {
    pub id: String,
    pub org: String,
    pub label: String,
    /// Accepted on create and PATCH, in no documented answer.
    pub description: String,
    pub resources: Vec<OatResource>,
    pub secret: String,
    pub is_active: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for OrgToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgToken")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("label", &self.label)
            .field("resources", &self.resources)
            .field("is_active", &self.is_active)
            .field("created_by", &self.created_by)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

impl OrgToken {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub(super) fn usable(&self, now: DateTime<Utc>) -> bool {
        self.is_active && !self.expired(now)
    }

    /// True when one of the token's repository resources grants `action` on `repository`.
    pub(super) fn allows(&self, repository: &str, action: &str, public: &[String]) -> bool {
        let needed: &[&str] = match action {
            "pull" => &REPO_SCOPES,
            "push" => &REPO_SCOPES[1..],
            "delete" => &REPO_SCOPES[2..],
            _ => return false,
        };
        self.resources.iter().any(|r| {
            r.kind == "TYPE_REPO"
                && r.scopes.iter().any(|s| needed.contains(&s.as_str()))
                && if r.path == "*/*/public" {
                    public.iter().any(|p| p.eq_ignore_ascii_case(repository))
                } else {
                    path_matches(&r.path, repository)
                }
        })
    }
}

/// A path pattern against a repository, one `/`-separated segment at a time;
/// `*` matches any run of characters within a segment.
fn path_matches(pattern: &str, repository: &str) -> bool {
    let (pattern, repository) = (
        pattern.to_ascii_lowercase(),
        repository.to_ascii_lowercase(),
    );
    let (p, r): (Vec<&str>, Vec<&str>) = (
        pattern.split('/').collect(),
        repository.split('/').collect(),
    );
    p.len() == r.len()
        && p.iter()
            .zip(&r)
            .all(|(p, r)| glob(p.as_bytes(), r.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

impl HubDouble {
    /// An organisation (Team plan: 10 tokens) whose owners may manage its tokens.
    pub fn add_org(&self, name: &str, owners: &[&str]) {
        self.state().orgs.push(Org {
            name: name.into(),
            owners: owners.iter().map(|o| o.to_string()).collect(),
            limit: TEAM_LIMIT,
        });
    }

    /// How many tokens `org` may hold (100 on the Business plan).
    pub fn set_org_token_limit(&self, org: &str, limit: usize) {
        let mut state = self.state();
        let org = state
            .orgs
            .iter_mut()
            .find(|o| o.name.eq_ignore_ascii_case(org))
            .expect("add_org first");
        org.limit = limit;
    }

    /// A repository `*/*/public` covers.
    pub fn add_public_repository(&self, path: &str) {
        self.state().public_repositories.push(path.into());
    }

    /// A token made on Hub's page by the organisation's first owner;
    /// resources are (type, path, scopes). Returns (id, secret).
    pub fn add_org_token(
        &self,
        org: &str,
        label: &str,
        resources: &[(&str, &str, &[&str])],
        expires_at: Option<DateTime<Utc>>,
    ) -> (String, String) {
        let mut state = self.state();
        let now = state.now();
        let org = state.org(org).expect("add_org first");
        let token = OrgToken {
            id: new_uuid(),
            org: org.name.clone(),
            label: label.into(),
            description: String::new(),
            resources: resources
                .iter()
                .map(|(kind, path, scopes)| OatResource {
                    kind: kind.to_string(),
                    path: path.to_string(),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            secret: super::new_secret("dckr_oat_", 32),
            is_active: true,
            created_by: org.owners.first().cloned().unwrap_or_default(),
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        let ids = (token.id.clone(), token.secret.clone());
        state.org_tokens.push(token);
        ids
    }

    /// Every token of `org`, oldest first.
    pub fn org_tokens(&self, org: &str) -> Vec<OrgToken> {
        self.state()
            .org_tokens
            .iter()
            .filter(|t| t.org.eq_ignore_ascii_case(org))
            .cloned()
            .collect()
    }

    /// What a flow's checks compare: an organisation's tokens, or (`None`)
    /// every personal token, as (id, secret, active).
    pub fn held(&self, org: Option<&str>) -> Vec<(String, String, bool)> {
        match org {
            None => self
                .tokens()
                .into_iter()
                .map(|t| (t.uuid, t.secret, t.is_active))
                .collect(),
            Some(org) => self
                .org_tokens(org)
                .into_iter()
                .map(|t| (t.id, t.secret, t.is_active))
                .collect(),
        }
    }

    pub fn org_token(&self, id: &str) -> Option<OrgToken> {
        self.state().org_tokens.iter().find(|t| t.id == id).cloned()
    }

    /// Records a use made somewhere else, at `at`.
    pub fn set_org_token_last_used(&self, id: &str, at: DateTime<Utc>) {
        let mut state = self.state();
        let token = state
            .org_tokens
            .iter_mut()
            .find(|t| t.id == id)
            .expect("no such organisation token");
        token.last_used_at = Some(at);
    }

    /// Changes an OAT's expiry behind the API's back (Hub's API cannot), to
    /// make a token expire without moving the clock.
    pub fn set_org_token_expires_at(&self, id: &str, at: Option<DateTime<Utc>>) {
        let mut state = self.state();
        let token = state
            .org_tokens
            .iter_mut()
            .find(|t| t.id == id)
            .expect("no such organisation token");
        token.expires_at = at;
    }
}

impl State {
    pub(super) fn org(&self, name: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }
}

/// The documented error shape of the OAT routes: `detail` and `message`.
fn problem(status: u16, text: &str) -> Answer {
    Answer::json(status, json!({"detail": text, "message": text}))
}

/// Hub's form error, as for PATs.
fn invalid(fields: &[(&str, String)]) -> Answer {
    let map: Map<String, Value> = fields
        .iter()
        .map(|(field, problem)| (field.to_string(), json!([problem])))
        .collect();
    Answer::json(400, json!({"fields": map, "text": "Invalid request"}))
}

pub(super) fn unauthorized(incoming: &Incoming) -> Answer {
    if incoming.header("authorization").is_none() {
        problem(401, "Authentication credentials were not provided.")
    } else {
        problem(401, "Given token not valid for any token type")
    }
}

/// `/v2/orgs/{org}/access-tokens[/{id}]`, for the signed-in `user`.
pub(super) fn route(state: &mut State, user: &str, incoming: &Incoming, url: &str) -> Answer {
    let segments = incoming.segments();
    let (org, id) = match segments.as_slice() {
        [_, _, org, tokens] if tokens == "access-tokens" => (org.clone(), None),
        [_, _, org, tokens, id] if tokens == "access-tokens" => (org.clone(), Some(id.clone())),
        _ => return problem(404, "Not found."),
    };
    let Some(found) = state.org(&org) else {
        return problem(404, "Organization not found.");
    };
    let org = found.name.clone();
    if !found.owners.iter().any(|o| o.eq_ignore_ascii_case(user)) {
        return problem(
            403,
            "You do not have permission to manage this organization's access tokens.",
        );
    }
    let method = incoming.method.as_str();
    let Some(id) = id else {
        return match method {
            "GET" => list(state, &org, incoming, url),
            "POST" => super::with_body(incoming, |body| create(state, &org, user, body)),
            _ => problem(405, &format!("Method \"{method}\" not allowed.")),
        };
    };
    if !incoming.query_pairs().is_empty() {
        return invalid(&[("query", "No query parameters are accepted here.".into())]);
    }
    let Some(index) = state
        .org_tokens
        .iter()
        .position(|t| t.id == id && t.org == org)
    else {
        return problem(404, "Access token not found.");
    };
    match method {
        "GET" => Answer::json(200, full_json(&state.org_tokens[index])),
        "PATCH" => super::with_body(incoming, |body| patch(state, index, body)),
        "DELETE" => {
            state.org_tokens.remove(index);
            Answer::empty(204)
        }
        _ => problem(405, &format!("Method \"{method}\" not allowed.")),
    }
}

fn summary_json(token: &OrgToken) -> Map<String, Value> {
    let value = json!({
        "id": token.id,
        "label": token.label,
        "created_by": token.created_by,
        "is_active": token.is_active,
        "created_at": time(token.created_at),
        "expires_at": token.expires_at.map(time),
        "last_used_at": token.last_used_at.map(time),
    });
    let Value::Object(map) = value else {
        unreachable!()
    };
    map
}

fn full_json(token: &OrgToken) -> Value {
    let mut map = summary_json(token);
    let resources: Vec<Value> = token
        .resources
        .iter()
        .map(|r| json!({"type": r.kind, "path": r.path, "scopes": r.scopes}))
        .collect();
    map.insert("resources".into(), Value::Array(resources));
    Value::Object(map)
}

fn list(state: &State, org: &str, incoming: &Incoming, url: &str) -> Answer {
    if let Some((key, _)) = incoming
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k != "page" && k != "page_size")
    {
        return invalid(&[(key.as_str(), "Unknown query parameter.".into())]);
    }
    let (page, size) = match super::paging(incoming) {
        Ok(paging) => paging,
        Err(answer) => return answer,
    };
    let tokens: Vec<&OrgToken> = state
        .org_tokens
        .iter()
        .rev()
        .filter(|t| t.org == org)
        .collect();
    let pages = tokens.len().div_ceil(size).max(1);
    if page > pages {
        return problem(404, "Invalid page.");
    }
    let results: Vec<Value> = tokens
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|t| Value::Object(summary_json(t)))
        .collect();
    let link = |p: usize| format!("{url}/v2/orgs/{org}/access-tokens?page={p}&page_size={size}");
    Answer::json(
        200,
        json!({
            "total": tokens.len(),
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "results": results,
        }),
    )
}

fn label(value: &Value) -> Result<String, String> {
    let label = value.as_str().ok_or("Not a valid string.")?;
    match label.chars().count() {
        0 => Err("This field may not be blank.".into()),
        1..=100 => Ok(label.to_owned()),
        _ => Err("Ensure this field has no more than 100 characters.".into()),
    }
}

fn description(value: &Value) -> Result<String, String> {
    let text = value.as_str().ok_or("Not a valid string.")?;
    if text.chars().count() > 200 {
        return Err("Ensure this field has no more than 200 characters.".into());
    }
    Ok(text.to_owned())
}

fn resources(org: &str, value: &Value) -> Result<Vec<OatResource>, String> {
    let Value::Array(items) = value else {
        return Err("Expected a list of items.".into());
    };
    if items.is_empty() {
        return Err("Give at least one resource.".into());
    }
    if items.len() > MAX_RESOURCES {
        return Err(format!("Give at most {MAX_RESOURCES} resources."));
    }
    items.iter().map(|item| resource(org, item)).collect()
}

fn resource(org: &str, item: &Value) -> Result<OatResource, String> {
    let Value::Object(fields) = item else {
        return Err("Each resource is an object with type, path and scopes.".into());
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["type", "path", "scopes"].contains(&k.as_str()))
    {
        return Err(format!("Unknown field in a resource: {unknown}."));
    }
    let text = |key: &str| -> Result<String, String> {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("Each resource needs {key}."))
    };
    let (kind, path) = (text("type")?, text("path")?);
    let allowed: &[&str] = match kind.as_str() {
        "TYPE_REPO" => &REPO_SCOPES,
        "TYPE_ORG" => &ORG_SCOPES,
        _ => return Err(format!("\"{kind}\" is not a valid resource type.")),
    };
    let scopes: Vec<String> = match fields.get("scopes") {
        Some(Value::Array(scopes)) if !scopes.is_empty() => scopes
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| allowed.contains(s))
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{s} is not a valid scope for {kind}."))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("Each resource needs scopes.".into()),
    };
    let valid_path = match kind.as_str() {
        "TYPE_REPO" => {
            path == "*/*/public"
                || path.split_once('/').is_some_and(|(owner, name)| {
                    owner.eq_ignore_ascii_case(org)
                        && !name.is_empty()
                        && name.bytes().all(|b| {
                            b.is_ascii_lowercase()
                                || b.is_ascii_digit()
                                || matches!(b, b'.' | b'_' | b'-' | b'*')
                        })
                })
        }
        _ => path.eq_ignore_ascii_case(org),
    };
    if !valid_path {
        return Err(format!("\"{path}\" is not a valid path for {kind}."));
    }
    Ok(OatResource { kind, path, scopes })
}

fn create(state: &mut State, org: &str, user: &str, body: &Map<String, Value>) -> Answer {
    let mut problems: Vec<(&str, String)> = Vec::new();
    for key in body.keys() {
        if !CREATE_FIELDS.contains(&key.as_str()) {
            problems.push((key.as_str(), "Unknown field.".into()));
        }
    }
    let label = match body.get("label") {
        None => Err("This field is required.".into()),
        Some(value) => label(value),
    }
    .map_err(|p| problems.push(("label", p)));
    let description = body
        .get("description")
        .map_or(Ok(String::new()), description)
        .map_err(|p| problems.push(("description", p)));
    let resources = match body.get("resources") {
        None => Err("This field is required.".into()),
        Some(value) => resources(org, value),
    }
    .map_err(|p| problems.push(("resources", p)));
    let now = state.now();
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) if at <= now => Err("The expiration date must be in the future."),
            Ok(at) if at > now + chrono::Duration::days(366) => {
                Err("The expiration date must be within one year.")
            }
            Ok(at) => Ok(Some(at.with_timezone(&Utc))),
            Err(_) => Err("Datetime has wrong format. Use RFC 3339."),
        },
        Some(_) => Err("Datetime has wrong format. Use RFC 3339."),
    }
    .map_err(|p| problems.push(("expires_at", p.into())));
    if !problems.is_empty() {
        return invalid(&problems);
    }
    let limit = state.org(org).map_or(TEAM_LIMIT, |o| o.limit);
    let held = state.org_tokens.iter().filter(|t| t.org == org).count();
    if held >= limit {
        let text = format!(
            "This organization already has {held} access tokens, its limit; \
             delete unused ones (deactivated and expired tokens count until deleted)."
        );
        return Answer::json(
            400,
            json!({"fields": {"non_field_errors": [text]}, "text": text}),
        );
    }
    let token = OrgToken {
        id: new_uuid(),
        org: org.to_owned(),
        label: label.unwrap(),
        description: description.unwrap(),
        resources: resources.unwrap(),
        secret: super::new_secret("dckr_oat_", 32),
        is_active: true,
        created_by: user.to_owned(),
        created_at: now,
        expires_at: expires_at.unwrap(),
        last_used_at: None,
    };
    let Value::Object(mut value) = full_json(&token) else {
        unreachable!()
    };
    // The documented 201 has no `created_by`; it has the secret, this once.
    value.remove("created_by");
    value.insert("token".into(), Value::String(token.secret.clone()));
    state.org_tokens.push(token);
    Answer::json(201, Value::Object(value))
}

fn patch(state: &mut State, index: usize, body: &Map<String, Value>) -> Answer {
    let now = state.now();
    let org = state.org_tokens[index].org.clone();
    let mut problems: Vec<(&str, String)> = Vec::new();
    for key in body.keys() {
        if key == "expires_at" {
            problems.push((
                "expires_at",
                "The expiry cannot be changed after creation.".into(),
            ));
        } else if !PATCH_FIELDS.contains(&key.as_str()) {
            problems.push((key.as_str(), "Unknown field.".into()));
        }
    }
    if body.is_empty() {
        problems.push((
            "non_field_errors",
            "Give label, description, resources or is_active.".into(),
        ));
    }
    if state.org_tokens[index].expired(now) {
        let field = if body.contains_key("is_active") {
            "is_active"
        } else {
            "non_field_errors"
        };
        problems.push((
            field,
            "The token has expired: it cannot be changed or activated, only deleted.".into(),
        ));
    }
    let label = body
        .get("label")
        .map(label)
        .transpose()
        .map_err(|p| problems.push(("label", p)));
    let description = body
        .get("description")
        .map(description)
        .transpose()
        .map_err(|p| problems.push(("description", p)));
    let resources = body
        .get("resources")
        .map(|v| resources(&org, v))
        .transpose()
        .map_err(|p| problems.push(("resources", p)));
    let active = body
        .get("is_active")
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| "Must be a valid boolean.".to_owned())
        })
        .transpose()
        .map_err(|p| problems.push(("is_active", p)));
    if !problems.is_empty() {
        return invalid(&problems);
    }
    let token = &mut state.org_tokens[index];
    if let Ok(Some(label)) = label {
        token.label = label;
    }
    if let Ok(Some(description)) = description {
        token.description = description;
    }
    if let Ok(Some(resources)) = resources {
        token.resources = resources;
    }
    if let Ok(Some(active)) = active {
        token.is_active = active;
    }
    Answer::json(200, full_json(token))
}
