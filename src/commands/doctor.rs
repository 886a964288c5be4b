//! `doctor`: prints the findings, one line each, or as JSON.

use super::exit::{CommandResult, Exit};
use crate::config::Environment;
use crate::doctor;
use crate::finding::{Finding, Status};
use crate::output;
use crate::service::Service;

pub fn run(env: Environment, json: bool, repair: bool) -> CommandResult {
    // Lenient: a broken config.toml is one of the things doctor reports and repairs.
    let (service, config_error) = Service::open_lenient(env)?;
    let findings = doctor::run(&service, config_error, repair)?;
    if json {
        output::outln!(
            "{}",
            serde_json::to_string_pretty(&findings).expect("findings serialise")
        );
    } else {
        print_findings(&findings, repair);
    }
    Ok(if findings.iter().any(Finding::needs_attention) {
        Exit::Attention
    } else {
        Exit::Success
    })
}

fn print_findings(findings: &[Finding], repair: bool) {
    let colour = output::stdout_colour();
    for finding in findings {
        // --quiet keeps the lines that need reading.
        if output::is_quiet() && finding.status == Status::Ok && !finding.repaired {
            continue;
        }
        let word = match (finding.status, finding.repaired) {
            (_, true) => output::green("repaired", colour),
            (Status::Ok, _) => output::green("ok      ", colour),
            (Status::Warn, _) => output::yellow("warning ", colour),
            (Status::Problem, _) => output::red("problem ", colour),
        };
        let mut line = format!("{}: {}", finding.check, finding.message);
        if let Some(fix) = &finding.fix {
            line.push_str(" — ");
            line.push_str(fix);
        }
        output::outln!("{word} {}", crate::text::printable(&line, 4000));
    }
    let problems = findings
        .iter()
        .filter(|f| f.needs_attention() && f.status == Status::Problem)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.needs_attention() && f.status == Status::Warn)
        .count();
    let repaired = findings.iter().filter(|f| f.repaired).count();
    if problems + warnings == 0 {
        output::say(&if repaired > 0 {
            format!("Repaired {repaired} finding(s); everything is fine now.")
        } else {
            "Everything is fine.".to_owned()
        });
        return;
    }
    let mut summary = format!("{problems} problem(s) and {warnings} warning(s) need attention.");
    let repairable = findings
        .iter()
        .filter(|f| f.needs_attention() && f.repairable)
        .count();
    if !repair && repairable > 0 {
        summary.push_str(&format!(
            " `docker-credential-pat doctor --repair` fixes {repairable} of them."
        ));
    }
    output::say(&summary);
}
