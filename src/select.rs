//! Which token a protocol verb uses here: `DOCKER_PAT_INTEGRATION`, then the
//! `[[select]]` rules of the user's config.toml, then the registry's default.
//!
//! Docker hands a helper only the registry's address, so the rest of what
//! decides between two accounts on one registry is where the client runs: the
//! directory it was started in (the helper inherits it), a variable such as
//! `GITHUB_ACTIONS`, the calling program. A rule is a set of such conditions
//! and an integration; the first rule whose conditions all hold *and* whose
//! integration has a token for the registry (or that names the registry
//! itself) chooses. Nothing here reads a file of its own: the rules come from
//! config.toml, the facts of the run from [`Facts`], and what tokens exist
//! from the ledger, through the `has_token` question of [`Selection::pick`].
//!
//! `get` runs on every pull, so the facts are gathered lazily and once: the
//! directory only when a rule has a `dir`, the calling program only when one
//! has a `client`; a config without rules costs nothing here.

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::names::Integration;
use crate::registry::Registry;

/// The variable that names the integration outright, before any rule.
pub const ENV_INTEGRATION: &str = "DOCKER_PAT_INTEGRATION";

/// One `[[select]]` rule, checked and ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its place among the rules, from 1.
    pub number: usize,
    /// The line of config.toml it starts on.
    pub line: usize,
    pub dir: Option<DirPattern>,
    pub env: Option<String>,
    pub client: Option<String>,
    pub registry: Option<Registry>,
    /// The registry as written, for messages.
    pub registry_text: Option<String>,
    pub integration: Integration,
}

impl Rule {
    /// Its conditions as written, for people: `dir ~/work/**, registry docker.io`.
    pub fn conditions(&self) -> String {
        let mut parts = Vec::new();
        if let Some(dir) = &self.dir {
            parts.push(format!("dir {}", dir.text));
        }
        if let Some(env) = &self.env {
            parts.push(format!("env {env}"));
        }
        if let Some(client) = &self.client {
            parts.push(format!("client {client}"));
        }
        if let Some(registry) = &self.registry_text {
            parts.push(format!("registry {registry}"));
        }
        if parts.is_empty() {
            "no conditions (always)".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Whether the conditions other than `registry` hold in this run.
    fn holds(&self, facts: &dyn Facts) -> bool {
        self.env.as_deref().is_none_or(|name| facts.var_set(name))
            && self.client.as_deref().is_none_or(|c| facts.client() == c)
            && self.dir.as_ref().is_none_or(|dir| {
                let home = facts.home();
                facts.dirs().iter().any(|here| dir.matches(here, home))
            })
    }

    /// Whether the rule may apply to `registry` at all.
    fn covers(&self, registry: &Registry) -> bool {
        self.registry.as_ref().is_none_or(|r| r == registry)
    }
}

/// A `dir` condition: a glob over the directory the client runs in.
///
/// `~` at the start is the user's home; `*` and `?` match within one path
/// segment, `**` any number of segments, none included, so `~/work/**`
/// matches `~/work` itself and everything below. A pattern ending in `/`
/// means the same as one ending in `/**`, as git's `gitdir:` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirPattern {
    /// As written in config.toml.
    pub text: String,
}

impl DirPattern {
    /// Checks that `text` is a pattern that can match somewhere: absolute, or
    /// starting with `~`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let normal = text.replace('\\', "/");
        let from_home = normal == "~" || normal.starts_with("~/");
        if text.is_empty() || text.chars().any(char::is_control) {
            return Err("dir must be a directory pattern such as \"~/work/**\"".into());
        }
        if !from_home && !is_absolute(&normal) {
            return Err(format!(
                "dir {text:?} must start with / or ~/ (a rule never depends on a relative path)"
            ));
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// The pattern with `~` expanded, split into segments.
    fn segments(&self, home: Option<&Path>) -> Option<Vec<String>> {
        let mut normal = self.text.replace('\\', "/");
        if normal == "~" || normal.starts_with("~/") {
            let home = path_text(home?);
            normal = format!("{}{}", home.trim_end_matches('/'), &normal[1..]);
        }
        if normal.ends_with('/') {
            normal.push_str("**");
        }
        Some(split(&normal))
    }

    /// Whether the directory `here` matches.
    pub fn matches(&self, here: &Path, home: Option<&Path>) -> bool {
        let Some(pattern) = self.segments(home) else {
            return false;
        };
        let path = split(&path_text(here));
        let pattern: Vec<&str> = pattern.iter().map(String::as_str).collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match_segments(&pattern, &path)
    }

    /// The longest leading directory without a wildcard: where the pattern
    /// starts to look. `doctor` checks it exists.
    pub fn base(&self, home: Option<&Path>) -> Option<PathBuf> {
        let segments = self.segments(home)?;
        let fixed: Vec<&str> = segments
            .iter()
            .map(String::as_str)
            .take_while(|s| !s.contains(['*', '?']))
            .collect();
        let mut base = if cfg!(windows) {
            String::new()
        } else {
            "/".to_owned()
        };
        base.push_str(&fixed.join("/"));
        Some(PathBuf::from(base))
    }

    /// True when every directory `other` matches, this one matches too
    /// (checked on the patterns' text, so it may miss a case, never invent one).
    pub fn covers(&self, other: &DirPattern, home: Option<&Path>) -> bool {
        let (Some(mine), Some(theirs)) = (self.segments(home), other.segments(home)) else {
            return false;
        };
        if mine == theirs {
            return true;
        }
        // `A/**` covers anything below A whose own leading part has no wildcard there.
        let Some((last, fixed)) = mine.split_last() else {
            return false;
        };
        last == "**"
            && fixed.iter().all(|s| !s.contains(['*', '?']))
            && theirs.len() >= fixed.len()
            && theirs
                .iter()
                .zip(fixed)
                .all(|(t, f)| segment_eq(t, f) && !t.contains(['*', '?']))
    }
}

fn is_absolute(normal: &str) -> bool {
    let bytes = normal.as_bytes();
    normal.starts_with('/')
        || (bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && &bytes[1..3] == b":/")
}

fn path_text(path: &Path) -> String {
    let text = path.to_string_lossy();
    if cfg!(windows) {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

/// Non-empty segments: `/a//b/` is `a`, `b`.
fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(str::to_owned)
        .collect()
}

/// Windows paths compare without case, as its file systems do.
fn segment_eq(a: &str, b: &str) -> bool {
    if cfg!(windows) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn match_segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((first, rest)) => path
            .split_first()
            .is_some_and(|(here, below)| match_one(first, here) && match_segments(rest, below)),
    }
}

/// `*` and `?` within one segment.
fn match_one(pattern: &str, text: &str) -> bool {
    let fold = |c: char| {
        if cfg!(windows) {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let pattern: Vec<char> = pattern.chars().map(fold).collect();
    let text: Vec<char> = text.chars().map(fold).collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('?') => (p, t) = (p + 1, t + 1),
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => (p, t) = (p + 1, t + 1),
            _ => match star {
                Some((sp, st)) => {
                    (p, t) = (sp + 1, st + 1);
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// What the rules may ask of the run.
pub trait Facts {
    /// The directory the client runs in, as one or two spellings of it.
    fn dirs(&self) -> &[PathBuf];
    fn var_set(&self, name: &str) -> bool;
    /// The calling program, as `tokens` names it.
    fn client(&self) -> &str;
    fn home(&self) -> Option<&Path>;
}

/// The facts of this process, each looked up on first use.
pub struct Here {
    home: Option<PathBuf>,
    dirs: OnceCell<Vec<PathBuf>>,
    client: OnceCell<String>,
    client_of: fn() -> String,
}

impl Here {
    /// `client_of` names the calling program (`usage::parent_client`).
    pub fn new(home: Option<PathBuf>, client_of: fn() -> String) -> Self {
        Self {
            home,
            dirs: OnceCell::new(),
            client: OnceCell::new(),
            client_of,
        }
    }
}

impl Facts for Here {
    fn dirs(&self) -> &[PathBuf] {
        self.dirs.get_or_init(|| {
            let Ok(physical) = std::env::current_dir() else {
                return Vec::new();
            };
            let mut dirs = vec![physical];
            // A symlinked project matches as the user sees it: $PWD, when it
            // is the same directory (two stats, once per run).
            if let Some(logical) = std::env::var_os("PWD").map(PathBuf::from)
                && logical.is_absolute()
                && logical != dirs[0]
                && same_dir(&logical, &dirs[0])
            {
                dirs.push(logical);
            }
            dirs
        })
    }

    fn var_set(&self, name: &str) -> bool {
        std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }

    fn client(&self) -> &str {
        self.client.get_or_init(self.client_of)
    }

    fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}

#[cfg(unix)]
fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_dir(_: &Path, _: &Path) -> bool {
    false
}

/// Why a token was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `DOCKER_PAT_INTEGRATION` names it.
    Environment,
    /// The rule with this number (from 1).
    Rule(usize),
    /// It is the registry's default.
    Default,
}

impl Reason {
    /// How a last use records it: `rule 2`, `DOCKER_PAT_INTEGRATION`, `default`.
    pub fn record(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Environment => f.write_str(ENV_INTEGRATION),
            Reason::Rule(number) => write!(f, "rule {number}"),
            Reason::Default => f.write_str("default"),
        }
    }
}

/// Why `pick` was chosen, for people: "rule 1 in config.toml line 3: dir
/// ~/work/**", "DOCKER_PAT_INTEGRATION=ci", "the default token of docker.io".
pub fn explain(pick: &Pick, rules: &[Rule], registry: &Registry) -> String {
    match &pick.reason {
        Reason::Environment => format!("{ENV_INTEGRATION}={}", pick.integration),
        Reason::Rule(number) => match rules.iter().find(|r| r.number == *number) {
            Some(rule) => format!(
                "rule {number} in config.toml line {}: {}",
                rule.line,
                rule.conditions()
            ),
            None => format!("rule {number} in config.toml"),
        },
        Reason::Default => format!("the default token of {registry}"),
    }
}

/// The integration chosen, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub integration: Integration,
    pub reason: Reason,
}

/// What this run asks for, before the registry's tokens are known: the
/// integration the environment names, else the rules whose conditions hold.
#[derive(Debug, Clone, Default)]
pub struct Selection<'r> {
    forced: Option<Integration>,
    matched: Vec<&'r Rule>,
}

impl<'r> Selection<'r> {
    /// Only `integration`, whatever the rules say (the environment's choice).
    pub fn forced(integration: Integration) -> Self {
        Self {
            forced: Some(integration),
            matched: Vec::new(),
        }
    }

    /// The rules of `rules` whose conditions hold here, in order; the rules
    /// are not looked at when the environment names an integration.
    pub fn new(rules: &'r [Rule], forced: Option<Integration>, facts: &dyn Facts) -> Self {
        if let Some(integration) = forced {
            return Self::forced(integration);
        }
        Self {
            forced: None,
            matched: rules.iter().filter(|rule| rule.holds(facts)).collect(),
        }
    }

    /// The integration the environment names, if any.
    pub fn forced_integration(&self) -> Option<&Integration> {
        self.forced.as_ref()
    }

    /// The integration whose token `registry` serves: the environment's, else
    /// the first matching rule's that has a token there (`has_token`) or names
    /// the registry, else the registry's `default`. An inactive token counts as
    /// one: a rule that chooses it gives "not found", never another account.
    pub fn pick<E>(
        &self,
        registry: &Registry,
        mut has_token: impl FnMut(&Integration) -> Result<bool, E>,
        default: Option<Integration>,
    ) -> Result<Option<Pick>, E> {
        if let Some(integration) = &self.forced {
            return Ok(Some(Pick {
                integration: integration.clone(),
                reason: Reason::Environment,
            }));
        }
        for rule in self.matched.iter().filter(|rule| rule.covers(registry)) {
            if rule.registry.is_some() || has_token(&rule.integration)? {
                return Ok(Some(Pick {
                    integration: rule.integration.clone(),
                    reason: Reason::Rule(rule.number),
                }));
            }
        }
        Ok(default.map(|integration| Pick {
            integration,
            reason: Reason::Default,
        }))
    }

    /// The first rule whose conditions hold here and that covers `registry`,
    /// whether or not its integration has a token there.
    pub fn first_rule_for(&self, registry: &Registry) -> Option<&'r Rule> {
        self.matched
            .iter()
            .copied()
            .find(|rule| rule.covers(registry))
    }

    /// [`Selection::pick`] over a plain list of the registry's token names.
    pub fn pick_among<'n>(
        &self,
        registry: &Registry,
        names: impl Iterator<Item = &'n str> + Clone,
        default: Option<&str>,
    ) -> Option<Pick> {
        let default = default.and_then(|d| Integration::parse(d).ok());
        let found: Result<_, std::convert::Infallible> = self.pick(
            registry,
            |integration| Ok(names.clone().any(|n| n == integration.as_str())),
            default,
        );
        found.unwrap_or_else(|never| match never {})
    }
}

#[cfg(test)]
mod tests;
