//! One run of a task, from its start to its recorded end.
//!
//! [`run`] is the whole orchestration: read how the last run ended and mark
//! this one started (the journal), open the saved state, build what the
//! task is given, connect the outside world, supervise the task, and record
//! how it ended. The process entry (`process.rs`) and the test driver
//! (`testing.rs`) both call it; they differ only in what they feed it (a
//! [`Setup`], where `Control` messages come from, and whether there is a
//! [`Host`]):
//!
//! | | process entry | test driver |
//! | --- | --- | --- |
//! | state directory | `BGAPP_STATE_DIR`, `STATE_DIRECTORY`, or the default | a temporary directory, or the test's |
//! | `sd_notify` | to systemd when `NOTIFY_SOCKET` is set | recorded in memory |
//! | activation, passed sockets | from the environment | the test's choice, none |
//! | watchdog interval | `WATCHDOG_USEC` (systemd and `cargo bgapp run` set it from the manifest) | the manifest's, as those supervisors would |
//! | `Control` messages | SIGTERM and SIGINT, and the system (control channel or system bus) | the test's `TestHandle` |
//!
//! [`supervise`] is the loop of one run: start the task function, deliver
//! stop requests with their deadline, wait for deferrals, enforce the time
//! limit and the deadline, ping the watchdog while the task is alive, and
//! decide how the run ended.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bgapp_manifest::{exit, Readiness, TaskManifest};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::activation::{Activation, PassedFds};
use crate::execution::{ExecutionState, ExitReason, Journal, PreviousExecution};
use crate::instance::{LifecycleEvent, Shared};
use crate::notify::Notifier;
use crate::outcome::Returned;
use crate::state::StateStore;
use crate::system::{Signals, System};
use crate::{Cancellation, CancellationReason, FetchResult, TaskInstance};

/// A boxed task future, as the macro's entry builds it.
pub type TaskFuture = Pin<Box<dyn Future<Output = Returned>>>;

/// Starts the task function: the macro's entry, or a test's closure.
pub(crate) type TaskFn<'a> = Box<dyn FnOnce(TaskInstance) -> TaskFuture + 'a>;

/// Events delivered to a running task from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Stop with a reason; the deadline is `stop_timeout` unless given.
    Stop(CancellationReason, Option<Duration>),
    /// Ctrl-C: the first stops like an operator stop, the second ends now.
    Interrupt,
    /// The system is about to sleep.
    Sleep(Instant),
    /// The system woke up.
    Resume,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub exit: ExitReason,
    pub code: u8,
}

/// What one run is given; see the module docs for who gives what.
pub(crate) struct Setup {
    pub manifest: TaskManifest,
    /// Where the run record and the saved state live.
    pub state_dir: PathBuf,
    pub notifier: Notifier,
    pub activation: Activation,
    pub fds: PassedFds,
    /// The binary's name, then the task's arguments.
    pub argv: Vec<String>,
    /// The watchdog interval the supervisor enforces, if any.
    pub watchdog: Option<Duration>,
}

/// The process's link to the world beside the `Control` channel: its stop
/// signals and the system (the control channel or the system bus), which
/// both send on `tx`. The test driver has none: its handle sends the
/// `Control` messages itself.
pub(crate) struct Host<'a> {
    pub signals: Signals,
    pub system: &'a mut System,
    pub tx: mpsc::UnboundedSender<Control>,
}

/// How a run went.
pub(crate) struct Finished {
    pub ended: Ended,
    /// The previous execution state the run was started with.
    pub previous: ExecutionState,
    pub store: StateStore,
}

/// Runs the task once, to its recorded end. A state directory that cannot
/// be used costs the run its record and its saved state, with a warning;
/// the task runs all the same.
///
/// Boxed, so that the state machine's poll and drop exist once in the
/// binary, behind the vtable, rather than once per code unit that holds it.
pub(crate) fn run<'a>(
    setup: Setup,
    task: TaskFn<'a>,
    control: mpsc::UnboundedReceiver<Control>,
    host: Option<Host<'a>>,
) -> Pin<Box<dyn Future<Output = Finished> + 'a>> {
    Box::pin(run_boxed(setup, task, control, host))
}

async fn run_boxed(
    setup: Setup,
    task: TaskFn<'_>,
    control: mpsc::UnboundedReceiver<Control>,
    host: Option<Host<'_>>,
) -> Finished {
    let Setup {
        manifest,
        state_dir: dir,
        notifier,
        activation,
        fds,
        argv,
        watchdog,
    } = setup;
    let name = manifest.name.clone();
    let (journal, previous) = match std::fs::create_dir_all(&dir)
        .and_then(|()| Journal::open(&dir, &name))
    {
        Ok((j, p)) => (Some(j), p),
        Err(e) => {
            tracing::warn!(
                "cannot record task `{name}`'s runs in `{}`: {e}; its previous execution state and saved state are unavailable",
                dir.display()
            );
            (None, PreviousExecution::not_running())
        }
    };
    let (run, trusted) = journal
        .as_ref()
        .map(|j| (j.record.run, j.record.trusted_writer))
        .unwrap_or((0, None));
    let store = StateStore::new(&dir, &name, run, trusted);
    let previous_state = previous.state();
    // A crash loop: the task is not run, and not watched over either.
    // Not an early return: one exit path keeps one copy of the drop code.
    let refused = crash_loop(&manifest, &activation, &previous);
    let refused_run = refused.is_some();
    let host = host.filter(|_| refused.is_none());
    let shared = Shared::new(
        manifest,
        notifier,
        activation,
        previous,
        store.clone(),
        fds,
        argv,
    );
    // Shutdown, sleep and wake, from the control channel or the system
    // bus, then SIGTERM and SIGINT. Signals are forwarded on this thread,
    // beside the task, rather than from a spawned task: nothing runs on the
    // worker threads unless the task puts it there, which keeps an idle app
    // as small as plain tokio. One `select!` for both kinds of run keeps
    // one copy of the supervision loop in the binary.
    let host = host.map(|h| {
        h.system.watch(h.tx.clone(), &shared);
        (h.signals, &*h.system, h.tx)
    });
    let outside = async move {
        match host {
            Some((signals, system, tx)) => signals.forward(tx, system).await,
            None => std::future::pending().await,
        }
    };
    let mut journal = journal;
    // The run's start is written once the run is one: after the first poll
    // of the task's function, unless that poll ended it with a `Usage`.
    let mut start = || {
        if let Some(Err(e)) = journal.as_mut().map(Journal::start) {
            tracing::warn!("cannot record the start of task `{name}`: {e}");
        }
    };
    let ended = match refused {
        Some(ended) => ended,
        None => tokio::select! {
            ended = supervise(task, shared, control, watchdog, &mut start) => ended,
            never = outside => match never {},
        },
    };
    if let Some(mut journal) = journal {
        let (exit, code) = (ended.exit.clone(), ended.code);
        let recorded = match (&exit, refused_run) {
            (ExitReason::Usage { .. }, _) => journal.discard(),
            (_, true) => journal.refused(exit, code),
            (_, false) => journal.end(exit, code, store.saved_this_run()),
        };
        if let Err(e) = recorded {
            tracing::warn!("cannot record how task `{name}` ended: {e}");
        }
    }
    if !matches!(ended.exit, ExitReason::Usage { .. }) {
        tracing::info!(
            "task `{name}` exited with status {} ({})",
            ended.code,
            exit::describe(ended.code.into())
        );
    }
    Finished {
        ended,
        previous: previous_state,
        store,
    }
}

/// The end of a run refused because the task is in a crash loop (see
/// [`crate::execution::in_crash_loop`]), logged; `None` to run it.
#[inline(never)]
fn crash_loop(
    manifest: &TaskManifest,
    activation: &Activation,
    previous: &PreviousExecution,
) -> Option<Ended> {
    let now = crate::execution::now_secs();
    if !crate::execution::in_crash_loop(&manifest.trigger, activation, previous, now) {
        return None;
    }
    let message = format!(
        "task `{}` crashed {} times in a row (crash loop): not running it; find the cause in the journal, then `systemctl reset-failed <unit>` and start it by hand",
        manifest.name, previous.consecutive_crashes
    );
    tracing::error!("{message}");
    Some(Ended {
        exit: ExitReason::FailedPermanently { message },
        code: exit::PERMANENT_FAILURE,
    })
}

/// Runs the task to its end. `start` records the run's start.
///
/// The task's function is polled once before the run counts as started:
/// a function that ends in that first poll (before its first `.await` that
/// waits) with a [`crate::Usage`] (its help, its version, a bad argument)
/// was not a run, and leaves no "started" line, no `READY=1` and no run
/// record. Any other function is started: the record is written, the line
/// logged, and `READY=1` sent (or, with `ready = "explicit"`, when the
/// task calls `ready()`).
async fn supervise(
    run: TaskFn<'_>,
    shared: Arc<Shared>,
    mut control: mpsc::UnboundedReceiver<Control>,
    watchdog: Option<Duration>,
    start: &mut dyn FnMut(),
) -> Ended {
    let manifest = &shared.manifest;
    let name = manifest.name.clone();
    let stop_timeout = manifest.stop_timeout();
    let explicit = manifest.ready == Readiness::Explicit;

    let instance = TaskInstance {
        shared: shared.clone(),
    };
    let mut task = CatchUnwind(run(instance));
    let mut first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut task).poll(cx))).await;
    if let Poll::Ready(Returned::Usage { text, code }) = first {
        return usage(text, code);
    }
    start();
    tracing::info!(
        "task `{name}` started (activation: {}, previous execution: {}{})",
        shared.activation.kind(),
        shared.previous.state(),
        match shared.previous.consecutive_crashes() {
            0 => String::new(),
            n => format!(", {n} consecutive crash{}", if n == 1 { "" } else { "es" }),
        }
    );
    let mut ready = shared.ready.subscribe();
    let mut said_ready = false;
    // The task's own `STATUS=`, if its first poll set one, stays.
    let engine = crate::engine::Engine::from_env();
    engine.ready(&name, false);
    let say_ready = |shared: &Shared| {
        engine.ready(&shared.manifest.name, true);
        let status = format!("running ({})", shared.activation.kind());
        let own = shared.status_set.load(std::sync::atomic::Ordering::Relaxed);
        shared.notifier.ready((!own).then_some(status.as_str()));
    };
    if !explicit || *ready.borrow_and_update() == 1 {
        said_ready = true;
        say_ready(&shared);
    } else if !shared.status_set.load(std::sync::atomic::Ordering::Relaxed) {
        shared.notifier.status("starting");
    }

    let mut returned = false;
    let mut deferrals = shared.deferrals.subscribe();
    let mut deadline: Option<Instant> = None;
    let mut interrupted = false;
    let time_limit_at = manifest.time_limit().map(|d| Instant::now() + d);
    let mut watchdog = watchdog.map(|w| Watchdog::new(w, &shared));
    let mut control_open = true;

    let cancel =
        |reason: CancellationReason, timeout: Option<Duration>, deadline: &mut Option<Instant>| {
            if deadline.is_some() {
                return;
            }
            let at = Instant::now() + timeout.unwrap_or(stop_timeout);
            *deadline = Some(at);
            tracing::info!(
                "task `{name}` stopping ({reason}); it has {} to finish",
                bgapp_manifest::format_duration(timeout.unwrap_or(stop_timeout))
            );
            shared.notifier.stopping(&format!("stopping ({reason})"));
            shared
                .cancel
                .send_replace(Some(Cancellation::new(reason, at)));
        };

    loop {
        tokio::select! {
            biased;
            result = async { match std::mem::replace(&mut first, Poll::Pending) {
                Poll::Ready(r) => r,
                Poll::Pending => (&mut task).await,
            } }, if !returned => {
                returned = true;
                // With explicit readiness, a function that ends before it
                // said it was ready failed its start, unless it was asked
                // to stop first or failed in its own way.
                let result = match result {
                    Returned::Ok if explicit && !said_ready && deadline.is_none() => Returned::Err {
                        message: "it ended before it said it was ready (`ready = \"explicit\"` waits for `task.ready()`)".into(),
                        permanent: false,
                    },
                    r => r,
                };
                match result {
                    Returned::Usage { text, code } => return usage(text, code),
                    Returned::Ok => {
                        if *deferrals.borrow_and_update() == 0 {
                            return finished(&shared);
                        }
                        tracing::debug!("task `{name}` returned; waiting for its deferrals");
                    }
                    Returned::Err { message, permanent: true } => {
                        tracing::error!("task `{name}` failed permanently: {message}");
                        return Ended { exit: ExitReason::FailedPermanently { message }, code: exit::PERMANENT_FAILURE };
                    }
                    Returned::Err { message, permanent: false } => {
                        tracing::error!("task `{name}` failed: {message}");
                        return Ended { exit: ExitReason::Failed { message }, code: exit::FAILURE };
                    }
                    Returned::Panicked(message) => {
                        tracing::error!("task `{name}` panicked: {message}");
                        return Ended { exit: ExitReason::Panicked { message }, code: exit::FAILURE };
                    }
                }
            }
            Ok(()) = ready.changed(), if !said_ready => {
                if *ready.borrow_and_update() == 1 {
                    said_ready = true;
                    say_ready(&shared);
                    if let Some(w) = watchdog.as_mut() {
                        // systemd's watchdog counts from READY=1.
                        w.last_ping = Instant::now();
                    }
                }
            }
            Ok(()) = deferrals.changed(), if returned => {
                if *deferrals.borrow_and_update() == 0 {
                    return finished(&shared);
                }
            }
            message = control.recv(), if control_open => match message {
                None => control_open = false,
                Some(Control::Stop(reason, timeout)) => cancel(reason, timeout, &mut deadline),
                Some(Control::Interrupt) if interrupted => {
                    tracing::warn!("task `{name}` interrupted twice; exiting now");
                    return Ended { exit: ExitReason::Interrupted, code: exit::INTERRUPTED };
                }
                Some(Control::Interrupt) => {
                    interrupted = true;
                    cancel(CancellationReason::StopRequested, None, &mut deadline);
                }
                Some(Control::Sleep(at)) => {
                    tracing::info!("task `{name}` suspending: the system is about to sleep");
                    let _ = shared.events.send(LifecycleEvent::Suspending { deadline: at });
                }
                Some(Control::Resume) => {
                    tracing::info!("task `{name}` resuming: the system woke up");
                    let _ = shared.events.send(LifecycleEvent::Resuming);
                }
            },
            () = sleep_opt(deadline) => {
                let reason = shared.cancel.borrow().map(|c| c.reason()).unwrap_or(CancellationReason::StopRequested);
                let held = *deferrals.borrow();
                tracing::error!(
                    "task `{name}` missed its stop deadline ({reason}): {}; abandoning it",
                    if returned { format!("{held} deferral(s) still held") } else { "its function had not returned".to_string() }
                );
                return Ended { exit: ExitReason::DeadlineMissed { reason }, code: exit::DEADLINE_MISSED };
            }
            () = sleep_opt(time_limit_at.filter(|_| deadline.is_none())) => {
                cancel(CancellationReason::TimeLimit, None, &mut deadline);
            }
            kill_at = tick_opt(&mut watchdog, deadline.is_some()) => {
                if let Some(kill_at) = kill_at {
                    // The deadline is systemd's: end (saved, or exit 3)
                    // before its watchdog would kill the process.
                    let left = kill_at.saturating_duration_since(Instant::now());
                    cancel(CancellationReason::Watchdog, Some(left.min(stop_timeout)), &mut deadline);
                }
            }
        }
    }
}

/// A run that was not one: print what the task answered, exit with `code`.
fn usage(text: String, code: u8) -> Ended {
    use std::io::Write as _;
    let _ = match code {
        0 => std::io::stdout().lock().write_all(text.as_bytes()),
        _ => std::io::stderr().lock().write_all(text.as_bytes()),
    };
    Ended {
        exit: ExitReason::Usage { code },
        code,
    }
}

fn finished(shared: &Shared) -> Ended {
    let name = &shared.manifest.name;
    if let Some(c) = *shared.cancel.borrow() {
        tracing::info!("task `{name}` stopped ({}) in time", c.reason());
        return Ended {
            exit: ExitReason::Stopped { reason: c.reason() },
            code: if c.reason().is_failure() {
                exit::FAILURE
            } else {
                exit::SUCCESS
            },
        };
    }
    if let Some(result) = *shared.report.lock().unwrap() {
        let code = match result {
            FetchResult::NewData => exit::SUCCESS,
            FetchResult::NoData => crate::engine::Engine::from_env().no_data_exit(),
            FetchResult::Failed => exit::FAILURE,
        };
        tracing::info!("task `{name}` finished: {result}");
        return Ended {
            exit: ExitReason::Fetched { result },
            code,
        };
    }
    tracing::info!("task `{name}` finished");
    Ended {
        exit: ExitReason::Finished,
        code: exit::SUCCESS,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Pings systemd's watchdog at half its interval while the task is alive.
struct Watchdog {
    interval: Duration,
    ticker: tokio::time::Interval,
    heartbeat: tokio::sync::watch::Receiver<Instant>,
    shared: Arc<Shared>,
    last_ping: Instant,
    stalled: bool,
}

/// How long before systemd's watchdog would fire the runtime ends a
/// stalled task's run, so that the run's end is recorded by the runtime
/// (exit status 1 or 3) rather than by a SIGABRT.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(200);

impl Watchdog {
    fn new(interval: Duration, shared: &Arc<Shared>) -> Self {
        let mut ticker = tokio::time::interval(interval / 2);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Watchdog {
            interval,
            ticker,
            heartbeat: shared.heartbeat.subscribe(),
            shared: shared.clone(),
            // systemd's watchdog starts counting at READY=1, sent just
            // before the task starts.
            last_ping: Instant::now(),
            stalled: false,
        }
    }

    /// Waits for the next tick and pings if the task is alive. When it
    /// first finds the task stalled, returns the deadline before which the
    /// run must end: a little before systemd's watchdog fires, an interval
    /// after the last ping.
    ///
    /// While the task is `stopping` for another reason it is not expected
    /// to beat: it is saving, against a deadline this runtime enforces, so
    /// the runtime vouches for it and keeps pinging (a stop it started
    /// itself, such as the time limit, leaves systemd's watchdog armed).
    /// If the runtime's own thread is blocked, the pings stop all the same.
    async fn tick(&mut self, stopping: bool) -> Option<Instant> {
        self.ticker.tick().await;
        if self.stalled {
            return None;
        }
        let now = Instant::now();
        if stopping {
            self.shared.notifier.watchdog();
            self.last_ping = now;
            return None;
        }
        let check = self.shared.health.lock().unwrap().as_ref().map(|c| c());
        let alive = match check {
            Some(ok) => ok,
            None => now.duration_since(*self.heartbeat.borrow()) < self.interval,
        };
        if alive {
            self.shared.notifier.watchdog();
            crate::engine::Engine::from_env().beat(&self.shared.manifest.name);
            self.last_ping = now;
            return None;
        }
        self.stalled = true;
        tracing::warn!(
            "task `{}` sent no heartbeat for {}; not pinging the watchdog",
            self.shared.manifest.name,
            bgapp_manifest::format_duration(self.interval)
        );
        let margin = WATCHDOG_MARGIN.min(self.interval / 10);
        Some(self.last_ping + self.interval - margin)
    }
}

async fn tick_opt(w: &mut Option<Watchdog>, stopping: bool) -> Option<Instant> {
    match w {
        Some(w) => w.tick(stopping).await,
        None => std::future::pending().await,
    }
}

/// Turns a panic in the task future into `Returned::Panicked`.
struct CatchUnwind(TaskFuture);

impl Future for CatchUnwind {
    type Output = Returned;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Returned> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(p) => p,
            Err(payload) => Poll::Ready(Returned::Panicked(panic_message(&*payload))),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
