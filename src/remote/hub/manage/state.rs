//! Activating, deactivating and deleting tokens on Docker Hub and here together.
//!
//! Hub goes first: a refusal there changes nothing here, and every token
//! named is found and checked before the first one is touched.

use super::{Hub, Result, Target};

impl Hub<'_> {
    /// Activates or deactivates a token on Hub, then here. Stops at the first refusal.
    pub(crate) fn set_active(
        &self,
        texts: &[String],
        active: bool,
        done: &mut dyn FnMut(&Target),
    ) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            self.with_session(&session, |c, s| c.set_active(s, target.uuid(), active))?;
            if let Target::Local { name, .. } = target {
                self.service.set_active(&[name.to_string()], active)?;
            }
            if !active {
                self.clear_retiring(target.uuid())?;
            }
            done(target);
        }
        Ok(())
    }

    /// Deletes tokens on Hub, then here. Stops at the first refusal.
    pub(crate) fn delete(&self, texts: &[String], done: &mut dyn FnMut(&Target)) -> Result<()> {
        let session = self.session()?;
        let targets = self.targets(&session, texts)?;
        for target in &targets {
            self.with_session(&session, |c, s| c.delete(s, target.uuid()))?;
            if let Target::Local { name, .. } = target {
                self.service.delete(&[name.to_string()])?;
            }
            self.clear_retiring(target.uuid())?;
            done(target);
        }
        Ok(())
    }
}
