//! A short memory of the last `erase` that removed a rule's token, so the
//! next erases of the same `docker logout` leave the registry's default alone.
//!
//! Docker erases up to four addresses in a row. Once the rule's token is
//! gone the rule no longer chooses there, and the default, another
//! account's token, would be next. A rule that never had a token there
//! never chose anything, so its default stays erasable as before.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Paths;
use crate::registry::Registry;

/// Longer than one `docker logout` takes, short enough that a later,
/// deliberate `docker logout` of the default works.
const REMEMBERED: Duration = Duration::from_secs(30);

fn marker(paths: &Paths, registry: &Registry) -> PathBuf {
    paths
        .data_dir
        .join("logged-out")
        .join(crate::kernel_keyring::short_hash(registry.key().as_bytes()))
}

/// Notes that `integration`'s token was just erased from `registry` by a rule.
pub fn remember(paths: &Paths, registry: &Registry, integration: &str) {
    let path = marker(paths, registry);
    // Without the note a later erase removes the default, as it did before.
    if let Some(dir) = path.parent()
        && crate::fsutil::ensure_private_dir(dir).is_ok()
    {
        let _ = crate::fsutil::write_atomic(&path, integration.as_bytes());
    }
}

/// The integration whose token a rule erased from `registry` moments ago.
pub fn just_erased(paths: &Paths, registry: &Registry) -> Option<String> {
    let path = marker(paths, registry);
    let age = std::fs::metadata(&path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()?;
    if age > REMEMBERED {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    Some(text.trim().to_owned()).filter(|s| !s.is_empty() && s.len() < 256)
}
