//! The audits of registries that keep their own record of each token's last
//! use, run only where their login is already kept (doctor never asks for one).

use crate::finding::Finding;
use crate::registry::Registry;
use crate::remote::audit::{Level, Report};
use crate::remote::gitlab::manage::{API, Gitlab};
use crate::service::Service;

/// Adds one finding a report that needs attention.
pub(super) fn push_reports(
    check: &'static str,
    reports: impl IntoIterator<Item = Report>,
    findings: &mut Vec<Finding>,
) {
    for report in reports {
        let fix = report.fix.unwrap_or_default();
        match report.level {
            Level::Ok => {}
            Level::Warn => findings.push(Finding::warn(check, report.message, fix)),
            Level::Suspicious => findings.push(Finding::problem(check, report.message, fix)),
        }
    }
}

/// The registries holding tokens linked to GitLab.
pub(super) fn gitlab_registries(service: &Service) -> Vec<Registry> {
    let mut registries: Vec<Registry> = Vec::new();
    for view in service.tokens().unwrap_or_default() {
        let linked = view.record.remote.as_ref().is_some_and(|l| l.api == API);
        if linked && !registries.contains(&view.name.registry) {
            registries.push(view.name.registry);
        }
    }
    registries
}

/// The GitLab audit of every registry holding tokens linked to GitLab.
pub(super) fn check_gitlab(service: &Service, findings: &mut Vec<Finding>) {
    for registry in gitlab_registries(service) {
        let Ok(gitlab) = Gitlab::open(service, &registry) else {
            continue;
        };
        let audit_command = format!("docker-credential-pat gitlab audit --registry {registry}");
        if !gitlab.api.has_login() {
            findings.push(Finding::ok(
                "gitlab-audit",
                format!(
                    "the tokens of {registry} linked to GitLab are not audited here: no `gitlab login` is kept for it; `{audit_command}` audits them"
                ),
            ));
            continue;
        }
        let audited = match gitlab.audit() {
            Ok(audited) => audited,
            Err(e) => {
                findings.push(Finding::warn(
                    "gitlab-audit",
                    format!("could not audit the tokens of {registry} linked to GitLab: {e}"),
                    format!("`{audit_command}` says what to do"),
                ));
                continue;
            }
        };
        let before = findings.len();
        let reports = audited.iter().flat_map(|token| token.reports(&gitlab.api));
        push_reports("gitlab-audit", reports, findings);
        if findings.len() == before {
            findings.push(Finding::ok(
                "gitlab-audit",
                format!(
                    "{} token(s) of {registry} linked to GitLab; every use GitLab saw is accounted for",
                    audited.len()
                ),
            ));
        }
    }
}
