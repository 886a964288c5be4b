//! Activating, deactivating and deleting tokens on Docker Hub and here together.
//!
//! Every token named is found and checked before the first one is touched.
//! The order keeps `get` from ever serving a token Hub has switched off:
//! activating goes Hub first, then here; deactivating and deleting switch
//! the stored token off here first, then act on Hub (and a delete removes
//! it here last). A refusal from Hub puts back what was switched off here;
//! a change whose outcome Hub never told is read back (see [`super::settle`]),
//! and when even that fails the stored token stays off and the same command,
//! run again, finishes.

use super::{Hub, ManageError, Result, Target};
use crate::remote::hub::HubError;

impl Hub<'_> {
    /// Activates or deactivates tokens on Hub and here. Stops at the first failure.
    pub(crate) fn set_active(
        &self,
        texts: &[String],
        active: bool,
        done: &mut dyn FnMut(&Target),
    ) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            if active {
                self.switch(&session, target.uuid(), true)?;
                if let Target::Local { name, .. } = target {
                    self.service
                        .set_active(&[name.to_string()], true)
                        .map_err(|e| half_done(target, "Activated", "not here", e.into()))?;
                }
            } else {
                self.off_here_then_on_hub(target, "deactivate", |uuid| {
                    self.switch(&session, uuid, false)
                })?;
                // Bookkeeping: a replacement still naming a token that is off harms nothing.
                let _ = self.clear_retiring(target.uuid());
            }
            done(target);
        }
        Ok(())
    }

    /// Deletes tokens on Hub and here. Stops at the first failure.
    pub(crate) fn delete(&self, texts: &[String], done: &mut dyn FnMut(&Target)) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            self.off_here_then_on_hub(target, "delete", |uuid| self.remove(&session, uuid))?;
            if let Target::Local { name, .. } = target {
                self.service.delete(&[name.to_string()]).map_err(|e| {
                    half_done(
                        target,
                        "Deleted",
                        "it is still stored here, switched off",
                        e.into(),
                    )
                })?;
            }
            // Bookkeeping: a replacement still naming a token that is off harms nothing.
            let _ = self.clear_retiring(target.uuid());
            done(target);
        }
        Ok(())
    }

    /// Switches a stored token off here, then runs `on_hub`. A refusal from
    /// Hub switches it back on; an outcome Hub never told leaves it off.
    fn off_here_then_on_hub(
        &self,
        target: &Target,
        verb: &str,
        on_hub: impl Fn(&str) -> Result<(), HubError>,
    ) -> Result<()> {
        let was_on = match target {
            Target::Local { name, record, .. } if record.active => {
                self.service.set_active(&[name.to_string()], false)?;
                Some(name)
            }
            _ => None,
        };
        let error = match on_hub(target.uuid()) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(name) = was_on else {
            return Err(error.into());
        };
        let unsure = error.may_have_acted() || matches!(error, HubError::Unsure { .. });
        if !unsure && self.service.set_active(&[name.to_string()], true).is_ok() {
            return Err(error.into());
        }
        Err(ManageError::Partial {
            head: String::new(),
            cause: Box::new(error.into()),
            tail: format!(
                "; {name} is switched off here{}: run the same command again to {verb} it",
                if unsure {
                    ", and whether Docker Hub did it is not known"
                } else {
                    ""
                }
            ),
        })
    }
}

/// One line for a change made on Hub and only partly here.
fn half_done(target: &Target, verb: &str, missing: &str, error: ManageError) -> ManageError {
    let what = match target {
        Target::Local { name, .. } => name.to_string(),
        Target::Remote { uuid } => format!("Docker Hub token {uuid}"),
    };
    ManageError::Partial {
        head: format!("{verb} {what} on Docker Hub, but {missing}: "),
        cause: Box::new(error),
        tail: "; run the same command again to finish".into(),
    }
}
