//! The supervisor's decisions, without I/O: a state machine that is fed
//! [`Input`]s with the time they happened at and answers with [`Action`]s
//! and the time it next needs to be woken. It never reads a clock, a file
//! or a socket, so every rule can be tested on a fake clock (`tests.rs`);
//! the loop in `supervise/mod.rs` performs the actions, and answers those
//! that have an outcome (a spawn, a delivery, a path check) with one more
//! input, at once.

mod running;
mod trigger;

#[cfg(test)]
mod tests;

use std::time::{Instant, SystemTime};

use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::policy::{start_limit_burst, START_LIMIT_INTERVAL};
use bgapp_manifest::{format_duration, TaskManifest};

use super::policy::{Ending, StartLimit};
use crate::supervise::{Reply, Request};
use running::Running;
pub use trigger::Why;
use trigger::{Activator, Change, Follow};

/// The time an input happened at: the monotonic clock for deadlines, the
/// wall clock for calendars.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

/// A `cargo bgapp trigger` client waiting for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(pub u64);

#[derive(Debug)]
pub enum Input {
    /// The run begins.
    Boot,
    /// Time passed: a deadline may be due.
    Tick,
    Exited {
        task: usize,
        pid: u32,
        ending: Ending,
    },
    /// The answer to [`Action::Spawn`].
    Spawned {
        task: usize,
        pid: u32,
    },
    /// The answer to [`Action::Spawn`] when no process could be started.
    SpawnFailed {
        task: usize,
        error: String,
    },
    /// A connection waits on a socket task's listener.
    Connection {
        task: usize,
    },
    /// A path task's path changed, or its condition holds.
    PathFired {
        task: usize,
    },
    Request {
        client: ClientId,
        request: Request,
    },
    /// The answer to [`Action::Deliver`].
    Delivered {
        task: usize,
        client: ClientId,
        message: ControlMessage,
        error: Option<String>,
    },
    /// A datagram on the task's `NOTIFY_SOCKET`.
    Notify {
        task: usize,
        text: String,
    },
    /// SIGINT (Ctrl-C), SIGTERM or SIGHUP reached the supervisor.
    Signal(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start task `task`'s process; answer with [`Input::Spawned`] or
    /// [`Input::SpawnFailed`].
    Spawn {
        task: usize,
        why: Why,
    },
    /// Signal the process (`group`: its whole process group).
    Signal {
        pid: u32,
        signal: i32,
        group: bool,
    },
    /// Write `message` on the task's control socket; answer with
    /// [`Input::Delivered`].
    Deliver {
        task: usize,
        client: ClientId,
        message: ControlMessage,
    },
    Reply {
        client: ClientId,
        reply: Reply,
    },
    /// Check the path task's condition; answer with [`Input::PathFired`]
    /// if it holds.
    CheckPath {
        task: usize,
    },
    Say(Line),
    /// The supervisor is done: exit with this status.
    Exit(u8),
}

/// A line for the user, as [`crate::shell::Shell`] prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Status(&'static str, String),
    Verbose(&'static str, String),
    Warn(String),
}

pub struct Step {
    pub actions: Vec<Action>,
    /// When to feed [`Input::Tick`] at the latest.
    pub wake: Option<Instant>,
}

enum State {
    Idle,
    /// [`Action::Spawn`] was asked for; its answer comes next.
    Starting {
        why: Why,
        client: Option<ClientId>,
    },
    Running(Running),
    /// `RestartSec=`: restarted at this time.
    RestartAt(Instant),
    /// Over the start limit.
    Failed,
}

struct Task {
    manifest: TaskManifest,
    trigger: Activator,
    state: State,
    limit: StartLimit,
    last_start: Option<Instant>,
}

impl Task {
    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn active(&self) -> bool {
        matches!(
            self.state,
            State::Starting { .. } | State::Running(_) | State::RestartAt(_)
        )
    }
}

pub struct Core {
    tasks: Vec<Task>,
    shutting_down: bool,
    /// Tasks that did not end cleanly after the stop of Ctrl-C.
    unclean: usize,
    done: bool,
    out: Vec<Action>,
}

impl Core {
    /// `now` is the start of the run.
    pub fn new(manifests: Vec<TaskManifest>, now: Now) -> anyhow::Result<Core> {
        let mut tasks = Vec::new();
        for manifest in manifests {
            tasks.push(Task {
                trigger: Activator::new(&manifest.trigger, now)?,
                state: State::Idle,
                limit: StartLimit::new(START_LIMIT_INTERVAL, start_limit_burst(&manifest)),
                last_start: None,
                manifest,
            });
        }
        Ok(Core {
            tasks,
            shutting_down: false,
            unclean: 0,
            done: false,
            out: Vec::new(),
        })
    }

    pub fn handle(&mut self, now: Now, input: Input) -> Step {
        if !self.done {
            match input {
                Input::Boot => self.boot(now),
                Input::Tick => {}
                Input::Exited { task, pid, ending } => self.exited(now, task, pid, ending),
                Input::Spawned { task, pid } => self.spawned(now, task, pid),
                Input::SpawnFailed { task, error } => self.spawn_failed(now, task, &error),
                Input::Connection { task } | Input::PathFired { task } => self.fired(now, task),
                Input::Request { client, request } => self.request(now, client, request),
                Input::Delivered {
                    task,
                    client,
                    message,
                    error,
                } => self.delivered(now, task, client, message, error),
                Input::Notify { task, text } => self.notify(now, task, &text),
                Input::Signal(signal) => self.signal(now, signal),
            }
            if !self.done {
                self.deadlines(now);
                self.finish_if_done();
            }
        }
        Step {
            actions: std::mem::take(&mut self.out),
            wake: self.wake_at(),
        }
    }

    /// The socket tasks whose listener to watch now.
    pub fn listening(&self) -> impl Iterator<Item = usize> + '_ {
        self.tasks.iter().enumerate().filter_map(|(i, t)| {
            let watch = t.trigger.listens() && matches!(t.state, State::Idle);
            (watch && !self.shutting_down).then_some(i)
        })
    }

    fn say(&mut self, line: Line) {
        self.out.push(Action::Say(line));
    }

    fn reply(&mut self, client: ClientId, reply: Reply) {
        self.out.push(Action::Reply { client, reply });
    }

    fn boot(&mut self, now: Now) {
        for i in 0..self.tasks.len() {
            self.tell(now, i, Change::Boot);
            let t = &self.tasks[i];
            if let Some(at) = t.trigger.wake_at() {
                let line = format!("{} in {}", t.name(), format_duration(at - now.mono));
                self.say(Line::Verbose("Scheduled", line));
            }
        }
    }

    /// Tells task `i`'s trigger of `change`, and does what it says.
    fn tell(&mut self, now: Now, i: usize, change: Change) {
        let t = &mut self.tasks[i];
        match t.trigger.notify(change, now, t.last_start) {
            Follow::Nothing => {}
            Follow::Start(why) => self.start(now, i, why, None),
            Follow::CheckPath => self.out.push(Action::CheckPath { task: i }),
        }
    }

    /// The trigger's own event: an elapse, a connection, a path.
    fn fired(&mut self, now: Now, i: usize) {
        let t = &self.tasks[i];
        if self.shutting_down || matches!(t.state, State::Failed) {
            return;
        }
        let active = t.active();
        self.tell(now, i, Change::Fired { active });
    }

    /// Starts task `i` now, unless the start limit is hit; `client` is
    /// told how it went.
    fn start(&mut self, now: Now, i: usize, why: Why, client: Option<ClientId>) {
        if self.shutting_down {
            return;
        }
        let t = &mut self.tasks[i];
        if !t.limit.try_start(now.mono) {
            t.state = State::Failed;
            let name = t.name().to_string();
            let unit = bgapp_manifest::unit_stem(&t.manifest.package, &name);
            let limit = format!(
                "{} starts within {}s",
                start_limit_burst(&t.manifest),
                START_LIMIT_INTERVAL.as_secs()
            );
            // systemd counts every start, `systemctl start` too, and
            // refuses more until the interval has passed or `systemctl
            // reset-failed`; a trigger here does both (see `trigger`).
            let line = match client {
                None => format!(
                    "task `{name}` failed: start limit hit ({limit}); it is not started again\n\n\
                     help: `cargo bgapp trigger {name}` resets the limit, as `systemctl reset-failed {unit}.service` would, and starts it"
                ),
                Some(_) => format!(
                    "task `{name}` was not started: start limit hit ({limit}, counting every start, as systemd does); \
                     systemd refuses `systemctl start` now, until the interval has passed or `systemctl reset-failed {unit}.service`\n\n\
                     help: the next `cargo bgapp trigger {name}` resets the limit, as `systemctl reset-failed` would, and starts it"
                ),
            };
            self.say(Line::Warn(line));
            self.tell(now, i, Change::Failed);
            if let Some(client) = client {
                let reply = format!(
                    "task `{name}` was not started: start limit hit ({limit}); \
                     trigger it again to reset the limit and start it, as `systemctl reset-failed {unit}.service` and `systemctl start` would"
                );
                self.reply(client, Reply::error(reply));
            }
            return;
        }
        t.last_start = Some(now.mono);
        t.state = State::Starting { why, client };
        self.out.push(Action::Spawn { task: i, why });
    }

    fn spawned(&mut self, now: Now, i: usize, pid: u32) {
        let t = &mut self.tasks[i];
        let State::Starting { why, client } = t.state else {
            return;
        };
        let kill_after = bgapp_manifest::policy::stop_kill_after(&t.manifest);
        t.state = State::Running(Running {
            pid,
            started: now.mono,
            stopping: None,
            failure: None,
            runtime_max: t.manifest.time_limit().map(|l| now.mono + l + kill_after),
            watchdog: t.manifest.watchdog().map(|w| now.mono + w),
            ready_by: t.manifest.start_timeout().map(|s| now.mono + s),
            waiting: Vec::new(),
        });
        let name = t.name().to_string();
        let line = format!("{name} ({}, pid {pid})", why.label());
        self.say(Line::Status("Started", line));
        if let Some(client) = client {
            self.reply(
                client,
                Reply::ok(format!("task `{name}`: started (pid {pid})")),
            );
        }
        self.tell(now, i, Change::Started);
    }

    /// A start that fails is a failed run (systemd's 203/EXEC).
    fn spawn_failed(&mut self, now: Now, i: usize, error: &str) {
        let t = &mut self.tasks[i];
        let State::Starting { client, .. } = t.state else {
            return;
        };
        let name = t.name().to_string();
        let restart = t.manifest.restart != bgapp_manifest::Restart::Never;
        t.state = if restart {
            State::RestartAt(now.mono + bgapp_manifest::policy::RESTART_DELAY)
        } else {
            State::Idle
        };
        self.say(Line::Warn(format!(
            "task `{name}` cannot be started: {error}"
        )));
        if let Some(client) = client {
            self.reply(client, not_started(&name));
        }
        if !restart {
            self.tell(now, i, Change::Stopped);
        }
    }

    fn request(&mut self, now: Now, client: ClientId, request: Request) {
        let Some(i) = self.tasks.iter().position(|t| t.name() == request.task()) else {
            let names: Vec<String> = self
                .tasks
                .iter()
                .map(|t| format!("`{}`", t.name()))
                .collect();
            let message = format!(
                "no task named `{}` in this run; it runs {}",
                request.task(),
                names.join(", ")
            );
            return self.reply(client, Reply::error(message));
        };
        if self.shutting_down {
            return self.reply(client, Reply::error("`cargo bgapp run` is stopping"));
        }
        match request {
            Request::Fire { .. } => self.trigger(now, i, client),
            Request::Stop { reason, .. } => self.stop(now, i, reason, client),
            Request::Sleep { deadline_ms, .. } => {
                let deadline = std::time::Duration::from_millis(deadline_ms);
                self.deliver(i, client, ControlMessage::Sleep { deadline })
            }
            Request::Resume { .. } => self.deliver(i, client, ControlMessage::Resume),
        }
    }

    /// `cargo bgapp trigger TASK`: fires its trigger, or starts it; a
    /// failed task is reset first, as `systemctl reset-failed` would.
    fn trigger(&mut self, now: Now, i: usize, client: ClientId) {
        let t = &mut self.tasks[i];
        let name = t.name().to_string();
        match &t.state {
            State::Running(r) => {
                let reply = Reply::ok(format!("task `{name}`: already running (pid {})", r.pid));
                return self.reply(client, reply);
            }
            State::Starting { .. } => {
                return self.reply(
                    client,
                    Reply::ok(format!("task `{name}`: already starting")),
                );
            }
            State::Failed => t.limit.reset(),
            State::Idle | State::RestartAt(_) => {}
        }
        t.state = State::Idle;
        let why = match t.trigger.notify(Change::Triggered, now, t.last_start) {
            Follow::Start(why) => why,
            Follow::Nothing | Follow::CheckPath => Why::Manual,
        };
        self.start(now, i, why, Some(client));
    }

    fn exited(&mut self, now: Now, i: usize, pid: u32, ending: Ending) {
        let t = &mut self.tasks[i];
        if !matches!(&t.state, State::Running(r) if r.pid == pid) {
            return;
        }
        let State::Running(run) = std::mem::replace(&mut t.state, State::Idle) else {
            unreachable!("matched above")
        };
        let requested = run.stopping.as_ref().is_some_and(|s| s.requested) || self.shutting_down;
        let decision =
            super::policy::after_exit(t.manifest.restart, ending, run.failure.is_some(), requested);
        let name = t.name().to_string();
        let clean = ending.is_clean() && run.failure.is_none();
        let ran = format!("{:.1}s", (now.mono - run.started).as_secs_f64());
        let line = if requested {
            self.unclean += usize::from(self.shutting_down && !clean);
            Line::Status("Stopped", format!("{name}: {ending} after {ran}"))
        } else {
            let why = run.failure.map(|f| format!(", {f}")).unwrap_or_default();
            let next = running::what_next(&decision, clean, ending);
            Line::Status(
                "Exited",
                format!("{name} with {ending} after {ran}{why}{next}"),
            )
        };
        self.say(line);
        for client in run.waiting {
            self.reply(client, Reply::ok(format!("task `{name}`: {ending}")));
        }
        if self.shutting_down {
            return;
        }
        if decision == super::policy::Decision::Restart {
            let at = now.mono + bgapp_manifest::policy::RESTART_DELAY;
            self.tasks[i].state = State::RestartAt(at);
        } else {
            self.tell(now, i, Change::Stopped);
        }
    }

    /// A restart, a timer's elapse, a deadline of a running task.
    fn deadlines(&mut self, now: Now) {
        for i in 0..self.tasks.len() {
            let t = &mut self.tasks[i];
            match &t.state {
                State::RestartAt(at) if *at <= now.mono => {
                    t.state = State::Idle;
                    self.start(now, i, Why::Restart, None);
                }
                State::Running(_) => self.running_deadlines(now, i),
                _ => {}
            }
            if self.tasks[i]
                .trigger
                .wake_at()
                .is_some_and(|at| at <= now.mono)
            {
                self.fired(now, i);
            }
        }
    }

    /// When to feed [`Input::Tick`] next.
    fn wake_at(&self) -> Option<Instant> {
        let mut times = Vec::new();
        for t in &self.tasks {
            match &t.state {
                State::Running(r) => times.extend(r.deadline()),
                State::RestartAt(at) => times.push(*at),
                State::Idle | State::Starting { .. } | State::Failed => {}
            }
            if !self.shutting_down && !matches!(t.state, State::Failed) {
                times.extend(t.trigger.wake_at());
            }
        }
        times.into_iter().min()
    }

    fn finish_if_done(&mut self) {
        let running = self
            .tasks
            .iter()
            .any(|t| matches!(t.state, State::Running(_) | State::Starting { .. }));
        if !self.shutting_down || running {
            return;
        }
        self.done = true;
        if self.unclean == 0 {
            self.say(Line::Status("Finished", "every task stopped".into()));
            self.out.push(Action::Exit(bgapp_manifest::exit::SUCCESS));
        } else {
            let line = format!("{} task(s) did not stop cleanly", self.unclean);
            self.say(Line::Warn(line));
            self.out.push(Action::Exit(bgapp_manifest::exit::FAILURE));
        }
    }
}

fn not_started(name: &str) -> Reply {
    Reply::error(format!(
        "task `{name}` could not be started; see the output of `cargo bgapp run`"
    ))
}
