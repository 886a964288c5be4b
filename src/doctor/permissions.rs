//! Files and folders: the helper's own are private to their owner (config.toml
//! need only be safe from others' writes), and so is Docker's config.json
//! while it holds plaintext logins.

use crate::finding::Finding;
use crate::service::Service;

#[cfg(unix)]
pub(super) fn check(
    service: &Service,
    docker_plaintext: bool,
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let before = findings.len();
    let mut targets = Vec::new();
    let mut dirs = vec![service.paths.data_dir.clone()];
    if service.paths.config_dir != service.paths.data_dir {
        dirs.push(service.paths.config_dir.clone());
    }
    dirs.push(service.paths.index_dir());
    let dirs_checked = dirs.clone();
    // Files the helper makes again when missing: a link there can simply go.
    let paths = &service.paths;
    let replaceable = [
        paths.lock_file(),
        paths.usage_log(),
        paths.data_dir.join("vault.lock"),
    ];
    for dir in dirs {
        if !dir.is_dir() {
            continue;
        }
        let files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        targets.push(dir);
        targets.extend(files);
    }
    if let Ok(docker) = service.env.docker_config_dir() {
        let prefix = format!("config.json{}", crate::docker_config::BACKUP_MARK);
        // Backups may hold the plaintext logins that import removed.
        for entry in std::fs::read_dir(&docker).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                targets.push(entry.path());
            }
        }
        if docker_plaintext {
            targets.push(docker.join("config.json"));
        }
    }
    targets.sort();
    targets.dedup();
    let me = rustix::process::geteuid().as_raw();
    let config_file = service.paths.config_file();
    for path in targets {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let shown = path.display();
        if meta.file_type().is_symlink() {
            // The folders themselves may be links, and config.toml (people keep it
            // with their dotfiles); a link in place of any other file is not ours.
            if !dirs_checked.contains(&path) && path != config_file {
                findings.push(symlink_finding(&path, &replaceable, repair));
            }
            continue;
        }
        if meta.uid() != me {
            findings.push(Finding::problem(
                "permissions",
                format!("{shown} belongs to another user (uid {})", meta.uid()),
                format!("`chown {me} {shown}`, or remove it if it is not yours"),
            ));
            continue;
        }
        let mode = meta.mode() & 0o7777;
        // config.toml holds no secret and people edit it by hand: only others writing it matters.
        let closed = if path == config_file { 0o022 } else { 0o077 };
        if mode & closed == 0 {
            continue;
        }
        let wanted = mode & !closed;
        let finding = Finding::problem(
            "permissions",
            format!("{shown} is open to other users (mode {:o})", mode & 0o777),
            format!(
                "`chmod {:o} {shown}`, or `docker-credential-pat doctor --repair`",
                wanted & 0o777
            ),
        )
        .repairable();
        findings.push(if repair {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)) {
                Ok(()) => finding.repaired(format!("changed it to mode {:o}", wanted & 0o777)),
                Err(e) => Finding {
                    fix: Some(format!("it could not be changed: {e}")),
                    ..finding
                },
            }
        } else {
            finding
        });
    }
    if findings.len() == before {
        findings.push(Finding::ok(
            "permissions",
            "the helper's files and folders are private to you",
        ));
    }
}

/// A symbolic link in place of one of the helper's files; with `repair`, a
/// link in place of a file the helper makes again anyway is removed.
#[cfg(unix)]
fn symlink_finding(
    path: &std::path::Path,
    replaceable: &[std::path::PathBuf],
    repair: bool,
) -> Finding {
    let shown = path.display();
    let target = std::fs::read_link(path).unwrap_or_default();
    let message = format!(
        "{shown} is a symbolic link (to {}); the helper never follows links to its own files, so whatever needs it fails",
        target.display()
    );
    if !replaceable.iter().any(|p| p == path) {
        return Finding::problem(
            "permissions",
            message,
            format!(
                "remove it (`rm {shown}`); if it pointed at a file of yours, move that file here instead"
            ),
        );
    }
    let finding = Finding::problem(
        "permissions",
        message,
        format!("remove it (`rm {shown}`), or `docker-credential-pat doctor --repair`"),
    )
    .repairable();
    if !repair {
        return finding;
    }
    match std::fs::remove_file(path) {
        Ok(()) => finding.repaired("removed the link; the helper makes its own file there again"),
        Err(e) => Finding {
            fix: Some(format!("it could not be removed: {e}")),
            ..finding
        },
    }
}

#[cfg(not(unix))]
pub(super) fn check(_: &Service, _: bool, _: bool, _: &mut Vec<Finding>) {}
