//! What the system is doing: shutting down, going to sleep, waking up.
//!
//! Two sources, chosen once at start:
//!
//! - **The control channel** (`BGAPP_CONTROL_FD`, see [`control`]): a
//!   supervisor such as `cargo bgapp run` says what happens in plain text
//!   lines. D-Bus is not used at all, and a plain SIGTERM is an operator
//!   stop (`stop-requested`).
//! - **The system bus** otherwise (see [`logind`]). At start the runtime
//!   connects once and, if a bus answered the `connect`, a small thread
//!   subscribes to logind's `PrepareForShutdown` and `PrepareForSleep`
//!   signals and holds a sleep *delay* inhibitor lock. Sleep and wake
//!   become `LifecycleEvent`s. Idle, that thread sleeps in `poll`. The
//!   decisions are made by a core without I/O, `logind::Follower`.
//!
//! **Shutdown or operator stop?** systemd sends the same SIGTERM for both
//! ([`Signals`] turns it into a stop request). When one arrives the
//! runtime decides, in this order:
//! 1. logind announced `PrepareForShutdown(true)` earlier, or systemd
//!    answered `stopping` to an earlier SIGTERM: a shutdown;
//! 2. else it asks systemd for `SystemState` over the connection made at
//!    start (no new connection while the system goes down): `stopping`
//!    means a shutdown, anything else an operator stop;
//! 3. else (no answer within 200 ms, no bus) an operator stop.
//!
//! A shutdown stops the task with `SystemShutdown` (recorded as
//! `terminated`), an operator stop with `StopRequested` (recorded as
//! `closed-by-user`).
//!
//! **No bus** (containers, minimal images, a dead `dbus-daemon`): the
//! connection attempt fails at once; every SIGTERM is then an operator
//! stop, with no added delay, and no sleep events arrive. Under systemd
//! (`NOTIFY_SOCKET` or `INVOCATION_ID` set) that is logged once at start
//! as a warning, elsewhere at debug level only.
//!
//! **No polkit** (minimal images): logind denies the sleep delay lock.
//! Sleep is still announced, but the system does not wait for the task;
//! this is logged once as a warning that says how to grant the lock.

pub mod control;
pub(crate) use bgapp_dbus as dbus;
pub mod logind;

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::instance::Shared;
use crate::lifecycle::Control;
use crate::CancellationReason;

/// The process's view of the system, for the signal handler.
pub(crate) struct System {
    /// The control channel, until `watch` starts reading it.
    control: Option<UnixStream>,
    /// The system bus, once connected.
    bus: Option<Arc<logind::Bus>>,
}

impl System {
    /// Takes the control channel from the environment, if one is passed.
    /// Call before threads start: it edits the environment.
    pub(crate) fn from_env() -> System {
        System {
            control: control::take_from_env(),
            bus: None,
        }
    }

    /// Starts delivering what the system does to the task. Without a
    /// control channel or a bus this costs one failed `connect`.
    pub(crate) fn watch(&mut self, tx: mpsc::UnboundedSender<Control>, task: &Shared) {
        match self.control.take() {
            Some(stream) => control::start(stream, tx),
            None => {
                let who = format!("{} {}", task.manifest.package, task.manifest.name);
                self.bus = logind::Bus::start(tx, who, task.events.clone());
            }
        }
    }

    /// Why a SIGTERM arrived: an operator stop, or the system shutting
    /// down. Takes at most about 200 ms, and no time without a bus (nor
    /// under the control channel, which never connects to one).
    pub(crate) async fn stop_reason(&self) -> CancellationReason {
        match &self.bus {
            Some(bus) => bus.stop_reason().await,
            None => CancellationReason::StopRequested,
        }
    }
}

/// SIGTERM and SIGINT, as `Control` messages. Listening starts when this
/// is made, inside the runtime: make it first, so that a stop arriving
/// while the task starts is not lost.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Sends each signal on `tx`, a SIGTERM as a stop for the reason
    /// `system` gives, a SIGINT as an interrupt. Never returns.
    pub(crate) async fn forward(
        mut self,
        tx: mpsc::UnboundedSender<Control>,
        system: &System,
    ) -> std::convert::Infallible {
        loop {
            let message = tokio::select! {
                Some(()) = self.term.recv() => Control::Stop(system.stop_reason().await, None),
                Some(()) = self.int.recv() => Control::Interrupt,
                else => std::future::pending::<Control>().await,
            };
            let _ = tx.send(message);
        }
    }
}

/// Starts one of the module's reader threads: they block in `poll`/`read`,
/// so idle they cost no wake-ups. One boxed signature keeps one copy of
/// the spawn code in the binary.
fn spawn(name: &str, f: Box<dyn FnOnce() + Send>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(128 << 10)
        .spawn(f)
        .map(drop)
}
