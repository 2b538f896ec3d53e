//! The local supervisor of `cargo bgapp run`: it runs an app's tasks with
//! the semantics of the units `cargo bgapp package` generates
//! (`package/units.rs`), so what works here works on a device.
//!
//! | unit setting | here |
//! | --- | --- |
//! | `Restart=`, `RestartSec=` | the task's `restart`; a restart after `policy::RESTART_DELAY` |
//! | `RestartPreventExitStatus=2 4`, `SuccessExitStatus=5` | [`policy::after_exit`], from `bgapp_manifest::exit` |
//! | `StartLimitIntervalSec=`, `StartLimitBurst=` | [`policy::StartLimit`]; a task over the limit stays failed until `cargo bgapp trigger` starts it |
//! | `TimeoutStopSec=` (stop timeout + margin) | SIGTERM to the task's process, then SIGKILL to its process group |
//! | `RuntimeMaxSec=` | SIGTERM after time limit + stop timeout + margin |
//! | `WatchdogSec=` | `WATCHDOG_USEC`; no `WATCHDOG=1` for a whole interval: SIGABRT, a failure |
//! | `Type=notify` | a `NOTIFY_SOCKET` per task: `READY=1`, `STATUS=`, `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=` |
//! | `StateDirectory=` | `BGAPP_STATE_DIR=<target-dir>/bgapp/state/<package>`, kept across runs |
//! | `.timer` | `core/trigger.rs` (no elapse while the run it started goes on) and [`schedule`], with `TRIGGER_UNIT`, `TRIGGER_TIMER_REALTIME_USEC` |
//! | `.socket` (`Accept=no`) | [`sockets`]: bound here, passed as fd 3 with `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES` |
//! | `.path` | [`paths`], with `TRIGGER_UNIT`, `TRIGGER_PATH` |
//! | `KillMode=mixed` | each task leads its own process group; a stop signals the task's process only, and what is left of the group is killed (SIGKILL) when it exits or at the stop deadline |
//!
//! Each task process also gets one end of a socket pair as
//! `BGAPP_CONTROL_FD`, for the lifecycle events a signal cannot carry
//! (`stop <reason>`, `sleep <deadline_ms>`, `resume`), which `cargo bgapp
//! trigger` delivers through [`control`].
//!
//! Every decision is made by [`core`], a state machine without I/O that is
//! fed events with their time and answers with actions. This module does
//! the I/O: one thread sleeps in `poll(2)` on a wake-up pipe (signals,
//! process exits, notify messages, trigger requests: see [`wake`]), the
//! inotify descriptor and the idle listening sockets, with the core's next
//! deadline as its timeout, feeds the core what happened and performs what
//! it answers. Other threads only read (a task's output, a socket) and post
//! events.

mod control;
mod core;
mod logs;
mod notify;
mod paths;
mod policy;
mod process;
mod schedule;
mod sockets;
mod wake;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::policy::watched_dir;
use bgapp_manifest::{env as contract_env, unit_stem, TaskManifest, Trigger};

use crate::shell::Shell;
pub use control::{lock, run_dir, send, Reply, Request, RunLock};
use core::{Action, ClientId, Core, Input, Line, Now, Why};
use logs::Prefix;
use policy::Ending;

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

/// What the loop holds for one task: what it needs to start its process,
/// and the process's end of the control socket.
struct Host {
    manifest: TaskManifest,
    bin: PathBuf,
    /// The unit name stem, as the package names the units.
    unit: String,
    prefix: Prefix,
    notify: PathBuf,
    listener: Option<OwnedFd>,
    control: Option<UnixStream>,
}

/// The loop: it feeds the core and performs its actions.
struct Driver<'a> {
    shell: &'a Shell,
    core: Core,
    hosts: Vec<Host>,
    args: Vec<OsString>,
    state_dir: PathBuf,
    waker: wake::Waker,
    watcher: Option<paths::Watcher>,
    clients: HashMap<ClientId, UnixStream>,
    next_client: u64,
    /// When the core wants to be woken.
    wake: Option<Instant>,
}

/// What performing an action led to.
enum Outcome {
    Done,
    /// Its outcome, for the core at once.
    Answer(Input),
    Exit(u8),
}

fn clock() -> Now {
    Now {
        mono: Instant::now(),
        wall: SystemTime::now(),
    }
}

pub fn supervise(mut config: Config<'_>) -> anyhow::Result<ExitCode> {
    let shell = config.shell;
    let (waker, wakeup) = wake::channel().context("failed to create a pipe")?;
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("failed to create `{}`", config.state_dir.display()))?;
    let socket = control::serve(&config.run_dir, waker.clone())?;

    let mut watcher = None;
    let mut hosts = Vec::new();
    for (index, spec) in std::mem::take(&mut config.tasks).into_iter().enumerate() {
        let host = prepare(index, spec, &config, &waker, &mut watcher)?;
        hosts.push(host);
    }
    let core = Core::new(hosts.iter().map(|h| h.manifest.clone()).collect(), clock())?;

    wake::catch_signals(&waker).context("failed to catch SIGINT")?;
    // Printed once every socket is bound and Ctrl-C is caught, so `cargo bgapp trigger` and
    // clients may connect from here on.
    let listing: Vec<String> = hosts
        .iter()
        .map(|h| format!("{} ({})", h.manifest.name, h.manifest.trigger.kind()))
        .collect();
    shell.status(
        "Running",
        format_args!("{}: {}", config.package, listing.join(", ")),
    );
    shell.verbose("State", config.state_dir.display());
    shell.verbose(
        "Listening",
        format_args!("for `cargo bgapp trigger` on `{}`", socket.display()),
    );
    let mut driver = Driver {
        shell,
        core,
        hosts,
        args: config.args,
        state_dir: config.state_dir,
        waker,
        watcher,
        clients: HashMap::new(),
        next_client: 0,
        wake: None,
    };
    let code = driver.run(&wakeup);
    let _ = std::fs::remove_file(&socket);
    drop(config.lock);
    Ok(code)
}

/// Sets up task `index`: its notify socket, and what its trigger needs
/// (the listening socket, the watched path).
fn prepare(
    index: usize,
    spec: TaskSpec,
    config: &Config<'_>,
    waker: &wake::Waker,
    watcher: &mut Option<paths::Watcher>,
) -> anyhow::Result<Host> {
    let shell = config.shell;
    let m = spec.manifest;
    let notify = notify::listen(&config.run_dir, &m.name, index, waker.clone())?;
    let mut listener = None;
    match &m.trigger {
        Trigger::Timer { schedule } => {
            if let Some(note) = schedule::Schedule::new(schedule)?.timezone_note() {
                shell.note(format_args!("task `{}`: {note}", m.name));
            }
        }
        Trigger::Socket { listen } => {
            let fd = sockets::bind(listen)
                .with_context(|| format!("task `{}` cannot be started", m.name))?;
            listener = Some(fd);
        }
        Trigger::Path { condition, path } => {
            // The package creates this directory; so do we, where we may.
            if let Some(dir) = watched_dir(*condition, path) {
                if std::fs::create_dir_all(&dir).is_err() {
                    shell.warn(format_args!(
                        "task `{}` watches `{path}`, but `{dir}` cannot be created; it fires once the path appears",
                        m.name
                    ));
                }
            }
            let w = match watcher {
                Some(w) => w,
                None => watcher.insert(paths::Watcher::new().context("failed to start inotify")?),
            };
            w.add(index, *condition, Path::new(path));
        }
        Trigger::Boot | Trigger::Manual => {}
    }
    Ok(Host {
        unit: unit_stem(&config.package, &m.name),
        prefix: Prefix::new(&m.name, index, shell),
        bin: spec.bin,
        notify,
        listener,
        control: None,
        manifest: m,
    })
}

impl Driver<'_> {
    fn run(&mut self, wakeup: &wake::Wakeup) -> ExitCode {
        let mut inputs = vec![Input::Boot];
        loop {
            for input in inputs.drain(..) {
                if let Some(code) = self.feed(input) {
                    return ExitCode::from(code);
                }
            }
            inputs = self.wait(wakeup);
        }
    }

    /// Sleeps until something happens or the core's wake-up time; returns
    /// what happened.
    fn wait(&mut self, wakeup: &wake::Wakeup) -> Vec<Input> {
        let timeout = self
            .wake
            .map(|d| d.saturating_duration_since(Instant::now()));
        let mut fds = vec![pollfd(wakeup.read.as_raw_fd())];
        let inotify = self.watcher.as_ref().map(|w| {
            fds.push(pollfd(w.raw_fd()));
            fds.len() - 1
        });
        let mut listening = Vec::new();
        for i in self.core.listening() {
            if let Some(l) = &self.hosts[i].listener {
                fds.push(pollfd(l.as_raw_fd()));
                listening.push((fds.len() - 1, i));
            }
        }
        let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32 + 1);
        // SAFETY: `fds` is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let mut inputs = Vec::new();
        if n > 0 && fds[0].revents != 0 {
            inputs.extend(wakeup.drain_signals().into_iter().map(Input::Signal));
            while let Ok(event) = wakeup.rx.try_recv() {
                inputs.push(self.input(event));
            }
        }
        if let (Some(k), Some(w)) = (inotify, &mut self.watcher) {
            if n > 0 && fds[k].revents != 0 {
                inputs.extend(w.read().into_iter().map(|task| Input::PathFired { task }));
            }
        }
        for (k, task) in listening {
            if n > 0 && fds[k].revents != 0 {
                inputs.push(Input::Connection { task });
            }
        }
        if inputs.is_empty() {
            inputs.push(Input::Tick);
        }
        inputs
    }

    fn input(&mut self, event: Event) -> Input {
        match event {
            Event::Exited { task, pid, status } => Input::Exited {
                task,
                pid,
                ending: Ending::from_status(status),
            },
            Event::Notify { task, text } => Input::Notify { task, text },
            Event::Request { request, reply } => {
                let client = ClientId(self.next_client);
                self.next_client += 1;
                self.clients.insert(client, reply);
                Input::Request { client, request }
            }
        }
    }

    /// Feeds the core one input and performs its actions, each answer
    /// (and the actions it leads to) before the next action; returns the
    /// exit status when the core is done.
    fn feed(&mut self, input: Input) -> Option<u8> {
        let mut pending: Vec<Action> = Vec::new();
        let mut next = Some(input);
        loop {
            if let Some(input) = next.take() {
                let step = self.core.handle(clock(), input);
                self.wake = step.wake;
                pending.extend(step.actions.into_iter().rev());
            }
            match self.perform(pending.pop()?) {
                Outcome::Done => {}
                Outcome::Answer(input) => next = Some(input),
                Outcome::Exit(code) => return Some(code),
            }
        }
    }

    fn perform(&mut self, action: Action) -> Outcome {
        match action {
            Action::Spawn { task, why } => {
                return Outcome::Answer(match self.spawn(task, why) {
                    Ok(pid) => Input::Spawned { task, pid },
                    Err(error) => Input::SpawnFailed { task, error },
                })
            }
            Action::Signal { pid, signal, group } if group => process::kill_group(pid, signal),
            Action::Signal { pid, signal, .. } => process::kill_main(pid, signal),
            Action::Deliver {
                task,
                client,
                message,
            } => {
                let error = self.write_control(task, &message).err();
                return Outcome::Answer(Input::Delivered {
                    task,
                    client,
                    message,
                    error: error.map(|e| e.to_string()),
                });
            }
            Action::Reply { client, reply } => {
                if let Some(stream) = self.clients.remove(&client) {
                    reply.send(stream);
                }
            }
            Action::CheckPath { task } => {
                if let Trigger::Path { condition, path } = &self.hosts[task].manifest.trigger {
                    if paths::Watcher::holds(*condition, Path::new(path)) {
                        return Outcome::Answer(Input::PathFired { task });
                    }
                }
            }
            Action::Say(Line::Status(verb, text)) => self.shell.status(verb, text),
            Action::Say(Line::Verbose(verb, text)) => self.shell.verbose(verb, text),
            Action::Say(Line::Warn(text)) => self.shell.warn(text),
            Action::Exit(code) => {
                let _ = std::io::stderr().flush();
                return Outcome::Exit(code);
            }
        }
        Outcome::Done
    }

    fn write_control(&self, task: usize, message: &ControlMessage) -> std::io::Result<()> {
        let Some(control) = &self.hosts[task].control else {
            return Err(std::io::Error::other("the task has no control socket"));
        };
        (&*control).write_all(format!("{message}\n").as_bytes())
    }

    /// Starts task `i`'s process; the error says why it could not be.
    fn spawn(&mut self, i: usize, why: Why) -> Result<u32, String> {
        let host = &self.hosts[i];
        let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
        let (env, pid_vars) = host.environment(&self.state_dir, why);
        let mut args = vec![OsString::from(&host.manifest.name)];
        args.extend(self.args.iter().cloned());
        let spec = process::Spec {
            program: &host.bin,
            args,
            env,
            pid_vars,
            listen: host.listener.as_ref().map(|l| l.as_raw_fd() as RawFd),
            control: theirs.as_raw_fd(),
        };
        let pid = process::spawn(&spec, i, host.prefix.clone(), self.waker.clone())
            .map_err(|e| format!("failed to run `{}`: {e}", host.bin.display()))?;
        drop(theirs);
        // A task that never reads its events must not block the loop.
        let _ = ours.set_nonblocking(true);
        self.hosts[i].control = Some(ours);
        Ok(pid)
    }
}

impl Host {
    /// The variables systemd would set for this start, and those whose
    /// value is the process's pid.
    fn environment(
        &self,
        state_dir: &Path,
        why: Why,
    ) -> (Vec<(String, OsString)>, Vec<&'static str>) {
        let mut env: Vec<(String, OsString)> = vec![
            (contract_env::STATE_DIR.into(), state_dir.into()),
            ("NOTIFY_SOCKET".into(), self.notify.clone().into()),
        ];
        let mut pid_vars = Vec::new();
        if let Some(w) = self.manifest.watchdog() {
            env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string().into()));
            pid_vars.push("WATCHDOG_PID");
        }
        if self.listener.is_some() {
            env.push((
                "LISTEN_FDNAMES".into(),
                format!("{}.socket", self.unit).into(),
            ));
            pid_vars.push("LISTEN_PID");
        }
        let unit = |suffix: &str| {
            (
                "TRIGGER_UNIT".to_string(),
                format!("{}.{suffix}", self.unit).into(),
            )
        };
        match (why, &self.manifest.trigger) {
            (Why::Timer, _) => {
                let (real, mono) = schedule::trigger_usec();
                env.push(unit("timer"));
                env.push((
                    "TRIGGER_TIMER_REALTIME_USEC".into(),
                    real.to_string().into(),
                ));
                env.push((
                    "TRIGGER_TIMER_MONOTONIC_USEC".into(),
                    mono.to_string().into(),
                ));
            }
            (Why::Path, trigger) => {
                env.push(unit("path"));
                if let Trigger::Path { path, .. } = trigger {
                    env.push(("TRIGGER_PATH".into(), path.into()));
                }
            }
            (Why::Socket, _) => env.push(unit("socket")),
            (Why::Boot | Why::Manual | Why::Restart, _) => {}
        }
        (env, pid_vars)
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}
