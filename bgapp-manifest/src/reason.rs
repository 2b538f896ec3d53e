//! Why a task is asked to stop: the reasons the runtime delivers, the run
//! record stores and a supervisor sends on the control channel.

use std::fmt;
use std::str::FromStr;

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
    /// Every reason, in a stable order.
    pub const ALL: [CancellationReason; 6] = [
        CancellationReason::StopRequested,
        CancellationReason::SystemShutdown,
        CancellationReason::SystemSleep,
        CancellationReason::TimeLimit,
        CancellationReason::Watchdog,
        CancellationReason::FatalError,
    ];

    /// The stable lowercase name used in logs, run records and the control
    /// channel.
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
}

impl fmt::Display for CancellationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`CancellationReason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cancellation reason `{0}`")]
pub struct UnknownReason(pub String);

impl FromStr for CancellationReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CancellationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_string()))
    }
}

impl serde::Serialize for CancellationReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CancellationReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for r in CancellationReason::ALL {
            assert_eq!(r.as_str().parse::<CancellationReason>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        let mut names: Vec<_> = CancellationReason::ALL.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), CancellationReason::ALL.len());
        assert_eq!(
            serde_json::to_string(&CancellationReason::SystemSleep).unwrap(),
            r#""system-sleep""#
        );
        assert_eq!(
            serde_json::from_str::<CancellationReason>(r#""watchdog""#).unwrap(),
            CancellationReason::Watchdog
        );
        assert!(serde_json::from_str::<CancellationReason>(r#""reboot""#).is_err());
        assert_eq!(
            "reboot".parse::<CancellationReason>(),
            Err(UnknownReason("reboot".into()))
        );
    }

    #[test]
    fn failures_are_the_stops_systemd_counts_as_failed() {
        let failing: Vec<_> = CancellationReason::ALL
            .into_iter()
            .filter(|r| r.is_failure())
            .collect();
        assert_eq!(
            failing,
            [
                CancellationReason::TimeLimit,
                CancellationReason::Watchdog,
                CancellationReason::FatalError
            ]
        );
    }
}
