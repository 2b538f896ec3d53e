//! A running task: its deadlines (`TimeoutStartSec=`, `TimeoutStopSec=`,
//! `RuntimeMaxSec=`, `WatchdogSec=`), stop requests (`cargo bgapp trigger --stop`, Ctrl-C),
//! its notify messages and the messages on its control socket.

use std::time::{Duration, Instant};

use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::policy::{stop_kill_after, RESTART_DELAY};
use bgapp_manifest::{format_duration, CancellationReason};

use super::{Action, ClientId, Core, Line, Now, State};
use crate::supervise::policy::{Decision, Ending};
use crate::supervise::Reply;

pub struct Stopping {
    /// `TimeoutStopSec=`: SIGKILL then.
    pub kill_at: Instant,
    pub killed: bool,
    /// An operator (or Ctrl-C) asked: never restarted.
    pub requested: bool,
}

/// One supervised run of a task's process.
pub struct Running {
    pub pid: u32,
    pub started: Instant,
    pub stopping: Option<Stopping>,
    /// Set when the supervisor itself ended the run as a failure.
    pub failure: Option<&'static str>,
    /// `RuntimeMaxSec=`.
    pub runtime_max: Option<Instant>,
    /// `WatchdogSec=`: the deadline of the next `WATCHDOG=1`.
    pub watchdog: Option<Instant>,
    /// `TimeoutStartSec=` of a task with `ready = "explicit"`: the deadline
    /// of its `READY=1`, until it comes.
    pub ready_by: Option<Instant>,
    /// `cargo bgapp trigger --stop` clients waiting for the end.
    pub waiting: Vec<ClientId>,
}

impl Running {
    /// The next deadline: the kill of a stop under way, else the time
    /// limit or the watchdog.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.stopping {
            Some(s) => (!s.killed).then_some(s.kill_at),
            None => self
                .runtime_max
                .into_iter()
                .chain(self.watchdog)
                .chain(self.ready_by)
                .min(),
        }
    }

    /// The supervisor stops the run itself, as a failure.
    fn fail(&mut self, failure: &'static str, kill_at: Instant) {
        self.failure = Some(failure);
        self.stopping = Some(Stopping {
            kill_at,
            killed: false,
            requested: false,
        });
    }
}

/// What the `Exited` line says comes next.
pub fn what_next(decision: &Decision, clean: bool, ending: Ending) -> String {
    match decision {
        Decision::Restart => format!("; restarting in {}", format_duration(RESTART_DELAY)),
        Decision::Stay(reason) if !clean || ending.prevents_restart() => {
            format!("; not restarted: {reason}")
        }
        Decision::Stay(_) => String::new(),
    }
}

fn signal(pid: u32, signal: i32, group: bool) -> Action {
    Action::Signal { pid, signal, group }
}

impl Core {
    /// The kill of a stop, the time limit, the watchdog.
    pub(super) fn running_deadlines(&mut self, now: Now, i: usize) {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        let kill_after = stop_kill_after(&t.manifest);
        let watchdog = t.manifest.watchdog().unwrap_or_default();
        let start = t.manifest.start_timeout().unwrap_or_default();
        let State::Running(r) = &mut t.state else {
            return;
        };
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now.mono);
        let (line, action) = if let Some(s) = &mut r.stopping {
            if s.killed || s.kill_at > now.mono {
                return;
            }
            s.killed = true;
            r.failure.get_or_insert("it did not stop in time");
            let line = format!(
                "task `{name}` did not exit within {} of its stop; killing it (SIGKILL)",
                format_duration(kill_after)
            );
            (line, signal(r.pid, libc::SIGKILL, true))
        } else if due(r.ready_by) {
            // systemd's `TimeoutStartFailureMode=terminate`: SIGTERM, and
            // the stop's own timeout before SIGKILL; the result is
            // `timeout`, a failure.
            r.ready_by = None;
            r.fail("not ready in time", now.mono + kill_after);
            let line = format!(
                "task `{name}` was not ready within its start timeout ({}); stopping it (SIGTERM)",
                format_duration(start)
            );
            (line, signal(r.pid, libc::SIGTERM, false))
        } else if due(r.runtime_max) {
            r.fail("it ran too long", now.mono + kill_after);
            let line = format!(
                "task `{name}` ran longer than its time limit and stop timeout; stopping it (SIGTERM)"
            );
            (line, signal(r.pid, libc::SIGTERM, false))
        } else if due(r.watchdog) {
            r.fail("watchdog timeout", now.mono + kill_after);
            let line = format!(
                "task `{name}` watchdog timeout: no `WATCHDOG=1` for {}; aborting it (SIGABRT)",
                format_duration(watchdog)
            );
            (line, signal(r.pid, libc::SIGABRT, false))
        } else {
            return;
        };
        self.say(Line::Warn(line));
        self.out.push(action);
    }

    /// `cargo bgapp trigger --stop [--reason R]`: answered when the task
    /// has ended.
    pub(super) fn stop(
        &mut self,
        now: Now,
        i: usize,
        reason: Option<CancellationReason>,
        client: ClientId,
    ) {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        match &mut t.state {
            State::Running(r) if r.stopping.as_ref().is_some_and(|s| s.requested) => {
                r.waiting.push(client);
            }
            State::Running(r) => match reason {
                None => {
                    let pid = r.pid;
                    self.out.push(signal(pid, libc::SIGTERM, false));
                    self.stopping(now, i, "SIGTERM".into(), client);
                }
                Some(reason) => {
                    let message = ControlMessage::Stop {
                        reason,
                        deadline: None,
                    };
                    let task = i;
                    self.out.push(Action::Deliver {
                        task,
                        client,
                        message,
                    });
                }
            },
            State::RestartAt(_) => {
                t.state = State::Idle;
                let text = format!("task `{name}`: it was waiting to restart, and stays stopped");
                self.reply(client, Reply::ok(text));
                self.tell(now, i, super::Change::Stopped);
            }
            State::Idle | State::Starting { .. } | State::Failed => {
                self.reply(client, not_running(&name));
            }
        }
    }

    /// The stop is under way (`how`: SIGTERM, or the message delivered).
    fn stopping(&mut self, now: Now, i: usize, how: String, client: ClientId) {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        let kill_at = now.mono + stop_kill_after(&t.manifest);
        let State::Running(r) = &mut t.state else {
            return self.reply(client, not_running(&name));
        };
        // A stop already under way keeps its deadline (and a kill already
        // sent stays sent): asking again never postpones it.
        match &mut r.stopping {
            Some(s) => {
                s.kill_at = s.kill_at.min(kill_at);
                s.requested = true;
            }
            None => {
                r.stopping = Some(Stopping {
                    kill_at,
                    killed: false,
                    requested: true,
                })
            }
        }
        r.waiting.push(client);
        self.say(Line::Status("Stopping", format!("{name} ({how})")));
    }

    /// `cargo bgapp trigger --sleep`, `--resume`.
    pub(super) fn deliver(&mut self, i: usize, client: ClientId, message: ControlMessage) {
        let t = &self.tasks[i];
        if matches!(t.state, State::Running(_)) {
            self.out.push(Action::Deliver {
                task: i,
                client,
                message,
            });
        } else {
            let reply = not_running(t.name());
            self.reply(client, reply);
        }
    }

    pub(super) fn delivered(
        &mut self,
        now: Now,
        i: usize,
        client: ClientId,
        message: ControlMessage,
        error: Option<String>,
    ) {
        let name = self.tasks[i].manifest.name.clone();
        if let Some(e) = error {
            let text = format!("cannot deliver `{message}` to task `{name}`: {e}");
            return self.reply(client, Reply::error(text));
        }
        match message {
            ControlMessage::Stop { .. } => self.stopping(now, i, message.to_string(), client),
            ControlMessage::Sleep { .. } | ControlMessage::Resume => {
                self.say(Line::Status("Delivered", format!("`{message}` to {name}")));
                let text = format!("`{message}` to task `{name}`");
                self.reply(client, Reply::ok(text));
            }
        }
    }

    /// A datagram on the task's `NOTIFY_SOCKET` (sd_notify(3)).
    pub(super) fn notify(&mut self, now: Now, i: usize, text: &str) {
        let t = &mut self.tasks[i];
        let name = t.manifest.name.clone();
        let watchdog = t.manifest.watchdog();
        let State::Running(r) = &mut t.state else {
            return;
        };
        // The runtime's own status at start and stop says what the status
        // lines of the supervisor say already.
        let quiet = text.lines().any(|l| l == "READY=1" || l == "STOPPING=1");
        let mut lines = Vec::new();
        for line in text.lines() {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            match key {
                "READY" if value == "1" => {
                    r.ready_by = None;
                    lines.push(Line::Verbose("Ready", name.clone()))
                }
                "STATUS" if quiet => {
                    lines.push(Line::Verbose("Status", format!("{name}: {value}")))
                }
                "STATUS" => lines.push(Line::Status("Status", format!("{name}: {value}"))),
                "WATCHDOG" if value == "1" => r.watchdog = watchdog.map(|w| now.mono + w),
                "WATCHDOG" if value == "trigger" => r.watchdog = Some(now.mono),
                // Extends the deadline under way: the stop's, else the start's.
                "EXTEND_TIMEOUT_USEC" => {
                    let Ok(usec) = value.parse::<u64>() else {
                        continue;
                    };
                    let extended = now.mono + Duration::from_micros(usec);
                    match (&mut r.stopping, &mut r.ready_by) {
                        (Some(s), _) => s.kill_at = s.kill_at.max(extended),
                        (None, Some(at)) => *at = (*at).max(extended),
                        (None, None) => {}
                    }
                }
                _ => {}
            }
        }
        for line in lines {
            self.say(line);
        }
    }

    /// SIGINT, SIGTERM or SIGHUP: the first stops every task as `systemctl
    /// stop` would; a second Ctrl-C kills them all and exits at once.
    pub(super) fn signal(&mut self, now: Now, sig: i32) {
        if sig == libc::SIGINT && self.shutting_down {
            let mut lines = Vec::new();
            for t in &self.tasks {
                if let State::Running(r) = &t.state {
                    lines.push((r.pid, t.manifest.name.clone()));
                }
            }
            for (pid, name) in lines {
                self.out.push(signal(pid, libc::SIGKILL, true));
                let line = format!("{name} (pid {pid}, SIGKILL)");
                self.say(Line::Status("Killed", line));
            }
            self.done = true;
            self.out
                .push(Action::Exit(bgapp_manifest::exit::INTERRUPTED));
        } else if !self.shutting_down {
            self.shutdown(now);
        }
    }

    fn shutdown(&mut self, now: Now) {
        self.shutting_down = true;
        let running = self
            .tasks
            .iter()
            .filter(|t| matches!(t.state, State::Running(_)))
            .count();
        if running > 0 {
            let s = if running == 1 { "" } else { "s" };
            let line = format!("{running} task{s} (Ctrl-C again to kill at once)");
            self.say(Line::Status("Stopping", line));
        }
        for t in &mut self.tasks {
            let kill_at = now.mono + stop_kill_after(&t.manifest);
            match &mut t.state {
                State::Running(r) => match &mut r.stopping {
                    Some(s) => s.requested = true,
                    None => {
                        self.out.push(signal(r.pid, libc::SIGTERM, false));
                        r.stopping = Some(Stopping {
                            kill_at,
                            killed: false,
                            requested: true,
                        });
                    }
                },
                State::RestartAt(_) => t.state = State::Idle,
                State::Idle | State::Starting { .. } | State::Failed => {}
            }
        }
    }
}

fn not_running(name: &str) -> Reply {
    Reply::error(format!("task `{name}` is not running"))
}
