//! The mark that lets `get` serve a registry's default in one request.
//!
//! With no integration chosen, `get` serves the registry's default: the
//! integration the pointer `<registry>/@default` names, else the one called
//! `default`. Reading both takes two requests, and the pointer is usually
//! absent. So the helper keeps the custom-metadata key
//! `default_pointer = none` on `<registry>/default` while no pointer names
//! another integration: `get` reads `default` first and serves it at once
//! when it carries the mark. Without the mark (a token stored by an earlier
//! version or put there by hand, or no `default` token at all) it reads the
//! pointer as well, as before.
//!
//! The writers keep the mark true, in this order:
//!
//! - Before a pointer names another integration, the mark is removed; a
//!   failure there stops the change before the pointer is written. After
//!   the pointer is written, the mark is looked at again, in case another
//!   machine set it in between, and removed if so.
//! - The mark is set only where the pointer is known to be absent (removed
//!   by this change, or read by it), and the pointer is read again after
//!   the mark is set, in case another machine wrote one in between.
//!
//! Each side looks at the other's after writing its own, so two machines
//! racing cannot leave a mark beside a pointer. Setting the mark is only a
//! saving: when it fails, the token stays unmarked, which `get` reads
//! correctly, so the change carries on.
//!
//! A pointer written some other way (`bao kv put …/@default`, or a machine
//! still running a version without the mark) beside a marked `default`
//! token is not seen by `get`: doctor reports it, and
//! `docker-credential-pat default INTEGRATION@REGISTRY` sets both right.

use std::collections::BTreeMap;

use super::{ServerLedger, token_rel};
use crate::names::{DEFAULT_INTEGRATION, Integration, TokenName};
use crate::openbao::OpenBaoError;
use crate::registry::Registry;

/// The custom-metadata key on a registry's `default` token, and its value.
pub(super) const MARK: &str = "default_pointer";
pub(super) const NO_POINTER: &str = "none";

/// True when custom metadata carries the mark.
pub(super) fn is_marked(custom: &BTreeMap<String, String>) -> bool {
    custom.get(MARK).is_some_and(|v| v == NO_POINTER)
}

fn default_token(registry: &Registry) -> TokenName {
    TokenName::new(Integration::default_name(), registry.clone())
}

impl ServerLedger {
    /// Sets or removes the mark; `false` when `registry` has no `default` token.
    fn set_mark(&self, registry: &Registry, on: bool) -> Result<bool, OpenBaoError> {
        let changes = BTreeMap::from([(MARK.to_owned(), on.then(|| NO_POINTER.to_owned()))]);
        match self
            .kv()
            .patch_custom(&token_rel(&default_token(registry)), &changes)
        {
            Ok(()) => Ok(true),
            Err(OpenBaoError::Server { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Marks `registry`'s `default` token, once its pointer is known to be
    /// absent; then reads the pointer again, and takes the mark off if a
    /// pointer has appeared. Any failure leaves the token unmarked, or
    /// marked with no pointer: both are read correctly.
    pub(super) fn mark(&self, registry: &Registry) {
        self.client.start();
        if !matches!(self.set_mark(registry, true), Ok(true)) {
            return;
        }
        self.recheck_mark(registry);
    }

    /// After the mark was set: reads the pointer, and takes the mark off
    /// if a pointer names another integration (or cannot be read).
    pub(super) fn recheck_mark(&self, registry: &Registry) {
        self.client.start();
        let alone = matches!(
            self.default_integration(registry),
            Ok(integration) if integration.as_str() == DEFAULT_INTEGRATION
        );
        if !alone {
            self.client.start();
            let _ = self.set_mark(registry, false);
        }
    }

    /// Before a pointer names another integration: the mark taken off.
    pub(super) fn unmark(&self, registry: &Registry) -> Result<(), OpenBaoError> {
        self.client.start();
        self.set_mark(registry, false).map(|_| ())
    }

    /// After a pointer was written: the mark taken off again if another
    /// machine set it meanwhile. A failure is left to doctor: the mark was
    /// taken off before, so only such a race could have put it back.
    pub(super) fn unmark_again(&self, registry: &Registry) {
        self.client.start();
        let rel = token_rel(&default_token(registry));
        if let Ok(crate::openbao::kv::Slot::Live(read)) =
            self.kv().read_slot::<serde_json::Value>(&rel)
            && is_marked(&read.custom)
        {
            self.client.start();
            let _ = self.set_mark(registry, false);
        }
    }

    /// Doctor's word on a marked `default` token beside a pointer that names
    /// another integration, which `get` does not see.
    pub(super) fn mark_finding(
        &self,
        name: &TokenName,
        custom: &BTreeMap<String, String>,
    ) -> Option<crate::finding::Finding> {
        if name.integration.as_str() != DEFAULT_INTEGRATION || !is_marked(custom) {
            return None;
        }
        self.client.start();
        let pointed = self.default_integration(&name.registry).ok()?;
        if pointed.as_str() == DEFAULT_INTEGRATION {
            return None;
        }
        let registry = &name.registry;
        Some(crate::finding::Finding::problem(
            "openbao",
            format!(
                "{} names {pointed}@{registry} as the default, but it was written without this helper (by hand, or by an earlier version), so `get` still serves {name}",
                self.kv().data_path(&super::pointer_rel(registry))
            ),
            format!(
                "make the choice again: `docker-credential-pat default {pointed}@{registry}`, or `docker-credential-pat default {name}` to keep {name}"
            ),
        ))
    }
}
