//! GitLab's REST routes for access tokens, below `/api/v4`: authentication
//! (and reuse detection on rotate calls), parameters, the token objects,
//! offset pagination and the list filters, and each route's rules.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::{
    ACCESS_LEVELS, BOT_SCOPES, COUNT_LIMIT, FILTERS, GitlabToken, Kind, MAINTAINER, OWNER, SORTS,
    Spec, State,
};
use crate::support::http_double::{Answer, Incoming, form_pairs, percent_encode};

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn message(status: u16, text: &str) -> Answer {
    Answer::json(status, json!({ "message": text }))
}

fn unauthorized() -> Answer {
    message(401, "401 Unauthorized")
}

fn not_found(what: &str) -> Answer {
    message(404, &format!("404 {what} Not Found"))
}

fn not_found_plain() -> Answer {
    message(404, "404 Not Found")
}

pub(super) fn bad_request(reason: Option<&str>) -> Answer {
    match reason {
        Some(reason) => message(400, &format!("400 Bad request - {reason}")),
        None => message(400, "400 Bad request"),
    }
}

/// Grape's answer to a parameter it cannot take.
fn param_error(text: &str) -> Answer {
    Answer::json(400, json!({ "error": text }))
}

fn insufficient_scope(scopes: &str) -> Answer {
    Answer::json(
        403,
        json!({
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": scopes,
        }),
    )
}

/// The token the call authenticates with, as an index; a rotate call
/// presenting a revoked token sets off reuse detection.
fn authenticate(
    state: &mut State,
    call: &Incoming,
    who: &mut Option<String>,
) -> Result<usize, Answer> {
    let secret = match (call.header("private-token"), call.header("authorization")) {
        (Some(token), _) => token,
        (None, Some(authorization)) => authorization
            .strip_prefix("Bearer ")
            .ok_or_else(unauthorized)?,
        (None, None) => return Err(unauthorized()),
    };
    let index = state
        .tokens
        .iter()
        .position(|t| t.secret == secret.trim())
        .ok_or_else(unauthorized)?;
    let token = &state.tokens[index];
    *who = Some(format!("token {} ({})", token.id, token.name));
    if token.revoked {
        if is_rotation(call) {
            let id = token.id;
            state.revoke_family(id, call.path());
        }
        return Err(unauthorized());
    }
    if !token.active(state.today()) {
        return Err(unauthorized());
    }
    state.record_use(index, "127.0.0.1");
    Ok(index)
}

/// GitLab's `access_tokens/(\d+|self)/rotate$`.
fn is_rotation(call: &Incoming) -> bool {
    let segments = call.segments();
    match segments.as_slice() {
        [.., kind, id, last] => {
            last == "rotate"
                && kind.ends_with("access_tokens")
                && (id == "self" || (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())))
        }
        _ => false,
    }
}

/// The call's parameters from its query and its JSON or form body; a name
/// not in `allowed` is refused. Form arrays are `name[]=…`.
fn params(call: &Incoming, allowed: &[&str]) -> Result<Map<String, Value>, Answer> {
    let mut found = Map::new();
    let mut add = |key: String, value: Value| {
        if let Some(array) = key.strip_suffix("[]") {
            let entry = found
                .entry(array.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(value);
            }
        } else {
            found.insert(key, value);
        }
    };
    for (key, value) in call.query_pairs() {
        add(key, Value::String(value));
    }
    if !call.body.is_empty() {
        match call.media_type().as_deref() {
            Some("application/json") => match serde_json::from_slice::<Value>(&call.body) {
                Ok(Value::Object(body)) => body.into_iter().for_each(|(k, v)| add(k, v)),
                _ => return Err(message(400, "400 Bad request - Malformed JSON")),
            },
            Some("application/x-www-form-urlencoded") => {
                let text = String::from_utf8_lossy(&call.body).into_owned();
                for (key, value) in form_pairs(&text) {
                    add(key, Value::String(value));
                }
            }
            _ => return Err(message(415, "415 Unsupported Media Type")),
        }
    }
    if let Some(unknown) = found.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(param_error(&format!("{unknown} is not a known parameter")));
    }
    Ok(found)
}

fn invalid(name: &str) -> Answer {
    param_error(&format!("{name} is invalid"))
}

fn get_string(params: &Map<String, Value>, name: &str) -> Result<Option<String>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(name)),
    }
}

fn get_date(params: &Map<String, Value>, name: &str) -> Result<Option<NaiveDate>, Answer> {
    get_string(params, name)?
        .map(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| invalid(name)))
        .transpose()
}

fn get_datetime(params: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, Answer> {
    get_string(params, name)?
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S").map(|at| at.and_utc())
                })
                .or_else(|_| {
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
                })
                .map_err(|_| invalid(name))
        })
        .transpose()
}

fn get_bool(params: &Map<String, Value>, name: &str) -> Result<Option<bool>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(invalid(name)),
    }
}

fn get_int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(name)),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| invalid(name)),
        Some(_) => Err(invalid(name)),
    }
}

fn get_strings(params: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| invalid(name)))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(invalid(name)),
    }
}

fn token_json(token: &GitlabToken, with_secret: bool, today: NaiveDate) -> Value {
    let mut value = json!({
        "id": token.id,
        "name": token.name,
        "revoked": token.revoked,
        "created_at": time(token.created_at),
        "description": token.description,
        "scopes": token.scopes,
        "user_id": token.user_id,
        "last_used_at": token.last_used_at.map(time),
        "active": token.active(today),
        "expires_at": token.expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
        "last_used_ips": token.last_used_ips,
    });
    if let Some(level) = token.access_level {
        value["access_level"] = json!(level);
    }
    if with_secret {
        value["token"] = json!(token.secret);
    }
    value
}

/// The API's routes, below `/api/v4`.
pub(super) fn route(
    state: &mut State,
    call: &Incoming,
    base: &str,
    who: &mut Option<String>,
) -> Answer {
    let segments = call.segments();
    let Some(rest) = segments.strip_prefix(&["api".to_owned(), "v4".to_owned()]) else {
        return Answer::json(404, json!({"error": "404 Not Found"}));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let method = call.method.as_str();
    let known = matches!(
        rest.as_slice(),
        ["personal_access_tokens", ..] | ["projects" | "groups", _, "access_tokens", ..]
    );
    if !known {
        return Answer::json(404, json!({"error": "404 Not Found"}));
    }
    let caller = match authenticate(state, call, who) {
        Ok(index) => index,
        Err(answer) => return answer,
    };
    let token = &state.tokens[caller];
    let self_route = matches!(
        (method, rest.as_slice()),
        ("GET" | "DELETE", ["personal_access_tokens", "self"])
    );
    let self_rotation = matches!(rest.as_slice(), [.., "self", "rotate"]) && method == "POST";
    if self_rotation {
        if !(token.has("api") || token.has("self_rotate")) {
            return insufficient_scope("api self_rotate");
        }
    } else if !self_route {
        let reads = method == "GET" && token.has("read_api");
        if !(token.has("api") || reads) {
            return insufficient_scope(if method == "GET" {
                "api read_api"
            } else {
                "api"
            });
        }
    }
    match (method, rest.as_slice()) {
        ("GET", ["personal_access_tokens"]) => list_personal(state, caller, call, base),
        ("GET", ["personal_access_tokens", "self"]) => no_params(call)
            .map(|()| Answer::json(200, token_json(&state.tokens[caller], false, state.today())))
            .unwrap_or_else(|a| a),
        ("GET", ["personal_access_tokens", id]) => get_personal(state, caller, call, id),
        ("POST", ["personal_access_tokens", "self", "rotate"]) => rotate(state, call, caller),
        ("POST", ["personal_access_tokens", id, "rotate"]) => {
            rotate_personal(state, call, caller, id)
        }
        ("DELETE", ["personal_access_tokens", "self"]) => match no_params(call) {
            Ok(()) => {
                state.tokens[caller].revoked = true;
                Answer::empty(204)
            }
            Err(answer) => answer,
        },
        ("DELETE", ["personal_access_tokens", id]) => revoke_personal(state, caller, call, id),
        (
            _,
            [
                kind @ ("projects" | "groups"),
                id,
                "access_tokens",
                tail @ ..,
            ],
        ) => {
            let kind = if *kind == "projects" {
                Kind::Project
            } else {
                Kind::Group
            };
            resource_route(state, call, base, caller, kind, id, tail)
        }
        _ => Answer::json(405, json!({"error": "405 Not Allowed"})),
    }
}

fn no_params(call: &Incoming) -> Result<(), Answer> {
    params(call, &[]).map(|_| ())
}

fn token_id(text: &str) -> Result<u64, Answer> {
    text.parse().map_err(|_| invalid("id"))
}

/// The page `page` of `items` with GitLab's offset-pagination headers.
fn paginate(call: &Incoming, params: &Map<String, Value>, base: &str, items: Vec<Value>) -> Answer {
    let page = match get_int(params, "page") {
        Ok(page) => page.unwrap_or(1).max(1) as usize,
        Err(answer) => return answer,
    };
    let per_page = match get_int(params, "per_page") {
        Ok(per_page) => per_page.unwrap_or(20).clamp(1, 100) as usize,
        Err(answer) => return answer,
    };
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let others: Vec<(String, String)> = call
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .collect();
    let link = |p: usize| {
        let mut query: Vec<String> = others
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        query.push(format!("page={p}"));
        query.push(format!("per_page={per_page}"));
        format!("{base}{}?{}", call.path(), query.join("&"))
    };
    let counted = total <= COUNT_LIMIT;
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
    }
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", link(1)));
    if counted {
        links.push(format!("<{}>; rel=\"last\"", link(pages)));
    }
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let mut answer = Answer::json(200, Value::Array(shown))
        .with_header("Link", &links.join(", "))
        .with_header("x-next-page", &next)
        .with_header("x-page", &page.to_string())
        .with_header("x-per-page", &per_page.to_string())
        .with_header("x-prev-page", &prev);
    if counted {
        answer = answer
            .with_header("x-total", &total.to_string())
            .with_header("x-total-pages", &pages.to_string());
    }
    answer
}

/// The documented list filters and `sort`, applied to `tokens`.
fn filtered<'a>(
    state: &State,
    params: &Map<String, Value>,
    mut tokens: Vec<&'a GitlabToken>,
) -> Result<Vec<&'a GitlabToken>, Answer> {
    let today = state.today();
    if let Some(revoked) = get_bool(params, "revoked")? {
        tokens.retain(|t| t.revoked == revoked);
    }
    match get_string(params, "state")?.as_deref() {
        None => {}
        Some("active") => tokens.retain(|t| t.active(today)),
        Some("inactive") => tokens.retain(|t| !t.active(today)),
        Some(_) => return Err(param_error("state does not have a valid value")),
    }
    if let Some(at) = get_datetime(params, "created_before")? {
        tokens.retain(|t| t.created_at < at);
    }
    if let Some(at) = get_datetime(params, "created_after")? {
        tokens.retain(|t| t.created_at > at);
    }
    if let Some(at) = get_datetime(params, "last_used_before")? {
        tokens.retain(|t| t.last_used_at.is_some_and(|used| used < at));
    }
    if let Some(at) = get_datetime(params, "last_used_after")? {
        tokens.retain(|t| t.last_used_at.is_some_and(|used| used > at));
    }
    if let Some(date) = get_date(params, "expires_before")? {
        tokens.retain(|t| t.expires_at.is_some_and(|at| at < date));
    }
    if let Some(date) = get_date(params, "expires_after")? {
        tokens.retain(|t| t.expires_at.is_some_and(|at| at > date));
    }
    if let Some(search) = get_string(params, "search")? {
        let search = search.to_lowercase();
        tokens.retain(|t| t.name.to_lowercase().contains(&search));
    }
    let sort = get_string(params, "sort")?.unwrap_or_else(|| "id_asc".into());
    if !SORTS.contains(&sort.as_str()) {
        return Err(param_error("sort does not have a valid value"));
    }
    let (field, descending) = sort.rsplit_once('_').unwrap();
    let descending = descending == "desc";
    tokens.sort_by(|a, b| {
        let order = match field {
            "created" => a.created_at.cmp(&b.created_at),
            "name" => a.name.cmp(&b.name),
            // Tokens never used or never expiring come last either way.
            "expires" => return optional_order(a.expires_at, b.expires_at, descending),
            "last_used" => return optional_order(a.last_used_at, b.last_used_at, descending),
            _ => a.id.cmp(&b.id),
        }
        .then(a.id.cmp(&b.id));
        if descending { order.reverse() } else { order }
    });
    Ok(tokens)
}

fn optional_order<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

fn list_personal(state: &State, caller: usize, call: &Incoming, base: &str) -> Answer {
    let mut allowed = FILTERS.to_vec();
    allowed.extend(["user_id", "page", "per_page"]);
    let params = match params(call, &allowed) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let user = match get_int(&params, "user_id") {
        Err(answer) => return answer,
        Ok(None) if admin => None,
        Ok(None) => Some(me),
        Ok(Some(id)) if id as u64 == me => Some(me),
        Ok(Some(id)) if admin => match state.user(id as u64) {
            Some(user) => Some(user.id),
            None => return not_found("User"),
        },
        Ok(Some(_)) => return unauthorized(),
    };
    let tokens: Vec<&GitlabToken> = state
        .tokens
        .iter()
        .filter(|t| user.is_none_or(|u| t.user_id == u))
        .collect();
    match filtered(state, &params, tokens) {
        Ok(tokens) => {
            let today = state.today();
            let items = tokens.iter().map(|t| token_json(t, false, today)).collect();
            paginate(call, &params, base, items)
        }
        Err(answer) => answer,
    }
}

/// The personal token `id` if the caller may see it: its own, or any for an
/// admin; otherwise 401 (404 for an admin when it does not exist).
fn visible_personal(state: &State, caller: usize, id: &str) -> Result<usize, Answer> {
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let id = token_id(id)?;
    match state.token_index(id) {
        Some(index) if admin || state.tokens[index].user_id == me => Ok(index),
        None if admin => Err(not_found_plain()),
        _ => Err(unauthorized()),
    }
}

fn get_personal(state: &State, caller: usize, call: &Incoming, id: &str) -> Answer {
    if let Err(answer) = no_params(call) {
        return answer;
    }
    match visible_personal(state, caller, id) {
        Ok(index) => Answer::json(200, token_json(&state.tokens[index], false, state.today())),
        Err(answer) => answer,
    }
}

fn rotate_personal(state: &mut State, call: &Incoming, caller: usize, id: &str) -> Answer {
    match visible_personal(state, caller, id) {
        Ok(index) => rotate(state, call, index),
        Err(answer) => answer,
    }
}

fn revoke_personal(state: &mut State, caller: usize, call: &Incoming, id: &str) -> Answer {
    if let Err(answer) = no_params(call) {
        return answer;
    }
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let index = match token_id(id).map(|id| state.token_index(id)) {
        Err(answer) => return answer,
        Ok(None) => return not_found_plain(),
        Ok(Some(index)) => index,
    };
    if !(admin || state.tokens[index].user_id == me) {
        return bad_request(None);
    }
    state.tokens[index].revoked = true;
    Answer::empty(204)
}

/// Revokes the token at `index` and issues its successor, expiring on `expires_at`.
pub(super) fn rotate_at(state: &mut State, index: usize, expires_at: Option<NaiveDate>) -> usize {
    state.tokens[index].revoked = true;
    let old = state.tokens[index].clone();
    let spec = Spec {
        name: old.name,
        description: old.description,
        scopes: old.scopes,
        expires_at,
        access_level: old.access_level,
    };
    state.new_token(old.owner, old.user_id, spec, Some(old.id))
}

/// Rotates the token at `target` (the caller's right to do so checked already).
fn rotate(state: &mut State, call: &Incoming, target: usize) -> Answer {
    let params = match params(call, &["expires_at"]) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let asked = match get_date(&params, "expires_at") {
        Ok(asked) => asked,
        Err(answer) => return answer,
    };
    if state.tokens[target].revoked {
        if state.reuse_on_target {
            let id = state.tokens[target].id;
            state.revoke_family(id, call.path());
        }
        return bad_request(Some("Token already revoked"));
    }
    let expires_at = match asked {
        Some(asked) => match state.check_expiry(asked) {
            Ok(date) => Some(date),
            Err(answer) => return answer,
        },
        None if state.expiry_required => Some(state.today() + chrono::Duration::days(7)),
        None => None,
    };
    let new = rotate_at(state, target, expires_at);
    Answer::json(200, token_json(&state.tokens[new], true, state.today()))
}

/// A project or group by numeric id or (URL-encoded) full path, if the caller
/// may see it; 404 otherwise, as GitLab hides what you are not a member of.
fn resolve(
    state: &State,
    caller: usize,
    kind: Kind,
    id: &str,
) -> Result<(u64, Option<u8>), Answer> {
    let me = state.tokens[caller].user_id;
    let admin = state.user(me).is_some_and(|u| u.admin);
    let found = state
        .namespaces
        .iter()
        .find(|n| n.kind == kind && (n.id.to_string() == id || n.path.eq_ignore_ascii_case(id)));
    let missing = || {
        not_found(match kind {
            Kind::Project => "Project",
            Kind::Group => "Group",
        })
    };
    let namespace = found.ok_or_else(missing)?;
    let role = state.role(me, kind, namespace.id);
    if role.is_none() && !admin {
        return Err(missing());
    }
    Ok((namespace.id, if admin { Some(OWNER) } else { role }))
}

fn resource_route(
    state: &mut State,
    call: &Incoming,
    base: &str,
    caller: usize,
    kind: Kind,
    id: &str,
    tail: &[&str],
) -> Answer {
    let (resource, role) = match resolve(state, caller, kind, id) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let caller_is_bot = state
        .user(state.tokens[caller].user_id)
        .is_none_or(|u| u.bot);
    let manages = role.is_some_and(|r| r >= kind.manager());
    let owner = kind.owner(resource);
    let find = |state: &State, token: &str| -> Option<usize> {
        let id: u64 = token.parse().ok()?;
        state
            .tokens
            .iter()
            .position(|t| t.id == id && t.owner == owner)
    };
    let missing = || not_found(&format!("{} Access Token", kind.word()));
    match (call.method.as_str(), tail) {
        ("GET", []) => {
            if !manages {
                return unauthorized();
            }
            let mut allowed = FILTERS.to_vec();
            allowed.extend(["page", "per_page"]);
            let params = match params(call, &allowed) {
                Ok(params) => params,
                Err(answer) => return answer,
            };
            let tokens = state.tokens.iter().filter(|t| t.owner == owner).collect();
            match filtered(state, &params, tokens) {
                Ok(tokens) => {
                    let today = state.today();
                    let items = tokens.iter().map(|t| token_json(t, false, today)).collect();
                    paginate(call, &params, base, items)
                }
                Err(answer) => answer,
            }
        }
        ("POST", []) => create(state, call, kind, resource, role, caller_is_bot),
        ("GET", [token]) => {
            if !manages {
                return unauthorized();
            }
            if let Err(answer) = no_params(call) {
                return answer;
            }
            match find(state, token) {
                Some(index) => {
                    Answer::json(200, token_json(&state.tokens[index], false, state.today()))
                }
                None => missing(),
            }
        }
        ("DELETE", [token]) => {
            if let Err(answer) = no_params(call) {
                return answer;
            }
            let Some(index) = find(state, token) else {
                return missing();
            };
            if !manages || caller_is_bot {
                return bad_request(Some(&format!(
                    "Not permitted to revoke this {} access token",
                    kind.word()
                )));
            }
            state.tokens[index].revoked = true;
            Answer::empty(204)
        }
        ("POST", ["self", "rotate"]) => {
            if state.tokens[caller].owner != owner {
                return unauthorized();
            }
            rotate(state, call, caller)
        }
        ("POST", [token, "rotate"]) => {
            let admin = state
                .user(state.tokens[caller].user_id)
                .is_some_and(|u| u.admin);
            if !manages || caller_is_bot {
                return unauthorized();
            }
            match find(state, token) {
                Some(index) => rotate(state, call, index),
                None if admin => not_found_plain(),
                None => unauthorized(),
            }
        }
        _ => Answer::json(405, json!({"error": "405 Not Allowed"})),
    }
}

fn create(
    state: &mut State,
    call: &Incoming,
    kind: Kind,
    resource: u64,
    role: Option<u8>,
    caller_is_bot: bool,
) -> Answer {
    let params = match params(
        call,
        &[
            "name",
            "description",
            "scopes",
            "access_level",
            "expires_at",
        ],
    ) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let mut missing = Vec::new();
    let name = match get_string(&params, "name") {
        Ok(Some(name)) if !name.trim().is_empty() => name,
        Ok(_) => {
            missing.push("name is missing");
            String::new()
        }
        Err(answer) => return answer,
    };
    let scopes = match get_strings(&params, "scopes") {
        Ok(Some(scopes)) if !scopes.is_empty() => scopes,
        Ok(_) => {
            missing.push("scopes is missing");
            Vec::new()
        }
        Err(answer) => return answer,
    };
    if !missing.is_empty() {
        return param_error(&missing.join(", "));
    }
    if scopes.iter().any(|s| !BOT_SCOPES.contains(&s.as_str())) {
        return param_error("scopes does not have a valid value");
    }
    let description = match get_string(&params, "description") {
        Ok(description) => description.unwrap_or_default(),
        Err(answer) => return answer,
    };
    if description.chars().count() > 255 {
        return param_error("description is too long (maximum is 255 characters)");
    }
    let access_level = match get_int(&params, "access_level") {
        Ok(level) => level.unwrap_or(i64::from(MAINTAINER)),
        Err(answer) => return answer,
    };
    let Some(access_level) = u8::try_from(access_level)
        .ok()
        .filter(|l| ACCESS_LEVELS.contains(l))
    else {
        return param_error("access_level does not have a valid value");
    };
    let expires_at = match get_date(&params, "expires_at") {
        Ok(Some(asked)) => match state.check_expiry(asked) {
            Ok(date) => Some(date),
            Err(answer) => return answer,
        },
        Ok(None) if state.expiry_required => {
            Some(state.today() + chrono::Duration::days(state.max_lifetime_days.min(365)))
        }
        Ok(None) => None,
        Err(answer) => return answer,
    };
    let word = kind.word();
    if caller_is_bot || role.is_none_or(|r| r < kind.manager()) {
        return bad_request(Some(&format!(
            "User does not have permission to create {word} access token"
        )));
    }
    if role.is_some_and(|r| access_level > r) {
        return bad_request(Some(
            "Access level of the token can't be greater than the access level of the user who created the token",
        ));
    }
    let spec = Spec {
        name,
        description,
        scopes,
        expires_at,
        access_level: Some(access_level),
    };
    let index = state.new_bot_token(kind, resource, spec);
    Answer::json(201, token_json(&state.tokens[index], true, state.today()))
}
