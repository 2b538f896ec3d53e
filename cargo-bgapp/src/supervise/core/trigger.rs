//! What starts a task: its trigger unit (`.timer`, `.socket`, `.path`), or
//! none for boot and manual tasks, and what that unit does when something
//! happens to it or to its service. Everything that depends on the kind of
//! trigger is decided in [`Activator::notify`].

use std::time::Instant;

use bgapp_manifest::Trigger;

use super::Now;
use crate::supervise::schedule::{self, Schedule};

/// Why a task is started; decides the `TRIGGER_*` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Boot,
    Timer,
    Socket,
    Path,
    /// `cargo bgapp trigger` of a boot or manual task.
    Manual,
    Restart,
}

impl Why {
    /// As the `Started` line says it.
    pub fn label(self) -> &'static str {
        match self {
            Why::Boot => "boot",
            Why::Timer => "timer",
            Why::Socket => "socket",
            Why::Path => "path",
            Why::Manual => "trigger",
            Why::Restart => "restart",
        }
    }
}

/// What a trigger unit hears of: systemd's `trigger_notify` (its service
/// changed state), its own event, and `cargo bgapp trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The run began: the trigger units start.
    Boot,
    /// Its own event: the timer's elapse (`active`: the service runs), a
    /// connection on the socket, the path's condition or change.
    Fired { active: bool },
    /// `cargo bgapp trigger`: as if the trigger fired, or a plain start.
    Triggered,
    /// The service started.
    Started,
    /// The service became inactive: it ended and is not restarted.
    Stopped,
    /// The service hit its start limit.
    Failed,
}

/// What the trigger wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Nothing,
    Start(Why),
    /// Check the path's condition now; it fires if it holds.
    CheckPath,
}

pub enum Activator {
    Boot,
    Manual,
    Timer(Box<Timer>),
    /// Its socket is watched while the service is inactive (`Accept=no`).
    Socket,
    Path,
}

impl Activator {
    /// `now` is the start of the run: `OnBootSec=` counts from it.
    pub fn new(trigger: &Trigger, now: Now) -> anyhow::Result<Activator> {
        Ok(match trigger {
            Trigger::Boot => Activator::Boot,
            Trigger::Manual => Activator::Manual,
            Trigger::Timer { schedule } => Activator::Timer(Box::new(Timer {
                schedule: Schedule::new(schedule)?,
                boot: now,
                boot_pending: true,
                last_trigger: None,
                next: None,
            })),
            Trigger::Socket { .. } => Activator::Socket,
            Trigger::Path { .. } => Activator::Path,
        })
    }

    /// The trigger hears of `change`; `last_start` is the service's last
    /// start.
    pub fn notify(&mut self, change: Change, now: Now, last_start: Option<Instant>) -> Follow {
        match (self, change) {
            (Activator::Timer(timer), change) => timer.notify(change, now, last_start),
            (Activator::Boot, Change::Boot) => Follow::Start(Why::Boot),
            (Activator::Boot | Activator::Manual, Change::Triggered) => Follow::Start(Why::Manual),
            (Activator::Socket, Change::Triggered | Change::Fired { active: false }) => {
                Follow::Start(Why::Socket)
            }
            (Activator::Path, Change::Triggered | Change::Fired { active: false }) => {
                Follow::Start(Why::Path)
            }
            // systemd.path(5): a `.path` unit checks `PathExists=` and
            // `DirectoryNotEmpty=` when it starts and again whenever its
            // service ends (`changed`/`modified` answer no at a check).
            (Activator::Path, Change::Boot | Change::Stopped) => Follow::CheckPath,
            _ => Follow::Nothing,
        }
    }

    /// When the trigger next fires by itself (a timer's elapse).
    pub fn wake_at(&self) -> Option<Instant> {
        match self {
            Activator::Timer(timer) => timer.next,
            _ => None,
        }
    }

    /// A socket to watch while the service is inactive.
    pub fn listens(&self) -> bool {
        matches!(self, Activator::Socket)
    }
}

/// A `.timer` unit (systemd.timer(5), and `timer.c`'s `timer_enter_waiting`).
pub struct Timer {
    schedule: Schedule,
    /// The start of the run, which stands for the boot.
    boot: Now,
    /// `OnBootSec=` still counts: until it has passed after a trigger.
    boot_pending: bool,
    last_trigger: Option<Now>,
    /// The next elapse; `None` while the service the timer started runs
    /// (the timer is `running` and waits for the service to end).
    next: Option<Instant>,
}

impl Timer {
    fn notify(&mut self, change: Change, now: Now, last_start: Option<Instant>) -> Follow {
        match change {
            Change::Boot | Change::Stopped => self.arm(now, last_start),
            // A timer that waits (it did not start the running service)
            // counts from the service's start.
            Change::Started if self.next.is_some() => self.arm(now, last_start),
            Change::Fired { active } => {
                self.last_trigger = Some(now);
                self.next = None;
                // A start of a service that runs already does nothing.
                if !active {
                    return Follow::Start(Why::Timer);
                }
            }
            Change::Triggered => {
                self.last_trigger = Some(now);
                self.next = None;
                return Follow::Start(Why::Timer);
            }
            // systemd's timer would go on starting the failed service once
            // the start limit's interval has passed; here it stays failed
            // until `cargo bgapp trigger` starts it.
            Change::Failed => self.next = None,
            Change::Started => {}
        }
        Follow::Nothing
    }

    /// The next elapse, from the run's start (`OnBootSec=`), the later of
    /// the service's last start and the last trigger (`OnUnitActiveSec=`),
    /// or the calendar after the last trigger (`OnCalendar=`). An elapse
    /// that is due already comes at once.
    fn arm(&mut self, now: Now, last_start: Option<Instant>) {
        self.next = match &self.schedule {
            Schedule::Every(every) => {
                let boot = self.boot.mono + *every;
                // A one-time trigger that is past once the timer has
                // triggered (at its own time, or later) is disabled.
                if self.last_trigger.is_some() && boot <= now.mono {
                    self.boot_pending = false;
                }
                let base = last_start.max(self.last_trigger.map(|t| t.mono));
                let active = base.map(|b| b + *every);
                [self.boot_pending.then_some(boot), active]
                    .into_iter()
                    .flatten()
                    .min()
            }
            Schedule::Calendar(cal) => {
                let base = self.last_trigger.unwrap_or(self.boot).wall;
                schedule::calendar_next(cal, base)
                    .map(|at| now.mono + at.duration_since(now.wall).unwrap_or_default())
            }
        };
    }
}
