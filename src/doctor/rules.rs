//! The `[[select]]` rules: those that can never match, those naming an
//! integration that has no token, and those an earlier rule shadows. (A
//! malformed rule never gets here: config.toml is refused, naming its line.)

use std::collections::BTreeSet;

use crate::finding::Finding;
use crate::ledger::Entry;
use crate::select::Rule;
use crate::service::Service;

pub fn check(service: &Service, findings: &mut Vec<Finding>) {
    let rules = &service.config.rules;
    if rules.is_empty() {
        return;
    }
    let Ok(entries) = service.ledger().and_then(|l| l.entries()) else {
        // The index or the server was reported above.
        return;
    };
    let home = service.env.home.as_deref();
    let before = findings.len();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rule {} (config.toml line {})", rule.number, rule.line);
        if let Some(dir) = &rule.dir {
            let base = dir.base(home);
            if base.as_ref().is_none_or(|b| !b.is_dir()) {
                let missing =
                    base.map_or("your home directory".into(), |b| b.display().to_string());
                findings.push(Finding::warn(
                    "select",
                    format!("{at} can never match: its dir {} starts at {missing}, which does not exist", dir.text),
                    "fix its dir, or remove the rule",
                ));
            }
        }
        if let Some(problem) = no_token(rule, &entries) {
            findings.push(Finding::warn(
                "select",
                format!("{at} {problem}"),
                format!(
                    "store a token for it (`DOCKER_PAT_INTEGRATION={} docker login …`), or fix the rule's integration",
                    rule.integration
                ),
            ));
        }
        if let Some(earlier) = rules[..i].iter().find(|e| shadows(e, rule, service)) {
            let unless = if earlier.registry.is_none() && earlier.integration != rule.integration {
                format!(
                    " (it applies only where {} has no token)",
                    earlier.integration
                )
            } else {
                String::new()
            };
            findings.push(Finding::warn(
                "select",
                format!(
                    "{at} is shadowed by rule {} (line {}): wherever it matches, rule {} matches first{unless}",
                    earlier.number, earlier.line, earlier.number
                ),
                "move the narrower rule first, or remove it",
            ));
        }
    }
    if findings.len() == before {
        findings.push(Finding::ok(
            "select",
            format!(
                "{} [[select]] rule(s), each able to choose a token",
                rules.len()
            ),
        ));
    }
}

/// Why the rule's integration never gives `get` a token, if it does not.
fn no_token(rule: &Rule, entries: &[Entry]) -> Option<String> {
    let registries: BTreeSet<_> = entries
        .iter()
        .filter(|e| e.name.integration == rule.integration)
        .map(|e| e.name.registry.clone())
        .collect();
    match &rule.registry {
        None if registries.is_empty() => Some(format!(
            "names integration {}, which has no token for any registry",
            rule.integration
        )),
        Some(registry) if !registries.contains(registry) => Some(format!(
            "chooses {}@{registry}, which does not exist: get finds nothing there where the rule matches",
            rule.integration
        )),
        _ => None,
    }
}

/// True when `earlier` matches wherever `later` does, for the same registries.
fn shadows(earlier: &Rule, later: &Rule, service: &Service) -> bool {
    let home = service.env.home.as_deref();
    earlier.registry == later.registry
        && earlier
            .env
            .as_ref()
            .is_none_or(|e| later.env.as_ref() == Some(e))
        && earlier
            .client
            .as_ref()
            .is_none_or(|c| later.client.as_ref() == Some(c))
        && earlier
            .dir
            .as_ref()
            .is_none_or(|d| later.dir.as_ref().is_some_and(|l| d.covers(l, home)))
}
