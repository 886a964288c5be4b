//! Shell completions and the man page, generated from the clap definitions.
//!
//! The man page is one self-contained page: clap_mangen's sections for the
//! top-level command, then every command with its options (clap_mangen alone
//! would point at one page per subcommand, which nobody installs), then the
//! exit status.

use std::io::Write;

use super::exit::{CommandResult, Exit};
use crate::cli::{self, Shell};
use crate::error::ServiceError;

pub fn completions(shell: Shell) -> CommandResult {
    let mut command = cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "docker-credential-pat", &mut script);
    crate::output::write_stdout(&script);
    Ok(Exit::Success)
}

pub fn man() -> CommandResult {
    let page = render_man()
        .map_err(|e| ServiceError::Invalid(format!("cannot write the man page: {e}")))?;
    crate::output::write_stdout(&page);
    Ok(Exit::Success)
}

fn render_man() -> std::io::Result<Vec<u8>> {
    let mut command = cli::command();
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        render_command(&mut out, sub)?;
    }
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for line in cli::EXIT_CODES.lines().skip(1) {
        let line = line.trim_start();
        if let Some((code, text)) = line.split_once("  ") {
            writeln!(out, ".TP\n.B {code}\n{}", roff(text.trim()))?;
        } else {
            writeln!(out, "{}", roff(line))?;
        }
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    for (name, text) in ENVIRONMENT {
        writeln!(out, ".TP\n.B {}\n{}", roff(name), roff(text))?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

const ENVIRONMENT: [(&str, &str); 6] = [
    (
        "DOCKER_PAT_INTEGRATION",
        "The integration whose token the protocol verbs use; without it, the registry's default token.",
    ),
    (
        "DOCKER_PAT_BACKEND",
        "Where new secrets go: auto (the OS keychain, else the vault), keychain or file.",
    ),
    (
        "DOCKER_PAT_HOME",
        "One folder for config.toml and the data files, instead of the platform's config and data folders.",
    ),
    (
        "DOCKER_PAT_PASSPHRASE_FILE, DOCKER_PAT_PASSPHRASE",
        "The vault passphrase, from a file or the environment, for machines with no one to type it.",
    ),
    (
        "DOCKER_CONFIG",
        "The folder holding Docker's config.json (default ~/.docker), as for Docker itself.",
    ),
    ("NO_COLOR", "Set to anything to turn colour off."),
];

/// One command: its usage, its description, its arguments and its own subcommands.
fn render_command(out: &mut Vec<u8>, command: &clap::Command) -> std::io::Result<()> {
    writeln!(out, ".SS {}", roff(command.get_name()))?;
    let usage = command.clone().render_usage().to_string();
    let usage = usage.trim_start_matches("Usage:").trim();
    writeln!(out, ".B {}", roff(usage))?;
    let about = command
        .get_long_about()
        .or(command.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    for paragraph in about.split("\n\n") {
        writeln!(out, ".PP\n{}", roff(&paragraph.replace('\n', " ")))?;
    }
    for arg in command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && !a.is_global_set())
    {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long() {
            names.push(format!("--{long}"));
        }
        let value = arg
            .get_value_names()
            .map(|v| {
                v.iter()
                    .map(|n| format!("<{n}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let label = if names.is_empty() {
            value
        } else if arg.get_action().takes_values() && !value.is_empty() {
            format!("{} {value}", names.join(", "))
        } else {
            names.join(", ")
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            roff(&label),
            roff(&help.replace('\n', " "))
        )?;
    }
    for sub in command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{} {}\\fR\n{}",
            roff(command.get_name()),
            roff(sub.get_name()),
            roff(&about)
        )?;
    }
    Ok(())
}

/// Escapes text for roff: backslashes, hyphens, and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_documents_every_command_and_the_exit_status() {
        let page = String::from_utf8(render_man().unwrap()).unwrap();
        for needle in [
            ".TH docker-credential-pat 1",
            ".SH COMMANDS",
            ".SS doctor",
            "\\-\\-repair",
            ".SS import",
            "\\-\\-dry\\-run",
            ".SS configure\\-docker",
            "\\-\\-remove",
            ".SH \"EXIT STATUS\"",
            ".B 3",
            "DOCKER_PAT_INTEGRATION",
        ] {
            assert!(page.contains(needle), "{needle} missing");
        }
        assert!(!page.contains("docker\\-credential\\-pat\\-doctor(1)"));
    }

    #[test]
    fn roff_escapes_control_sequences() {
        assert_eq!(roff(".TH x"), "\\&.TH x");
        assert_eq!(roff("a-b\\c"), "a\\-b\\ec");
    }
}
