//! The `[[select]]` tables of config.toml: which integration a protocol verb
//! uses, by directory, variable, calling program and registry.
//!
//! Each rule is checked as the file is read, and a bad one names its line, like
//! every other mistake in config.toml; what the rules mean is `select`'s.

use serde::Deserialize;
use toml::Spanned;

use crate::names::Integration;
use crate::registry::Registry;
use crate::select::{DirPattern, Rule};

/// One `[[select]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    dir: Option<Spanned<String>>,
    #[serde(default)]
    env: Option<Spanned<String>>,
    #[serde(default)]
    client: Option<Spanned<String>>,
    #[serde(default)]
    registry: Option<Spanned<String>>,
    integration: Spanned<String>,
}

/// The rules, checked; an error is the line and a one-line message.
pub fn rules(specs: &[Spanned<RuleSpec>], text: &str) -> Result<Vec<Rule>, (usize, String)> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| rule(i + 1, spec, text))
        .collect()
}

fn rule(number: usize, spanned: &Spanned<RuleSpec>, text: &str) -> Result<Rule, (usize, String)> {
    let spec = spanned.get_ref();
    let line = header_line(text, spanned.span().start);
    let bad = |field: &Spanned<String>, message: String| {
        (
            super::line_of(text, field.span().start),
            format!("[[select]] rule {number}: {message}"),
        )
    };
    let integration = Integration::parse(spec.integration.get_ref())
        .map_err(|e| bad(&spec.integration, format!("integration: {e}")))?;
    let dir = spec
        .dir
        .as_ref()
        .map(|dir| DirPattern::parse(dir.get_ref()).map_err(|m| bad(dir, m)))
        .transpose()?;
    let registry = spec
        .registry
        .as_ref()
        .map(|r| {
            Registry::parse(r.get_ref())
                .map_err(|e| bad(r, format!("registry {:?}: {e}", r.get_ref())))
        })
        .transpose()?;
    for (key, field) in [("env", &spec.env), ("client", &spec.client)] {
        if let Some(field) = field {
            let value = field.get_ref();
            let valid = !value.is_empty()
                && value.len() <= 256
                && !value.contains('=')
                && !value.chars().any(|c| c.is_control() || c.is_whitespace());
            if !valid {
                return Err(bad(
                    field,
                    format!("{key} must be a name without spaces or '=', not {value:?}"),
                ));
            }
        }
    }
    Ok(Rule {
        number,
        line,
        dir,
        env: spec.env.as_ref().map(|s| s.get_ref().clone()),
        client: spec.client.as_ref().map(|s| s.get_ref().clone()),
        registry,
        registry_text: spec.registry.as_ref().map(|s| s.get_ref().clone()),
        integration,
    })
}

/// The line of the `[[select]]` header a table's span starts at or after.
fn header_line(text: &str, offset: usize) -> usize {
    let body = super::line_of(text, offset);
    let lines: Vec<&str> = text.lines().take(body).collect();
    lines
        .iter()
        .rposition(|line| {
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            compact.starts_with("[[select]]")
        })
        .map_or(body, |i| i + 1)
}
