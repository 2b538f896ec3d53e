//! Typed cancellation: why a task is asked to stop, and by when.

use std::time::Duration;

use tokio::time::Instant;

pub use bgapp_manifest::CancellationReason;

/// A request to stop: the reason and the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    pub(crate) reason: CancellationReason,
    pub(crate) deadline: Instant,
}

impl Cancellation {
    pub fn new(reason: CancellationReason, deadline: Instant) -> Self {
        Cancellation { reason, deadline }
    }

    pub fn reason(&self) -> CancellationReason {
        self.reason
    }

    /// The instant by which the task must have finished; work still held
    /// then is abandoned.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left until the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
