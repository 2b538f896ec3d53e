//! Deferrals, as Windows background tasks' `GetDeferral()` / `Complete()`.
//! The process ends when the task function has returned and every deferral
//! is complete.

use std::sync::Arc;

use crate::instance::Shared;

/// Keeps the task alive after its function returns, until completed.
#[must_use = "a deferral completes when dropped; keep it while the work runs"]
pub struct Deferral {
    shared: Arc<Shared>,
    completed: bool,
}

impl Deferral {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.deferrals.send_modify(|n| *n += 1);
        Deferral {
            shared,
            completed: false,
        }
    }

    /// Says the deferred work is done.
    pub fn complete(mut self) {
        self.completed = true;
        self.release();
    }

    fn release(&self) {
        self.shared.deferrals.send_modify(|n| *n -= 1);
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        if !self.completed {
            tracing::warn!(
                task = %self.shared.manifest.name,
                "a deferral was dropped without `complete()`; completing it"
            );
            self.release();
        }
    }
}

impl std::fmt::Debug for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferral")
            .field("task", &self.shared.manifest.name)
            .finish()
    }
}
