//! The local supervisor of `cargo bgapp run`: it runs an app's tasks with
//! the semantics of the units `cargo bgapp package` generates
//! (`package/units.rs`), so what works here works on a device.
//!
//! | unit setting | here |
//! | --- | --- |
//! | `Restart=`, `RestartSec=` | the task's `restart`; a restart after [`RESTART_DELAY`] |
//! | `RestartPreventExitStatus=2 4`, `SuccessExitStatus=5` | [`policy::after_exit`], from `bgapp_manifest::exit` |
//! | `StartLimitIntervalSec=`, `StartLimitBurst=` | [`policy::StartLimit`]; a task over the limit stays failed until `cargo bgapp trigger` starts it |
//! | `TimeoutStopSec=` (stop timeout + margin) | SIGTERM, then SIGKILL to the process group |
//! | `RuntimeMaxSec=` | SIGTERM after time limit + stop timeout + margin |
//! | `WatchdogSec=` | `WATCHDOG_USEC`; no `WATCHDOG=1` for a whole interval: SIGABRT, a failure |
//! | `Type=notify` | a `NOTIFY_SOCKET` per task: `READY=1`, `STATUS=`, `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=` |
//! | `StateDirectory=` | `BGAPP_STATE_DIR=<target-dir>/bgapp/state/<package>`, kept across runs |
//! | `.timer` | [`schedule`], with `TRIGGER_UNIT`, `TRIGGER_TIMER_REALTIME_USEC` |
//! | `.socket` (`Accept=no`) | [`sockets`]: bound here, passed as fd 3 with `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES` |
//! | `.path` | [`paths`], with `TRIGGER_UNIT`, `TRIGGER_PATH` |
//! | `KillMode=control-group` | each task leads its own process group; what is left of it dies with it |
//!
//! Each task process also gets one end of a socket pair as
//! `BGAPP_CONTROL_FD`, for the lifecycle events a signal cannot carry
//! (`stop <reason>`, `sleep <deadline_ms>`, `resume`), which `cargo bgapp
//! trigger` delivers through [`control`].
//!
//! Everything runs on one thread that sleeps in `poll(2)` on a wake-up pipe
//! (signals, process exits, notify messages, trigger requests: see
//! [`wake`]), the inotify descriptor and the idle listening sockets, with
//! the nearest deadline as its timeout. Other threads only read (a task's
//! output, a socket) and post events.

mod control;
mod logs;
mod notify;
mod paths;
mod policy;
mod process;
mod schedule;
mod sockets;
mod wake;

use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bgapp_manifest::{format_duration, PathCondition, Restart, TaskManifest, Trigger};

use crate::shell::Shell;
use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::policy::{
    start_limit_burst, watched_dir, RESTART_DELAY, START_LIMIT_INTERVAL, STOP_MARGIN,
};
use bgapp_manifest::{env as contract_env, unit_stem, CancellationReason, Schedule as Every};
pub use control::{lock, run_dir, send, Reply, Request, RunLock};
use logs::Prefix;
use policy::{Decision, Ending, StartLimit};
use schedule::Schedule;

/// What the loop's helper threads (and the signal handler) report.
pub enum Event {
    Exited {
        task: usize,
        pid: u32,
        status: ExitStatus,
    },
    Notify {
        task: usize,
        text: String,
    },
    Request {
        request: Request,
        reply: UnixStream,
    },
}

/// One task to run and the binary that holds it.
pub struct TaskSpec {
    pub manifest: TaskManifest,
    pub bin: PathBuf,
}

pub struct Config<'a> {
    pub package: String,
    pub tasks: Vec<TaskSpec>,
    /// Passed after the task name (`cargo bgapp run -- ARGS`).
    pub args: Vec<OsString>,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    /// Held for as long as the supervisor runs.
    pub lock: RunLock,
    pub shell: &'a Shell,
}

/// Why a task is started; decides the `TRIGGER_*` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Boot,
    Timer,
    Socket,
    Path,
    /// `cargo bgapp trigger` of a boot or manual task.
    Manual,
    Restart,
}

struct Stopping {
    kill_at: Instant,
    killed: bool,
    /// An operator (or Ctrl-C) asked: never restarted.
    requested: bool,
}

struct Running {
    pid: u32,
    started: Instant,
    control: UnixStream,
    stopping: Option<Stopping>,
    /// Set when the supervisor itself ended the run as a failure.
    failure: Option<&'static str>,
    runtime_max: Option<Instant>,
    watchdog: Option<Instant>,
    /// `cargo bgapp trigger --stop` clients waiting for the end.
    waiting: Vec<UnixStream>,
}

enum State {
    Idle,
    Running(Running),
    RestartAt(Instant),
    /// Over the start limit.
    Failed,
}

struct Task {
    manifest: TaskManifest,
    bin: PathBuf,
    /// The unit name stem, as the package names the units.
    unit: String,
    prefix: Prefix,
    notify: PathBuf,
    state: State,
    limit: StartLimit,
    last_start: Option<Instant>,
    schedule: Option<Schedule>,
    next_fire: Option<Instant>,
    listener: Option<OwnedFd>,
    path: Option<(PathCondition, PathBuf)>,
}

impl Task {
    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn stop_deadline(&self, now: Instant) -> Instant {
        now + self.manifest.stop_timeout() + STOP_MARGIN
    }
}

struct Supervisor<'a> {
    shell: &'a Shell,
    tasks: Vec<Task>,
    args: Vec<OsString>,
    state_dir: PathBuf,
    waker: wake::Waker,
    watcher: Option<paths::Watcher>,
    shutting_down: bool,
    /// Tasks that did not end cleanly after the stop of Ctrl-C.
    unclean: usize,
}

pub fn supervise(config: Config<'_>) -> anyhow::Result<ExitCode> {
    let shell = config.shell;
    let (waker, wakeup) = wake::channel().context("failed to create a pipe")?;
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("failed to create `{}`", config.state_dir.display()))?;
    let socket = control::serve(&config.run_dir, waker.clone())?;

    let mut watcher = None;
    let mut tasks = Vec::new();
    for (index, spec) in config.tasks.into_iter().enumerate() {
        let m = spec.manifest;
        let notify = notify::listen(&config.run_dir, &m.name, index, waker.clone())?;
        let mut task = Task {
            unit: unit_stem(&config.package, &m.name),
            prefix: Prefix::new(&m.name, index, shell),
            bin: spec.bin,
            notify,
            state: State::Idle,
            limit: StartLimit::new(START_LIMIT_INTERVAL, start_limit_burst(&m)),
            last_start: None,
            schedule: None,
            next_fire: None,
            listener: None,
            path: None,
            manifest: m,
        };
        match &task.manifest.trigger {
            Trigger::Timer { schedule } => {
                let schedule = match schedule {
                    Every::Every(every) => Schedule::Every(*every),
                    Every::Calendar(cal) => Schedule::Calendar(
                        bgapp_manifest::Calendar::parse(cal)
                            .map_err(|e| anyhow::anyhow!("invalid calendar `{cal}`: {e}"))?,
                    ),
                };
                if let Some(note) = schedule.timezone_note() {
                    shell.note(format_args!("task `{}`: {note}", task.name()));
                }
                task.schedule = Some(schedule);
            }
            Trigger::Socket { listen } => {
                task.listener = Some(
                    sockets::bind(listen)
                        .with_context(|| format!("task `{}` cannot be started", task.name()))?,
                );
            }
            Trigger::Path { condition, path } => {
                // The package creates this directory; so do we, where we may.
                if let Some(dir) = watched_dir(*condition, path) {
                    if std::fs::create_dir_all(&dir).is_err() {
                        shell.warn(format_args!(
                            "task `{}` watches `{path}`, but `{dir}` cannot be created; it fires once the path appears",
                            task.name()
                        ));
                    }
                }
                let w = match &mut watcher {
                    Some(w) => w,
                    None => {
                        watcher.insert(paths::Watcher::new().context("failed to start inotify")?)
                    }
                };
                w.add(index, *condition, Path::new(path));
                task.path = Some((*condition, PathBuf::from(path)));
            }
            Trigger::Boot | Trigger::Manual => {}
        }
        tasks.push(task);
    }

    wake::catch_signals(&waker).context("failed to catch SIGINT")?;
    // Printed once every socket is bound and Ctrl-C is caught, so `cargo bgapp trigger` and
    // clients may connect from here on.
    let listing: Vec<String> = tasks
        .iter()
        .map(|t| format!("{} ({})", t.manifest.name, t.manifest.trigger.kind()))
        .collect();
    shell.status(
        "Running",
        format_args!("{}: {}", config.package, listing.join(", ")),
    );
    let mut sup = Supervisor {
        shell,
        tasks,
        args: config.args,
        state_dir: config.state_dir,
        waker: waker.clone(),
        watcher,
        shutting_down: false,
        unclean: 0,
    };
    shell.verbose("State", sup.state_dir.display());
    shell.verbose(
        "Listening",
        format_args!("for `cargo bgapp trigger` on `{}`", socket.display()),
    );
    let code = sup.run(&wakeup);
    let _ = std::fs::remove_file(&socket);
    drop(config.lock);
    Ok(code)
}

impl Supervisor<'_> {
    fn run(&mut self, wakeup: &wake::Wakeup) -> ExitCode {
        let now = Instant::now();
        for i in 0..self.tasks.len() {
            let t = &mut self.tasks[i];
            match &t.manifest.trigger {
                Trigger::Boot => {
                    self.start(i, Why::Boot);
                }
                Trigger::Timer { .. } => {
                    t.next_fire = t.schedule.as_ref().and_then(|s| s.next(now, None));
                    if let Some(at) = t.next_fire {
                        self.shell.verbose(
                            "Scheduled",
                            format_args!("{} in {}", t.manifest.name, format_duration(at - now)),
                        );
                    }
                }
                Trigger::Path { .. } => self.check_path(i),
                Trigger::Socket { .. } | Trigger::Manual => {}
            }
        }
        loop {
            if self.shutting_down && !self.any_running() {
                break;
            }
            let now = Instant::now();
            self.on_deadlines(now);
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));

            let mut fds = vec![pollfd(wakeup.read.as_raw_fd())];
            let inotify = self.watcher.as_ref().map(|w| {
                fds.push(pollfd(w.raw_fd()));
                fds.len() - 1
            });
            let mut listening = Vec::new();
            if !self.shutting_down {
                for (i, t) in self.tasks.iter().enumerate() {
                    if let (Some(l), State::Idle) = (&t.listener, &t.state) {
                        fds.push(pollfd(l.as_raw_fd()));
                        listening.push((fds.len() - 1, i));
                    }
                }
            }
            let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32 + 1);
            // SAFETY: `fds` is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n <= 0 {
                continue;
            }
            if fds[0].revents != 0 {
                for signal in wakeup.drain_signals() {
                    if let Some(code) = self.on_signal(signal) {
                        return code;
                    }
                }
                while let Ok(event) = wakeup.rx.try_recv() {
                    self.on_event(event);
                }
            }
            if let Some(k) = inotify {
                if fds[k].revents != 0 {
                    self.on_path_events();
                }
            }
            for (k, i) in listening {
                if fds[k].revents != 0 && matches!(self.tasks[i].state, State::Idle) {
                    self.start(i, Why::Socket);
                }
            }
        }
        if self.unclean == 0 {
            self.shell.status("Finished", "every task stopped");
            ExitCode::SUCCESS
        } else {
            self.shell.warn(format_args!(
                "{} task(s) did not stop cleanly",
                self.unclean
            ));
            ExitCode::FAILURE
        }
    }

    fn any_running(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| matches!(t.state, State::Running(_)))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in &self.tasks {
            match &t.state {
                State::Running(r) => {
                    consider(r.stopping.as_ref().filter(|s| !s.killed).map(|s| s.kill_at));
                    if r.stopping.is_none() {
                        consider(r.runtime_max);
                        consider(r.watchdog);
                    }
                }
                State::RestartAt(at) => consider(Some(*at)),
                State::Idle | State::Failed => {}
            }
            if !self.shutting_down && !matches!(t.state, State::Failed) {
                consider(t.next_fire);
            }
        }
        next
    }

    fn on_deadlines(&mut self, now: Instant) {
        for i in 0..self.tasks.len() {
            let t = &mut self.tasks[i];
            let name = t.manifest.name.clone();
            let stop_deadline = t.stop_deadline(now);
            let stop_total = t.manifest.stop_timeout() + STOP_MARGIN;
            let watchdog = t.manifest.watchdog().unwrap_or_default();
            match &mut t.state {
                State::RestartAt(at) if *at <= now => {
                    t.state = State::Idle;
                    self.start(i, Why::Restart);
                }
                State::Running(r) => {
                    if let Some(s) = &mut r.stopping {
                        if !s.killed && s.kill_at <= now {
                            s.killed = true;
                            r.failure.get_or_insert("it did not stop in time");
                            self.shell.warn(format_args!(
                                "task `{name}` did not exit within {} of its stop; killing it (SIGKILL)",
                                format_duration(stop_total)
                            ));
                            process::kill_group(r.pid, libc::SIGKILL);
                        }
                    } else if r.runtime_max.is_some_and(|at| at <= now) {
                        self.shell.warn(format_args!(
                            "task `{name}` ran longer than its time limit and stop timeout; stopping it (SIGTERM)"
                        ));
                        r.failure = Some("it ran too long");
                        r.stopping = Some(Stopping {
                            kill_at: stop_deadline,
                            killed: false,
                            requested: false,
                        });
                        process::kill_group(r.pid, libc::SIGTERM);
                    } else if r.watchdog.is_some_and(|at| at <= now) {
                        self.shell.warn(format_args!(
                            "task `{name}` watchdog timeout: no `WATCHDOG=1` for {}; aborting it (SIGABRT)",
                            format_duration(watchdog)
                        ));
                        r.failure = Some("watchdog timeout");
                        r.stopping = Some(Stopping {
                            kill_at: stop_deadline,
                            killed: false,
                            requested: false,
                        });
                        process::kill_main(r.pid, libc::SIGABRT);
                    }
                }
                _ => {}
            }
            let t = &mut self.tasks[i];
            if t.next_fire.is_some_and(|at| at <= now) && !self.shutting_down {
                let fire = matches!(t.state, State::Idle | State::RestartAt(_));
                if fire {
                    self.start(i, Why::Timer);
                }
                let t = &mut self.tasks[i];
                let next = t.schedule.as_ref().and_then(|s| s.next(now, t.last_start));
                // An elapse while the task still runs is skipped, as systemd
                // merges the start into the running unit.
                t.next_fire = next.map(|n| match (&t.schedule, n <= now) {
                    (Some(Schedule::Every(every)), true) => now + *every,
                    _ => n,
                });
                if matches!(t.state, State::Failed) {
                    t.next_fire = None;
                }
            }
        }
    }

    /// Starts task `i` now, unless the start limit is hit.
    fn start(&mut self, i: usize, why: Why) -> Option<u32> {
        if self.shutting_down {
            return None;
        }
        let now = Instant::now();
        let t = &mut self.tasks[i];
        if !t.limit.try_start(now) {
            t.state = State::Failed;
            t.next_fire = None;
            self.shell.warn(format_args!(
                "task `{}` failed: start limit hit ({} starts within {}s); it is not started again\n\n\
                 help: `cargo bgapp trigger {}` starts it again",
                t.manifest.name,
                start_limit_burst(&t.manifest),
                START_LIMIT_INTERVAL.as_secs(),
                t.manifest.name
            ));
            return None;
        }
        let mut env: Vec<(String, OsString)> = vec![
            (
                contract_env::STATE_DIR.into(),
                self.state_dir.clone().into(),
            ),
            ("NOTIFY_SOCKET".into(), t.notify.clone().into()),
        ];
        let mut pid_vars = Vec::new();
        if let Some(w) = t.manifest.watchdog() {
            env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string().into()));
            pid_vars.push("WATCHDOG_PID");
        }
        if t.listener.is_some() {
            env.push(("LISTEN_FDNAMES".into(), format!("{}.socket", t.unit).into()));
            pid_vars.push("LISTEN_PID");
        }
        match why {
            Why::Timer => {
                let (real, mono) = schedule::trigger_usec();
                env.push(("TRIGGER_UNIT".into(), format!("{}.timer", t.unit).into()));
                env.push((
                    "TRIGGER_TIMER_REALTIME_USEC".into(),
                    real.to_string().into(),
                ));
                env.push((
                    "TRIGGER_TIMER_MONOTONIC_USEC".into(),
                    mono.to_string().into(),
                ));
            }
            Why::Path => {
                env.push(("TRIGGER_UNIT".into(), format!("{}.path", t.unit).into()));
                if let Some((_, p)) = &t.path {
                    env.push(("TRIGGER_PATH".into(), p.clone().into()));
                }
            }
            Why::Socket => {
                env.push(("TRIGGER_UNIT".into(), format!("{}.socket", t.unit).into()));
            }
            Why::Boot | Why::Manual | Why::Restart => {}
        }
        let (ours, theirs) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => {
                self.shell.warn(format_args!(
                    "task `{}` cannot be started: {e}",
                    t.manifest.name
                ));
                return None;
            }
        };
        let mut args = vec![OsString::from(&t.manifest.name)];
        args.extend(self.args.iter().cloned());
        let spec = process::Spec {
            program: &t.bin,
            args,
            env,
            pid_vars,
            listen: t.listener.as_ref().map(|l| l.as_raw_fd() as RawFd),
            control: theirs.as_raw_fd(),
        };
        t.last_start = Some(now);
        match process::spawn(&spec, i, t.prefix.clone(), self.waker.clone()) {
            Ok(pid) => {
                drop(theirs);
                // A task that never reads its events must not block the loop.
                let _ = ours.set_nonblocking(true);
                let how = match why {
                    Why::Boot => "boot",
                    Why::Timer => "timer",
                    Why::Socket => "socket",
                    Why::Path => "path",
                    Why::Manual => "trigger",
                    Why::Restart => "restart",
                };
                self.shell.status(
                    "Started",
                    format_args!("{} ({how}, pid {pid})", t.manifest.name),
                );
                let stop = t.manifest.stop_timeout();
                t.state = State::Running(Running {
                    pid,
                    started: now,
                    control: ours,
                    stopping: None,
                    failure: None,
                    runtime_max: t
                        .manifest
                        .time_limit()
                        .map(|l| now + l + stop + STOP_MARGIN),
                    watchdog: t.manifest.watchdog().map(|w| now + w),
                    waiting: Vec::new(),
                });
                Some(pid)
            }
            Err(e) => {
                self.shell.warn(format_args!(
                    "task `{}` cannot be started: failed to run `{}`: {e}",
                    t.manifest.name,
                    t.bin.display()
                ));
                // A start that fails is a failed run (systemd's 203/EXEC).
                if t.manifest.restart != Restart::Never {
                    t.state = State::RestartAt(now + RESTART_DELAY);
                }
                None
            }
        }
    }

    fn on_signal(&mut self, signal: i32) -> Option<ExitCode> {
        if signal == libc::SIGINT && self.shutting_down {
            for t in &self.tasks {
                if let State::Running(r) = &t.state {
                    process::kill_group(r.pid, libc::SIGKILL);
                    self.shell.status(
                        "Killed",
                        format_args!("{} (pid {}, SIGKILL)", t.manifest.name, r.pid),
                    );
                }
            }
            let _ = std::io::stderr().flush();
            return Some(ExitCode::from(bgapp_manifest::exit::INTERRUPTED));
        }
        if !self.shutting_down {
            self.shutdown();
        }
        None
    }

    /// Ctrl-C: stop every task as `systemctl stop` would.
    fn shutdown(&mut self) {
        self.shutting_down = true;
        let now = Instant::now();
        let running = self
            .tasks
            .iter()
            .filter(|t| matches!(t.state, State::Running(_)))
            .count();
        if running > 0 {
            self.shell.status(
                "Stopping",
                format_args!(
                    "{running} task{} (Ctrl-C again to kill at once)",
                    if running == 1 { "" } else { "s" }
                ),
            );
        }
        for t in &mut self.tasks {
            let deadline = t.stop_deadline(now);
            match &mut t.state {
                State::Running(r) => {
                    if r.stopping.is_none() {
                        process::kill_group(r.pid, libc::SIGTERM);
                        r.stopping = Some(Stopping {
                            kill_at: deadline,
                            killed: false,
                            requested: true,
                        });
                    } else if let Some(s) = &mut r.stopping {
                        s.requested = true;
                    }
                }
                State::RestartAt(_) => t.state = State::Idle,
                _ => {}
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Exited { task, pid, status } => self.on_exit(task, pid, status),
            Event::Notify { task, text } => self.on_notify(task, &text),
            Event::Request { request, reply } => self.on_request(request, reply),
        }
    }

    fn on_exit(&mut self, i: usize, pid: u32, status: ExitStatus) {
        let t = &mut self.tasks[i];
        let State::Running(r) = &t.state else {
            return;
        };
        if r.pid != pid {
            return;
        }
        let State::Running(run) = std::mem::replace(&mut t.state, State::Idle) else {
            unreachable!()
        };
        let ending = Ending::from_status(status);
        let requested = run.stopping.as_ref().is_some_and(|s| s.requested) || self.shutting_down;
        let ran = format!("{:.1}s", run.started.elapsed().as_secs_f64());
        let decision =
            policy::after_exit(t.manifest.restart, ending, run.failure.is_some(), requested);
        let name = t.manifest.name.clone();
        let clean = ending.is_clean() && run.failure.is_none();
        if requested {
            if !clean || ending == Ending::Code(bgapp_manifest::exit::DEADLINE_MISSED as i32) {
                self.unclean += usize::from(self.shutting_down);
            }
            self.shell
                .status("Stopped", format_args!("{name}: {ending} after {ran}"));
        } else {
            let why = run.failure.map(|f| format!(", {f}")).unwrap_or_default();
            let next = match &decision {
                Decision::Restart => format!("; restarting in {}", format_duration(RESTART_DELAY)),
                Decision::Stay(reason) if !clean || matches!(ending, Ending::Code(2 | 4)) => {
                    format!("; not restarted: {reason}")
                }
                Decision::Stay(_) => String::new(),
            };
            self.shell.status(
                "Exited",
                format_args!("{name} with {ending} after {ran}{why}{next}"),
            );
        }
        for client in run.waiting {
            Reply::ok(format!("task `{name}` stopped: {ending}")).send(client);
        }
        if self.shutting_down {
            return;
        }
        if decision == Decision::Restart {
            self.tasks[i].state = State::RestartAt(Instant::now() + RESTART_DELAY);
        } else {
            // A `.path` unit checks its condition again when its service ends.
            self.check_path(i);
        }
    }

    /// Starts an idle path task whose condition (`exists`, `not_empty`) holds.
    fn check_path(&mut self, i: usize) {
        let t = &self.tasks[i];
        if let (Some((condition, path)), State::Idle) = (&t.path, &t.state) {
            if paths::Watcher::holds(*condition, path) {
                self.start(i, Why::Path);
            }
        }
    }

    fn on_path_events(&mut self) {
        let Some(w) = &mut self.watcher else { return };
        for (i, changed) in w.read() {
            let t = &self.tasks[i];
            if !matches!(t.state, State::Idle | State::RestartAt(_)) || self.shutting_down {
                continue;
            }
            let Some((condition, path)) = &t.path else {
                continue;
            };
            let fire = match condition {
                PathCondition::Changed | PathCondition::Modified => changed,
                PathCondition::Exists | PathCondition::NotEmpty => {
                    paths::Watcher::holds(*condition, path)
                }
            };
            if fire {
                self.start(i, Why::Path);
            }
        }
    }

    fn on_notify(&mut self, i: usize, text: &str) {
        let t = &mut self.tasks[i];
        let State::Running(r) = &mut t.state else {
            return;
        };
        // The runtime's own status at start and stop says what the status
        // lines of the supervisor say already.
        let ready = text.lines().any(|l| l == "READY=1" || l == "STOPPING=1");
        for line in text.lines() {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            match key {
                "READY" if value == "1" => self.shell.verbose("Ready", &t.manifest.name),
                "STATUS" if ready => self
                    .shell
                    .verbose("Status", format_args!("{}: {value}", t.manifest.name)),
                "STATUS" => self
                    .shell
                    .status("Status", format_args!("{}: {value}", t.manifest.name)),
                "WATCHDOG" if value == "1" => {
                    r.watchdog = t.manifest.watchdog().map(|w| Instant::now() + w);
                }
                "WATCHDOG" if value == "trigger" => r.watchdog = Some(Instant::now()),
                "EXTEND_TIMEOUT_USEC" => {
                    if let (Some(s), Ok(usec)) = (&mut r.stopping, value.parse::<u64>()) {
                        s.kill_at = s.kill_at.max(Instant::now() + Duration::from_micros(usec));
                    }
                }
                _ => {}
            }
        }
    }

    fn on_request(&mut self, request: Request, reply: UnixStream) {
        let name = match &request {
            Request::Fire { task }
            | Request::Stop { task, .. }
            | Request::Sleep { task, .. }
            | Request::Resume { task } => task.clone(),
        };
        let Some(i) = self.tasks.iter().position(|t| t.manifest.name == name) else {
            let names: Vec<String> = self
                .tasks
                .iter()
                .map(|t| format!("`{}`", t.manifest.name))
                .collect();
            return Reply::error(format!(
                "no task named `{name}` in this run; it runs {}",
                names.join(", ")
            ))
            .send(reply);
        };
        if self.shutting_down {
            return Reply::error("`cargo bgapp run` is stopping").send(reply);
        }
        let answer = match request {
            Request::Fire { .. } => self.fire(i),
            Request::Stop { reason, .. } => match self.stop(i, reason) {
                Some(answer) => answer,
                None => {
                    // Answered when the task has ended.
                    if let State::Running(r) = &mut self.tasks[i].state {
                        r.waiting.push(reply);
                    }
                    return;
                }
            },
            Request::Sleep { deadline_ms, .. } => self.deliver(
                i,
                ControlMessage::Sleep {
                    deadline: Duration::from_millis(deadline_ms),
                },
            ),
            Request::Resume { .. } => self.deliver(i, ControlMessage::Resume),
        };
        answer.send(reply);
    }

    fn fire(&mut self, i: usize) -> Reply {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        if let State::Running(r) = &t.state {
            return Reply::ok(format!("task `{name}` is already running (pid {})", r.pid));
        }
        if matches!(t.state, State::Failed) {
            // As `systemctl reset-failed` then `start`.
            t.limit.reset();
            t.state = State::Idle;
        }
        let why = match t.manifest.trigger {
            Trigger::Timer { .. } => Why::Timer,
            Trigger::Socket { .. } => Why::Socket,
            Trigger::Path { .. } => Why::Path,
            Trigger::Boot | Trigger::Manual => Why::Manual,
        };
        t.state = State::Idle;
        match self.start(i, why) {
            Some(pid) => {
                let t = &mut self.tasks[i];
                if let (Some(s), Some(last)) = (&t.schedule, t.last_start) {
                    t.next_fire = s.next(Instant::now(), Some(last));
                }
                Reply::ok(format!("started task `{name}` (pid {pid})"))
            }
            None => Reply::error(format!(
                "task `{name}` could not be started; see the output of `cargo bgapp run`"
            )),
        }
    }

    /// `None` when the reply is kept until the task ends.
    fn stop(&mut self, i: usize, reason: Option<CancellationReason>) -> Option<Reply> {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        let deadline = t.stop_deadline(Instant::now());
        match &mut t.state {
            State::Running(r) => {
                if r.stopping.as_ref().is_some_and(|s| s.requested) {
                    return None;
                }
                let message = reason.map(|reason| ControlMessage::Stop {
                    reason,
                    deadline: None,
                });
                match &message {
                    None => process::kill_group(r.pid, libc::SIGTERM),
                    Some(message) => {
                        if let Err(e) = (&r.control).write_all(format!("{message}\n").as_bytes()) {
                            return Some(Reply::error(format!(
                                "cannot deliver `{message}` to task `{name}`: {e}"
                            )));
                        }
                    }
                }
                self.shell.status(
                    "Stopping",
                    format_args!(
                        "{name} ({})",
                        message.map_or("SIGTERM".to_string(), |m| m.to_string())
                    ),
                );
                // A stop already under way keeps its deadline (and a kill
                // already sent stays sent): asking again never postpones it.
                match &mut r.stopping {
                    Some(s) => {
                        s.kill_at = s.kill_at.min(deadline);
                        s.requested = true;
                    }
                    None => {
                        r.stopping = Some(Stopping {
                            kill_at: deadline,
                            killed: false,
                            requested: true,
                        })
                    }
                }
                None
            }
            State::RestartAt(_) => {
                t.state = State::Idle;
                Some(Reply::ok(format!(
                    "task `{name}` was waiting to restart; it stays stopped"
                )))
            }
            State::Idle | State::Failed => {
                Some(Reply::error(format!("task `{name}` is not running")))
            }
        }
    }

    fn deliver(&mut self, i: usize, command: ControlMessage) -> Reply {
        let t = &self.tasks[i];
        let name = &t.manifest.name;
        let State::Running(r) = &t.state else {
            return Reply::error(format!("task `{name}` is not running"));
        };
        match (&r.control).write_all(format!("{command}\n").as_bytes()) {
            Ok(()) => {
                self.shell
                    .status("Delivered", format_args!("`{command}` to {name}"));
                Reply::ok(format!("delivered `{command}` to task `{name}`"))
            }
            Err(e) => Reply::error(format!("cannot deliver `{command}` to task `{name}`: {e}")),
        }
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}
