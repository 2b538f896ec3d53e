//! The previous execution state: how the last run of a task ended.
//!
//! The runtime keeps one small record per task in its state directory,
//! `<task>.run.json`. At start it reads the record, then marks it
//! `running`; at a clean end it writes how the run ended. A record still
//! marked `running` at the next start means the last run never recorded an
//! end: it crashed (panic, SIGKILL, power loss, missed deadline).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::CancellationReason;

/// How the last run of a task ended, as the seeds'
/// `ApplicationExecutionState` tells an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// No earlier run is recorded: first start, or the record was removed
    /// (the package was purged). Start with default data.
    NotRunning,
    /// It ended cleanly: it was stopped by the system (shutdown, sleep, its
    /// time limit) and saved in time, or its function finished. Restore
    /// saved state.
    Terminated,
    /// An operator stopped it while the system kept running. Its saved state
    /// is whole; whether to restore it is the app's choice (the seeds start
    /// with default data).
    ClosedByUser,
    /// It ended without recording a clean end: it panicked, returned an
    /// error, was killed, lost power, or missed its stop deadline. State it
    /// saved is offered only through `StateStore::load_after_crash`.
    Crashed,
}

impl ExecutionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::NotRunning => "not-running",
            ExecutionState::Terminated => "terminated",
            ExecutionState::ClosedByUser => "closed-by-user",
            ExecutionState::Crashed => "crashed",
        }
    }
}

impl std::fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one run ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExitReason {
    /// The function returned `Ok` and every deferral completed.
    Finished,
    /// A timer task reported its fetch result.
    Fetched { result: String },
    /// A stop request was honoured in time.
    Stopped { reason: String },
    /// The function returned an error.
    Failed { message: String },
    /// The function declared a permanent failure.
    FailedPermanently { message: String },
    /// The function panicked.
    Panicked { message: String },
    /// Work was still held at the stop deadline.
    DeadlineMissed { reason: String },
    /// A second Ctrl-C.
    Interrupted,
    /// The run left no record of its end (killed, power loss).
    Unrecorded,
}

impl ExitReason {
    /// Whether the run ended in a way that leaves its saved state whole.
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            ExitReason::Finished | ExitReason::Fetched { .. } | ExitReason::Stopped { .. }
        )
    }

    fn execution_state(&self) -> ExecutionState {
        match self {
            ExitReason::Stopped { reason }
                if CancellationReason::parse(reason) == Some(CancellationReason::StopRequested) =>
            {
                ExecutionState::ClosedByUser
            }
            r if r.is_clean() => ExecutionState::Terminated,
            _ => ExecutionState::Crashed,
        }
    }
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitReason::Finished => write!(f, "finished"),
            ExitReason::Fetched { result } => write!(f, "fetched: {result}"),
            ExitReason::Stopped { reason } => write!(f, "stopped ({reason})"),
            ExitReason::Failed { message } => write!(f, "failed: {message}"),
            ExitReason::FailedPermanently { message } => write!(f, "failed permanently: {message}"),
            ExitReason::Panicked { message } => write!(f, "panicked: {message}"),
            ExitReason::DeadlineMissed { reason } => {
                write!(f, "missed its stop deadline ({reason}); work was abandoned")
            }
            ExitReason::Interrupted => write!(f, "interrupted"),
            ExitReason::Unrecorded => write!(f, "ended without a record (killed or power lost)"),
        }
    }
}

/// The record on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// Counts runs; identifies which run wrote the saved state.
    pub run: u64,
    /// Set at start, cleared at a recorded end.
    pub running: bool,
    /// The run whose saved state may be trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_writer: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ExitReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<u8>,
    /// Unix seconds of the last recorded end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    pub consecutive_crashes: u32,
}

/// What a task learns at start about its last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousExecution {
    pub(crate) state: ExecutionState,
    pub(crate) exit: Option<ExitReason>,
    pub(crate) consecutive_crashes: u32,
}

impl PreviousExecution {
    pub(crate) fn not_running() -> Self {
        PreviousExecution {
            state: ExecutionState::NotRunning,
            exit: None,
            consecutive_crashes: 0,
        }
    }

    pub fn state(&self) -> ExecutionState {
        self.state
    }

    /// How the last run ended, if a run is recorded.
    pub fn exit_reason(&self) -> Option<&ExitReason> {
        self.exit.as_ref()
    }

    /// How many runs in a row ended in a crash, this one's predecessor
    /// included: 0 after a clean end.
    pub fn consecutive_crashes(&self) -> u32 {
        self.consecutive_crashes
    }
}

/// The open record of the current run.
pub(crate) struct Journal {
    path: PathBuf,
    pub record: RunRecord,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Journal {
    /// Reads the last run's record and marks this run as started.
    pub(crate) fn begin(dir: &Path, task: &str) -> std::io::Result<(Journal, PreviousExecution)> {
        let path = dir.join(format!("{task}.run.json"));
        let previous: Option<RunRecord> = durable::read_if_exists(&path)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let (prev, record) = match previous {
            None => (
                PreviousExecution::not_running(),
                RunRecord {
                    run: 1,
                    running: true,
                    ..RunRecord::default()
                },
            ),
            Some(prev) => {
                let crashed = prev.running;
                let exit = if crashed {
                    ExitReason::Unrecorded
                } else {
                    prev.last_exit.clone().unwrap_or(ExitReason::Unrecorded)
                };
                let state = exit.execution_state();
                let crashes = if state == ExecutionState::Crashed {
                    prev.consecutive_crashes + u32::from(crashed)
                } else {
                    0
                };
                let record = RunRecord {
                    run: prev.run + 1,
                    running: true,
                    trusted_writer: prev.trusted_writer,
                    last_exit: Some(exit.clone()),
                    last_exit_code: if crashed { None } else { prev.last_exit_code },
                    ended_at: prev.ended_at,
                    consecutive_crashes: crashes,
                };
                (
                    PreviousExecution {
                        state,
                        exit: Some(exit),
                        consecutive_crashes: crashes,
                    },
                    record,
                )
            }
        };
        let journal = Journal { path, record };
        // Not fsync'd: a process crash keeps the page cache, and waiting for
        // the disk here would delay every start.
        journal.write(false)?;
        Ok((journal, prev))
    }

    fn write(&self, sync: bool) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.record).expect("a run record serializes");
        durable::replace(&self.path, &bytes, sync)
    }

    /// Records how this run ended. `state_writer` is the run that last
    /// saved state, if this run saved any.
    pub(crate) fn end(&mut self, exit: ExitReason, code: u8, saved_this_run: bool) -> std::io::Result<()> {
        let clean = exit.is_clean();
        if clean && saved_this_run {
            self.record.trusted_writer = Some(self.record.run);
        }
        self.record.consecutive_crashes = if clean { 0 } else { self.record.consecutive_crashes + 1 };
        self.record.running = false;
        self.record.last_exit = Some(exit);
        self.record.last_exit_code = Some(code);
        self.record.ended_at = Some(now_secs());
        self.write(true)
    }
}
