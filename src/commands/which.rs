//! `which`: the token `get` would return here, and why.

use serde_json::json;

use super::exit::{CommandResult, Exit};
use crate::output::{self, Table};
use crate::registry::Registry;
use crate::service::Service;
use crate::service::protocol::Answer;

pub fn run(service: &Service, registry: Option<&str>, json: bool) -> CommandResult {
    let asked = registry.map(Registry::parse).transpose()?;
    let answers = service.which(asked.as_ref())?;
    if json {
        let values: Vec<_> = answers.iter().map(answer_json).collect();
        let value = match (&asked, values.as_slice()) {
            (Some(_), [one]) => one.clone(),
            _ => values.into(),
        };
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
    } else if let (Some(_), [answer]) = (&asked, answers.as_slice()) {
        output::outln!("{}", line(answer));
    } else if answers.is_empty() {
        output::note(
            "no tokens are stored; `docker login` or `docker-credential-pat add` stores one",
        );
    } else {
        let mut table = Table::new(&[("REGISTRY", 0), ("TOKEN", 0), ("USER", 0), ("WHY", 20)]);
        for answer in &answers {
            table.row(vec![
                answer.registry.to_string(),
                token_cell(answer),
                answer
                    .record
                    .as_ref()
                    .map_or("-".into(), |r| r.username.clone()),
                answer.why.clone(),
            ]);
        }
        output::out!("{}", table.render(output::table_width()));
    }
    // Asked about one registry where `get` finds nothing: say so in the status too.
    let nothing = asked.is_some() && !answers.iter().all(Answer::found);
    Ok(if nothing {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// `work@ghcr.io`, or what stops `get` from returning it.
fn token_cell(answer: &Answer) -> String {
    match (answer.token(), &answer.record) {
        (None, _) => "none".into(),
        (Some(token), Some(record)) if record.active => token.to_string(),
        (Some(token), Some(_)) => format!("{token} (inactive: get finds nothing)"),
        (Some(token), None) => format!("{token} (not stored: get finds nothing)"),
    }
}

fn line(answer: &Answer) -> String {
    let user = match &answer.record {
        Some(record) if record.active => format!(" as {}", record.username),
        _ => String::new(),
    };
    format!("{}{user}: {}", token_cell(answer), answer.why)
}

fn answer_json(answer: &Answer) -> serde_json::Value {
    json!({
        "registry": answer.registry.key(),
        "token": answer.token().map(|t| t.to_string()),
        "integration": answer.pick.as_ref().map(|p| p.integration.as_str()),
        "username": answer.record.as_ref().map(|r| r.username.as_str()),
        "exists": answer.record.is_some(),
        "active": answer.record.as_ref().is_some_and(|r| r.active),
        "found": answer.found(),
        "chosen_by": answer.pick.as_ref().map(|p| p.reason.record()),
        "why": answer.why,
    })
}
