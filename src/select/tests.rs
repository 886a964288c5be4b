use std::path::{Path, PathBuf};

use super::*;
use crate::config::Config;

/// Facts made up for a test: a directory, some variables, a client.
struct Fake {
    dirs: Vec<PathBuf>,
    vars: Vec<&'static str>,
    client: &'static str,
    home: PathBuf,
}

impl Fake {
    fn at(dir: &str) -> Self {
        Self {
            dirs: vec![PathBuf::from(dir)],
            vars: Vec::new(),
            client: "docker",
            home: PathBuf::from("/home/u"),
        }
    }
}

impl Facts for Fake {
    fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
    fn var_set(&self, name: &str) -> bool {
        self.vars.contains(&name)
    }
    fn client(&self) -> &str {
        self.client
    }
    fn home(&self) -> Option<&Path> {
        Some(&self.home)
    }
}

fn rules(text: &str) -> Vec<Rule> {
    Config::parse(text).unwrap().rules
}

fn registry(text: &str) -> Registry {
    Registry::parse(text).unwrap()
}

/// What `pick` chooses for `registry` when `tokens` exist there and `default` is the default.
fn pick(
    rules: &[Rule],
    facts: &Fake,
    forced: Option<&str>,
    at: &str,
    tokens: &[&str],
    default: Option<&str>,
) -> Option<(String, String)> {
    let forced = forced.map(|f| Integration::parse(f).unwrap());
    let selection = Selection::new(rules, forced, facts);
    selection
        .pick_among(&registry(at), tokens.iter().copied(), default)
        .map(|p| (p.integration.to_string(), p.reason.record()))
}

const WORK: &str = "[[select]]\ndir = \"~/work/**\"\nintegration = \"work\"\n";

#[test]
fn dir_globs_match_the_directory_itself_and_below() {
    let home = Some(Path::new("/home/u"));
    let work = DirPattern::parse("~/work/**").unwrap();
    for dir in [
        "/home/u/work",
        "/home/u/work/",
        "/home/u/work/app",
        "/home/u/work/a/b/c",
    ] {
        assert!(work.matches(Path::new(dir), home), "{dir}");
    }
    for dir in ["/home/u/workshop", "/home/u", "/home/v/work/app", "/work"] {
        assert!(!work.matches(Path::new(dir), home), "{dir}");
    }
    let trailing = DirPattern::parse("~/work/").unwrap();
    assert!(trailing.matches(Path::new("/home/u/work/app"), home));
    let exact = DirPattern::parse("/srv/app").unwrap();
    assert!(exact.matches(Path::new("/srv/app"), home));
    assert!(!exact.matches(Path::new("/srv/app/sub"), home));
    let star = DirPattern::parse("/srv/*-api/**").unwrap();
    assert!(star.matches(Path::new("/srv/billing-api/src"), home));
    assert!(!star.matches(Path::new("/srv/billing/src"), home));
    let deep = DirPattern::parse("~/**/client-?").unwrap();
    assert!(deep.matches(Path::new("/home/u/a/b/client-x"), home));
    assert!(deep.matches(Path::new("/home/u/client-y"), home));
    assert!(!deep.matches(Path::new("/home/u/client-xy"), home));
    assert!(
        !work.matches(Path::new("/home/u/work"), None),
        "no home, no match"
    );
}

#[test]
fn relative_or_empty_dir_patterns_are_refused() {
    for bad in ["work/**", "", "./x", "~user/x", "a\nb"] {
        assert!(DirPattern::parse(bad).is_err(), "{bad:?}");
    }
    assert!(DirPattern::parse("~").is_ok());
}

#[test]
fn first_matching_rule_with_a_token_wins_then_the_default() {
    let rules = rules(&format!(
        "{WORK}[[select]]\nenv = \"GITHUB_ACTIONS\"\nintegration = \"ci\"\n[[select]]\nclient = \"skopeo\"\nintegration = \"mirror\"\n"
    ));
    let mut facts = Fake::at("/home/u/work/app");
    let all = ["work", "ci", "mirror", "default"];
    let chosen = |facts: &Fake, tokens: &[&str]| {
        pick(&rules, facts, None, "docker.io", tokens, Some("default"))
    };
    assert_eq!(chosen(&facts, &all), Some(("work".into(), "rule 1".into())));
    assert_eq!(
        chosen(&facts, &["ci", "default"]),
        Some(("default".into(), "default".into())),
        "a rule whose integration has no token here is passed over"
    );
    facts.vars.push("GITHUB_ACTIONS");
    assert_eq!(
        chosen(&facts, &["ci", "default"]),
        Some(("ci".into(), "rule 2".into()))
    );
    facts.dirs = vec![PathBuf::from("/home/u/oss/lib")];
    facts.vars.clear();
    facts.client = "skopeo";
    assert_eq!(
        chosen(&facts, &all),
        Some(("mirror".into(), "rule 3".into()))
    );
    facts.client = "docker";
    assert_eq!(
        chosen(&facts, &all),
        Some(("default".into(), "default".into()))
    );
    assert_eq!(
        pick(&rules, &facts, None, "docker.io", &["work"], None),
        None
    );
}

#[test]
fn the_environment_comes_before_every_rule() {
    let rules = rules(WORK);
    let facts = Fake::at("/home/u/work/app");
    assert_eq!(
        pick(
            &rules,
            &facts,
            Some("ci"),
            "docker.io",
            &["work", "ci"],
            Some("work")
        ),
        Some(("ci".into(), "DOCKER_PAT_INTEGRATION".into()))
    );
    assert_eq!(
        pick(&rules, &facts, Some("gone"), "docker.io", &["work"], None),
        Some(("gone".into(), "DOCKER_PAT_INTEGRATION".into())),
        "never another token than the one named"
    );
}

#[test]
fn a_rule_naming_the_registry_binds_even_without_a_token() {
    let rules = rules(
        "[[select]]\ndir = \"~/work/**\"\nregistry = \"https://index.docker.io/v1/\"\nintegration = \"work\"\n",
    );
    let facts = Fake::at("/home/u/work");
    for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        assert_eq!(
            pick(&rules, &facts, None, hub, &["default"], Some("default")),
            Some(("work".into(), "rule 1".into())),
            "{hub}"
        );
    }
    assert_eq!(
        pick(
            &rules,
            &facts,
            None,
            "ghcr.io",
            &["work", "default"],
            Some("default")
        ),
        Some(("default".into(), "default".into())),
        "other registries are not its business"
    );
}

#[test]
fn a_symlinked_directory_matches_as_the_user_sees_it() {
    let rules = rules(WORK);
    let mut facts = Fake::at("/data/projects/app");
    assert_eq!(pick(&rules, &facts, None, "ghcr.io", &["work"], None), None);
    facts.dirs.push(PathBuf::from("/home/u/work/app"));
    assert_eq!(
        pick(&rules, &facts, None, "ghcr.io", &["work"], None),
        Some(("work".into(), "rule 1".into()))
    );
}

#[test]
fn malformed_rules_name_their_line() {
    let cases = [
        (
            "stale_after_days = 1\n[[select]]\ndir = \"work/**\"\nintegration = \"w\"\n",
            3,
            "dir",
        ),
        (
            "[[select]]\nintegration = \"w\"\n\n[[select]]\nregistry = \"a b\"\nintegration = \"w\"\n",
            5,
            "registry",
        ),
        (
            "[[select]]\ndir = \"~/x\"\nintegration = \"bad name\"\n",
            3,
            "integration",
        ),
        ("[[select]]\nenv = \"A=B\"\nintegration = \"w\"\n", 2, "env"),
        (
            "[[select]]\ndirectory = \"~/x\"\nintegration = \"w\"\n",
            2,
            "directory",
        ),
        ("[[select]]\ndir = \"~/x\"\n", 1, "integration"),
    ];
    for (text, line, word) in cases {
        let (got, message) = Config::parse(text).unwrap_err();
        assert_eq!(got, line, "{text:?}: {message}");
        assert!(message.contains(word), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn rules_know_their_number_line_and_conditions() {
    let rules = rules(&format!(
        "stale_after_days = 3\n\n{WORK}\n[[select]]\nclient = \"skopeo\"\nregistry = \"quay.io/org\"\nintegration = \"mirror\"\n"
    ));
    assert_eq!(
        rules.iter().map(|r| (r.number, r.line)).collect::<Vec<_>>(),
        [(1, 3), (2, 7)]
    );
    assert_eq!(rules[0].conditions(), "dir ~/work/**");
    assert_eq!(rules[1].conditions(), "client skopeo, registry quay.io/org");
    assert_eq!(rules[1].registry, Some(registry("quay.io")));
    let pick = Pick {
        integration: Integration::parse("work").unwrap(),
        reason: Reason::Rule(1),
    };
    assert_eq!(
        explain(&pick, &rules, &registry("docker.io")),
        "rule 1 in config.toml line 3: dir ~/work/**"
    );
    let default = Pick {
        reason: Reason::Default,
        ..pick.clone()
    };
    assert_eq!(
        explain(&default, &rules, &registry("docker.io")),
        "the default token of docker.io"
    );
    assert!(Config::parse("").unwrap().rules.is_empty());
}

#[test]
fn cover_checks_are_sound() {
    let home = Some(Path::new("/home/u"));
    let p = |t: &str| DirPattern::parse(t).unwrap();
    assert!(p("~/work/**").covers(&p("~/work/app/**"), home));
    assert!(p("~/work/**").covers(&p("/home/u/work/app"), home));
    assert!(p("~/work/**").covers(&p("~/work/**"), home));
    assert!(!p("~/work/app/**").covers(&p("~/work/**"), home));
    assert!(
        !p("~/work/*/x").covers(&p("~/work/a/x"), home),
        "a wildcard short of the end"
    );
    assert!(!p("~/work/**").covers(&p("~/*/app"), home));
    assert_eq!(
        p("~/work/**").base(home),
        Some(PathBuf::from("/home/u/work"))
    );
}
