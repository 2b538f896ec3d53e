//! Typed cancellation: why a task is asked to stop, and by when.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// Why a task is being stopped. Each reason comes with a deadline (the
/// task's `stop_timeout`) by which the task must have saved its state and
/// completed its deferrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancellationReason {
    /// An operator asked the task to stop while the system keeps running:
    /// `systemctl stop`, `systemctl restart`, Ctrl-C under `cargo bgapp run`,
    /// a package removal or upgrade. Next start: `ClosedByUser`.
    StopRequested,
    /// The system is shutting down or rebooting (SIGTERM while systemd's
    /// state is `stopping`, or after logind announced `PrepareForShutdown`).
    /// Next start: `Terminated`.
    SystemShutdown,
    /// The system is about to sleep and the task chose to stop rather than
    /// be frozen (see `LifecycleEvent::Suspending`). Next start: `Terminated`.
    SystemSleep,
    /// One activation ran longer than the task's `time_limit`. The run
    /// ends with exit status 1 even when the task stops in time, as systemd
    /// counts `RuntimeMaxSec=` a failure. Next start: `Terminated`.
    TimeLimit,
    /// The task sent no heartbeat (or its health check failed) for a whole
    /// watchdog interval: the runtime stopped pinging systemd's watchdog and
    /// asks the task to stop before systemd would kill it. Exit status 1,
    /// so the unit restarts it under `on-failure` too. Next start:
    /// `Terminated` if it stopped in time, else `Crashed`.
    Watchdog,
    /// Something outside the task cannot go on, and says so: a supervisor
    /// (`stop fatal-error` on the control channel) or a test. The runtime
    /// does not raise it itself yet. Exit status 1.
    FatalError,
}

impl CancellationReason {
    /// A stable lowercase name, used in logs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            CancellationReason::StopRequested => "stop-requested",
            CancellationReason::SystemShutdown => "system-shutdown",
            CancellationReason::SystemSleep => "system-sleep",
            CancellationReason::TimeLimit => "time-limit",
            CancellationReason::Watchdog => "watchdog",
            CancellationReason::FatalError => "fatal-error",
        }
    }

    /// Whether a run stopped for this reason failed, even if the task
    /// stopped in time: its exit status is then 1, not 0.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            CancellationReason::TimeLimit
                | CancellationReason::Watchdog
                | CancellationReason::FatalError
        )
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        use CancellationReason::*;
        [
            StopRequested,
            SystemShutdown,
            SystemSleep,
            TimeLimit,
            Watchdog,
            FatalError,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for CancellationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
