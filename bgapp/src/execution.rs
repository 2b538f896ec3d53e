//! The previous execution state: how the last run of a task ended.
//!
//! The runtime keeps one small record per task in its state directory,
//! `<task>.run`. At start it reads the record, then marks it
//! `running`; at a clean end it writes how the run ended. A record still
//! marked `running` at the next start means the last run never recorded an
//! end: it crashed (panic, SIGKILL, power loss, missed deadline).
//!
//! The record also counts the crashes in a row of this boot: a timer, path
//! or socket task that keeps crashing is not run again by its trigger (see
//! [`in_crash_loop`]) but exits with `PERMANENT_FAILURE`, so that its unit
//! ends `failed` as systemd's start limit alone does not ensure.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bgapp_manifest::{policy, Trigger};

use crate::activation::Activation;
use crate::durable;
use crate::{CancellationReason, FetchResult};

/// How the last run of a task ended, as the Windows app lifecycle's
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
    /// is whole; whether to restore it is the app's choice (Windows apps start
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// The function returned `Ok` and every deferral completed.
    Finished,
    /// A timer task reported its fetch result.
    Fetched { result: FetchResult },
    /// A stop request was honoured in time.
    Stopped { reason: CancellationReason },
    /// The function returned an error.
    Failed { message: String },
    /// The function declared a permanent failure.
    FailedPermanently { message: String },
    /// The function panicked.
    Panicked { message: String },
    /// Work was still held at the stop deadline.
    DeadlineMissed { reason: CancellationReason },
    /// A second Ctrl-C.
    Interrupted,
    /// The run left no record of its end (killed, power loss).
    Unrecorded,
    /// The command line was not for a run: help, version, or a usage error
    /// ([`crate::Usage`]). Never recorded: the next start sees the run
    /// before it.
    Usage { code: u8 },
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
            ExitReason::Stopped {
                reason: CancellationReason::StopRequested,
            } => ExecutionState::ClosedByUser,
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
            ExitReason::Usage { code: 0 } => {
                write!(f, "answered its command line (help or version)")
            }
            ExitReason::Usage { .. } => write!(f, "refused its command line (usage error)"),
        }
    }
}

impl ExitReason {
    /// The record's `exit=` kind and detail.
    fn encode(&self) -> (&'static str, Option<&str>) {
        match self {
            ExitReason::Finished => ("finished", None),
            ExitReason::Fetched { result } => ("fetched", Some(result.as_str())),
            ExitReason::Stopped { reason } => ("stopped", Some(reason.as_str())),
            ExitReason::Failed { message } => ("failed", Some(message)),
            ExitReason::FailedPermanently { message } => ("failed-permanently", Some(message)),
            ExitReason::Panicked { message } => ("panicked", Some(message)),
            ExitReason::DeadlineMissed { reason } => ("deadline-missed", Some(reason.as_str())),
            ExitReason::Interrupted => ("interrupted", None),
            ExitReason::Unrecorded | ExitReason::Usage { .. } => ("unrecorded", None),
        }
    }

    fn decode(kind: &str, detail: String) -> Option<ExitReason> {
        Some(match kind {
            "finished" => ExitReason::Finished,
            "fetched" => ExitReason::Fetched {
                result: FetchResult::from_name(&detail)?,
            },
            "stopped" => ExitReason::Stopped {
                reason: detail.parse().ok()?,
            },
            "failed" => ExitReason::Failed { message: detail },
            "failed-permanently" => ExitReason::FailedPermanently { message: detail },
            "panicked" => ExitReason::Panicked { message: detail },
            "deadline-missed" => ExitReason::DeadlineMissed {
                reason: detail.parse().ok()?,
            },
            "interrupted" => ExitReason::Interrupted,
            "unrecorded" => ExitReason::Unrecorded,
            _ => return None,
        })
    }
}

/// The record on disk: `key=value` lines, readable with `cat` and cheap to
/// parse without a serialization library in every binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunRecord {
    /// Counts runs; identifies which run wrote the saved state.
    pub run: u64,
    /// Set at start, cleared at a recorded end.
    pub running: bool,
    /// The run whose saved state may be trusted.
    pub trusted_writer: Option<u64>,
    pub last_exit: Option<ExitReason>,
    pub last_exit_code: Option<u8>,
    /// Unix seconds of the last recorded end.
    pub ended_at: Option<u64>,
    /// Unix seconds of the last start.
    pub started_at: Option<u64>,
    pub consecutive_crashes: u32,
    /// The boot the record was written in (`/proc/sys/kernel/random/boot_id`):
    /// crashes of an earlier boot are not counted.
    pub boot_id: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

impl RunRecord {
    fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let _ = writeln!(t, "run={}", self.run);
        let _ = writeln!(t, "running={}", self.running);
        if let Some(w) = self.trusted_writer {
            let _ = writeln!(t, "trusted_writer={w}");
        }
        if let Some(exit) = &self.last_exit {
            let (kind, detail) = exit.encode();
            let _ = writeln!(t, "exit={kind}");
            if let Some(d) = detail {
                let _ = writeln!(t, "exit_detail={}", escape(d));
            }
        }
        if let Some(c) = self.last_exit_code {
            let _ = writeln!(t, "exit_code={c}");
        }
        if let Some(at) = self.ended_at {
            let _ = writeln!(t, "ended_at={at}");
        }
        if let Some(at) = self.started_at {
            let _ = writeln!(t, "started_at={at}");
        }
        let _ = writeln!(t, "consecutive_crashes={}", self.consecutive_crashes);
        if let Some(b) = &self.boot_id {
            let _ = writeln!(t, "boot_id={b}");
        }
        t
    }

    /// Parses a record; `None` if it is not one (treated as no record).
    fn parse(text: &str) -> Option<RunRecord> {
        let mut r = RunRecord::default();
        let (mut kind, mut detail) = (None, String::new());
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "run" => r.run = v.parse().ok()?,
                "running" => r.running = v.parse().ok()?,
                "trusted_writer" => r.trusted_writer = Some(v.parse().ok()?),
                "exit" => kind = Some(v.to_string()),
                "exit_detail" => detail = unescape(v),
                "exit_code" => r.last_exit_code = Some(v.parse().ok()?),
                "ended_at" => r.ended_at = Some(v.parse().ok()?),
                "started_at" => r.started_at = Some(v.parse().ok()?),
                "consecutive_crashes" => r.consecutive_crashes = v.parse().ok()?,
                "boot_id" => r.boot_id = Some(v.to_string()),
                _ => {}
            }
        }
        if let Some(kind) = kind {
            r.last_exit = Some(ExitReason::decode(&kind, detail)?);
        }
        (r.run > 0).then_some(r)
    }
}

/// What a task learns at start about its last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousExecution {
    pub(crate) state: ExecutionState,
    pub(crate) exit: Option<ExitReason>,
    pub(crate) consecutive_crashes: u32,
    /// Unix seconds of its start, if recorded.
    pub(crate) started_at: Option<u64>,
}

impl PreviousExecution {
    pub(crate) fn not_running() -> Self {
        PreviousExecution {
            state: ExecutionState::NotRunning,
            exit: None,
            consecutive_crashes: 0,
            started_at: None,
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
    /// included: 0 after a clean end. Only runs of this boot count.
    pub fn consecutive_crashes(&self) -> u32 {
        self.consecutive_crashes
    }
}

/// The open record of the current run.
pub(crate) struct Journal {
    path: PathBuf,
    pub record: RunRecord,
    /// The record as it was before this run, to put back when the run
    /// turns out not to be one (see [`Journal::discard`]).
    before: Option<Vec<u8>>,
    /// Whether this run's start was written.
    started: bool,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This boot's id, if the kernel says.
fn boot_id() -> Option<String> {
    // The record's own reader: `fs::read_to_string` would add its code.
    let id = durable::read_if_exists(Path::new("/proc/sys/kernel/random/boot_id")).ok()??;
    Some(String::from_utf8_lossy(&id).trim().to_string()).filter(|id| !id.is_empty())
}

/// Whether a run must not start because the task is in a crash loop, at
/// `now` (Unix seconds): [`policy::CRASH_LOOP_LIMIT`] runs in a row (this
/// boot) crashed, the last of them started less than
/// [`policy::START_LIMIT_INTERVAL`] ago, and the task was started by a
/// timer, path or socket (or a restart after a crash), which can start it
/// more often than systemd's start limit catches. Boot and manual tasks
/// are left to the start limit; a manual start always runs, so that an
/// operator can try a fix; a timer that fires again later gets its run.
pub(crate) fn in_crash_loop(
    trigger: &Trigger,
    activation: &Activation,
    previous: &PreviousExecution,
    now: u64,
) -> bool {
    let triggered = matches!(
        trigger,
        Trigger::Timer { .. } | Trigger::Path { .. } | Trigger::Socket { .. }
    );
    let recent = previous
        .started_at
        .is_some_and(|at| now.saturating_sub(at) < policy::START_LIMIT_INTERVAL.as_secs());
    triggered
        && *activation != Activation::Manual
        && recent
        && previous.consecutive_crashes >= policy::CRASH_LOOP_LIMIT
}

impl Journal {
    /// Reads the last run's record and marks this run as started.
    #[cfg(test)]
    pub(crate) fn begin(dir: &Path, task: &str) -> std::io::Result<(Journal, PreviousExecution)> {
        Journal::begin_in(dir, task, boot_id())
    }

    /// [`Journal::open`] and [`Journal::start`] in the boot `boot`.
    #[cfg(test)]
    fn begin_in(
        dir: &Path,
        task: &str,
        boot: Option<String>,
    ) -> std::io::Result<(Journal, PreviousExecution)> {
        let (mut journal, previous) = Journal::open_in(dir, task, boot)?;
        journal.start()?;
        Ok((journal, previous))
    }

    /// Reads the last run's record and prepares this run's, without
    /// writing it: [`Journal::start`] does, once the run is one.
    pub(crate) fn open(dir: &Path, task: &str) -> std::io::Result<(Journal, PreviousExecution)> {
        Journal::open_in(dir, task, boot_id())
    }

    fn open_in(
        dir: &Path,
        task: &str,
        boot: Option<String>,
    ) -> std::io::Result<(Journal, PreviousExecution)> {
        let path = dir.join(format!("{task}.run"));
        let before = durable::read_if_exists(&path)?;
        let previous: Option<RunRecord> = before
            .as_deref()
            .and_then(|bytes| RunRecord::parse(&String::from_utf8_lossy(bytes)));
        let (prev, record) = match previous {
            None => (
                PreviousExecution::not_running(),
                RunRecord {
                    run: 1,
                    running: true,
                    started_at: Some(now_secs()),
                    boot_id: boot,
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
                // Crashes of an earlier boot do not make a loop.
                let crashes = if state == ExecutionState::Crashed && prev.boot_id == boot {
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
                    started_at: Some(now_secs()),
                    consecutive_crashes: crashes,
                    boot_id: boot,
                };
                (
                    PreviousExecution {
                        state,
                        exit: Some(exit),
                        consecutive_crashes: crashes,
                        started_at: prev.started_at,
                    },
                    record,
                )
            }
        };
        let journal = Journal {
            path,
            record,
            before,
            started: false,
        };
        Ok((journal, prev))
    }

    /// Marks this run as started on disk: from here, a run that leaves no
    /// end is a crash.
    pub(crate) fn start(&mut self) -> std::io::Result<()> {
        self.started = true;
        // Not fsync'd: a process crash keeps the page cache, and waiting for
        // the disk here would delay every start.
        self.write(false)
    }

    /// This run was not one (it printed its help or version, or its
    /// arguments were refused): the record is left, or put back, as the
    /// last run left it.
    pub(crate) fn discard(self) -> std::io::Result<()> {
        if !self.started {
            return Ok(());
        }
        // With no record before, an empty one: read as none.
        durable::replace(&self.path, self.before.as_deref().unwrap_or_default(), true)
    }

    fn write(&self, sync: bool) -> std::io::Result<()> {
        durable::replace(&self.path, self.record.to_text().as_bytes(), sync)
    }

    /// Records how this run ended. `state_writer` is the run that last
    /// saved state, if this run saved any.
    pub(crate) fn end(
        &mut self,
        exit: ExitReason,
        code: u8,
        saved_this_run: bool,
    ) -> std::io::Result<()> {
        let clean = exit.is_clean();
        if clean && saved_this_run {
            self.record.trusted_writer = Some(self.record.run);
        }
        self.record.consecutive_crashes = if clean {
            0
        } else {
            self.record.consecutive_crashes + 1
        };
        self.refused(exit, code)
    }

    /// Records an end without a run (a crash loop): the count of crashes
    /// stays as it was, so the next triggered start is refused too.
    pub(crate) fn refused(&mut self, exit: ExitReason, code: u8) -> std::io::Result<()> {
        self.record.running = false;
        self.record.last_exit = Some(exit);
        self.record.last_exit_code = Some(code);
        self.record.ended_at = Some(now_secs());
        self.write(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_awkward_messages() {
        let r = RunRecord {
            run: 7,
            running: false,
            trusted_writer: Some(6),
            last_exit: Some(ExitReason::Failed {
                message: "line one\nline=two \\ end".into(),
            }),
            last_exit_code: Some(1),
            ended_at: Some(1_700_000_000),
            started_at: Some(1_699_999_999),
            consecutive_crashes: 2,
            boot_id: Some("a1b2".into()),
        };
        assert_eq!(RunRecord::parse(&r.to_text()), Some(r));
        assert_eq!(RunRecord::parse("garbage"), None);
    }

    fn begin(dir: &Path) -> (Journal, PreviousExecution) {
        Journal::begin(dir, "t").unwrap()
    }

    #[test]
    fn previous_state_follows_how_runs_end() {
        let dir = std::env::temp_dir().join(format!("bgapp-exec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut j, p) = begin(&dir);
        assert_eq!(p.state(), ExecutionState::NotRunning);
        j.end(
            ExitReason::Stopped {
                reason: CancellationReason::StopRequested,
            },
            0,
            false,
        )
        .unwrap();
        let (mut j, p) = begin(&dir);
        assert_eq!(p.state(), ExecutionState::ClosedByUser);
        j.end(
            ExitReason::Stopped {
                reason: CancellationReason::SystemShutdown,
            },
            0,
            false,
        )
        .unwrap();
        let (_j, p) = begin(&dir);
        assert_eq!(p.state(), ExecutionState::Terminated);
        // `_j` never ends: the next start finds it still running.
        let (mut j, p) = begin(&dir);
        assert_eq!(
            (p.state(), p.consecutive_crashes()),
            (ExecutionState::Crashed, 1)
        );
        j.end(
            ExitReason::Panicked {
                message: "boom".into(),
            },
            1,
            false,
        )
        .unwrap();
        let (mut j, p) = begin(&dir);
        assert_eq!(
            (p.state(), p.consecutive_crashes()),
            (ExecutionState::Crashed, 2)
        );
        assert_eq!(
            p.exit_reason(),
            Some(&ExitReason::Panicked {
                message: "boom".into()
            })
        );
        j.end(ExitReason::Finished, 0, false).unwrap();
        let (_, p) = begin(&dir);
        assert_eq!(
            (p.state(), p.consecutive_crashes()),
            (ExecutionState::Terminated, 0)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn crashed(crashes: u32, started_secs_ago: Option<u64>) -> PreviousExecution {
        PreviousExecution {
            state: ExecutionState::Crashed,
            exit: Some(ExitReason::Unrecorded),
            consecutive_crashes: crashes,
            started_at: started_secs_ago.map(|ago| 1_000_000 - ago),
        }
    }

    #[test]
    fn a_crash_loop_stops_only_triggered_tasks_started_by_their_trigger() {
        use bgapp_manifest::{PathCondition, Schedule};
        let now = 1_000_000;
        let limit = policy::CRASH_LOOP_LIMIT;
        let timer = Trigger::Timer {
            schedule: Schedule::Every(std::time::Duration::from_secs(900)),
        };
        let path = Trigger::Path {
            condition: PathCondition::NotEmpty,
            path: "/var/spool/x".into(),
        };
        let fired = Activation::Timer { fired_at: None };
        let changed = Activation::Path { path: None };
        let socket = Activation::Socket { names: vec![] };
        let loop_ = crashed(limit, Some(1));
        assert!(in_crash_loop(&timer, &fired, &loop_, now));
        assert!(in_crash_loop(&path, &changed, &loop_, now));
        // A restart after a crash may come without the trigger's variables.
        assert!(in_crash_loop(&path, &Activation::Boot, &loop_, now));
        let listen = Trigger::Socket {
            listen: "127.0.0.1:9".into(),
        };
        assert!(in_crash_loop(&listen, &socket, &loop_, now));
        // Fewer crashes, a start by hand, a boot or manual task, an old
        // start (a timer firing again later), no recorded start: it runs.
        assert!(!in_crash_loop(
            &path,
            &changed,
            &crashed(limit - 1, Some(1)),
            now
        ));
        assert!(!in_crash_loop(&path, &Activation::Manual, &loop_, now));
        assert!(!in_crash_loop(
            &Trigger::Boot,
            &Activation::Boot,
            &loop_,
            now
        ));
        assert!(!in_crash_loop(&Trigger::Manual, &fired, &loop_, now));
        assert!(!in_crash_loop(
            &timer,
            &fired,
            &crashed(limit, Some(60)),
            now
        ));
        assert!(in_crash_loop(
            &timer,
            &fired,
            &crashed(limit, Some(59)),
            now
        ));
        assert!(!in_crash_loop(&timer, &fired, &crashed(limit, None), now));
    }

    #[test]
    fn a_refused_run_keeps_the_count_and_a_new_boot_resets_it() {
        let dir = tempfile_dir("refused");
        let boot = || Some("boot-a".to_string());
        for _ in 0..3 {
            let (mut j, _) = Journal::begin_in(&dir, "t", boot()).unwrap();
            j.end(
                ExitReason::Panicked {
                    message: "boom".into(),
                },
                1,
                false,
            )
            .unwrap();
        }
        let (mut j, p) = Journal::begin_in(&dir, "t", boot()).unwrap();
        assert_eq!(p.consecutive_crashes(), 3);
        j.refused(
            ExitReason::FailedPermanently {
                message: "loop".into(),
            },
            4,
        )
        .unwrap();
        let (j, p) = Journal::begin_in(&dir, "t", boot()).unwrap();
        assert_eq!(
            p.consecutive_crashes(),
            3,
            "a refusal is not a crash, nor a reset"
        );
        assert!(p.started_at.is_some());
        // Killed without a record: one more.
        drop(j);
        let (_j, p) = Journal::begin_in(&dir, "t", boot()).unwrap();
        assert_eq!(p.consecutive_crashes(), 4);
        // Rebooted: the earlier boot's crashes do not count.
        let (_j, p) = Journal::begin_in(&dir, "t", Some("boot-b".into())).unwrap();
        assert_eq!(
            (p.state(), p.consecutive_crashes()),
            (ExecutionState::Crashed, 0)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_that_was_not_one_leaves_the_record_as_it_was() {
        let dir = tempfile_dir("discard");
        // No record yet: opened and discarded, there is still none.
        let (j, _) = Journal::open(&dir, "t").unwrap();
        j.discard().unwrap();
        assert!(!dir.join("t.run").exists());
        // Started, then discarded: no record again.
        let (j, _) = begin(&dir);
        assert!(dir.join("t.run").exists());
        j.discard().unwrap();
        let (_, p) = Journal::open(&dir, "t").unwrap();
        assert_eq!(p.state(), ExecutionState::NotRunning);
        // A stopped run, then a refused one: the next start sees the stop.
        let (mut j, _) = begin(&dir);
        j.end(
            ExitReason::Stopped {
                reason: CancellationReason::StopRequested,
            },
            0,
            false,
        )
        .unwrap();
        let recorded = std::fs::read(dir.join("t.run")).unwrap();
        let (j, _) = begin(&dir);
        j.discard().unwrap();
        assert_eq!(std::fs::read(dir.join("t.run")).unwrap(), recorded);
        let (_, p) = begin(&dir);
        assert_eq!(p.state(), ExecutionState::ClosedByUser);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bgapp-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
