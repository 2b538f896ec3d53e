//! logind and systemd over the system bus: shutdown detection, sleep and
//! wake.
//!
//! At start the runtime connects (one `connect`, which fails at once when
//! there is no bus) and, only if that worked, starts one small thread that
//! owns the reading side. In one write behind `Hello` it asks for logind's
//! `PrepareForShutdown` and `PrepareForSleep` signals (match rules on the
//! sender `org.freedesktop.login1`, which the bus enforces; a signal sent
//! to this connection directly is ignored, since anyone may send one),
//! `InhibitDelayMaxUSec`, and a sleep *delay* inhibitor lock
//! (`Inhibit("sleep", "<package> <task>", …, "delay")`). Then the thread
//! blocks in `poll`: an idle app is never woken.
//!
//! Sleep: logind waits for the lock (at most `InhibitDelayMaxUSec`, 5 s by
//! default) before the system sleeps. On `PrepareForSleep(true)` the task
//! gets `Suspending { deadline }`, a little under logind's maximum delay.
//! Tasks have no way to say "saved" (a deferral belongs to the whole run,
//! not to one sleep), so the lock is released at that deadline, when the
//! task was told to be done; at once if the task does not listen to
//! lifecycle events, so an app that does not care never delays a suspend.
//! On `PrepareForSleep(false)` the task gets `Resuming` and a new lock is
//! taken for the next sleep.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use super::dbus::{self, Conn, Incoming, Message, Value, Writer};
use crate::instance::LifecycleEvent;
use crate::lifecycle::Control;
use crate::CancellationReason;

const LOGIN1: &str = "org.freedesktop.login1";
const LOGIN1_PATH: &str = "/org/freedesktop/login1";
const LOGIN1_MANAGER: &str = "org.freedesktop.login1.Manager";
const BUS: &str = "org.freedesktop.DBus";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// How long a SIGTERM waits for systemd's answer: a dead bus must not eat
/// into the task's stop timeout. Writes are bounded the same way.
const QUERY_TIMEOUT: Duration = Duration::from_millis(200);
/// logind's default `InhibitDelayMaxUSec`.
const DEFAULT_SLEEP_DELAY: Duration = Duration::from_secs(5);

/// The bus connection and what was learnt from it.
pub(crate) struct Bus {
    conn: Conn,
    /// The connection was lost.
    down: AtomicBool,
    /// logind said `PrepareForShutdown(true)`.
    shutting_down: AtomicBool,
    /// The serial of the pending `SystemState` query, and its answer.
    state_query: AtomicU32,
    stopping: AtomicBool,
    answered: AtomicBool,
}

impl Bus {
    /// Connects and starts following logind; `None`, with a debug log
    /// only, without a bus.
    pub(crate) fn start(
        tx: mpsc::UnboundedSender<Control>,
        who: String,
        events: broadcast::Sender<LifecycleEvent>,
    ) -> Option<Arc<Bus>> {
        let address = dbus::system_bus_address();
        let started = Conn::connect(&address, QUERY_TIMEOUT).and_then(|conn| {
            let bus = Arc::new(Bus {
                conn,
                down: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
                state_query: AtomicU32::new(0),
                stopping: AtomicBool::new(false),
                answered: AtomicBool::new(false),
            });
            let reader = bus.clone();
            let follow = move || reader.follow(tx, &who, &events);
            super::spawn("bgapp-system", Box::new(follow))?;
            Ok(bus)
        });
        if let Err(e) = &started {
            debug(format_args!("no system bus at {address}: {e}"));
        }
        started.ok()
    }

    /// The reader thread: follows logind until the connection fails.
    fn follow(
        &self,
        tx: mpsc::UnboundedSender<Control>,
        who: &str,
        events: &broadcast::Sender<LifecycleEvent>,
    ) {
        let conn = &self.conn;
        const ADD_MATCH: [&str; 4] = [BUS, "/org/freedesktop/DBus", BUS, "AddMatch"];
        const INHIBIT: [&str; 4] = [LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "Inhibit"];
        let inhibit = ["sleep", who, "save state before sleep", "delay"];
        let setup: [([&str; 4], &[&str]); 4] = [
            (ADD_MATCH, &["type='signal',sender='org.freedesktop.login1',interface='org.freedesktop.login1.Manager',member='PrepareForShutdown'"]),
            (ADD_MATCH, &["type='signal',sender='org.freedesktop.login1',interface='org.freedesktop.login1.Manager',member='PrepareForSleep'"]),
            ([LOGIN1, LOGIN1_PATH, PROPERTIES, "Get"], &[LOGIN1_MANAGER, "InhibitDelayMaxUSec"]),
            (INHIBIT, &inhibit),
        ];
        // Replies are told apart by serial; 0 (a failed send) matches none.
        let mut serials = [0; 4];
        for (serial, (to, args)) in serials.iter_mut().zip(setup) {
            *serial = call(conn, to, args, &|_| {}).unwrap_or(0);
        }
        let [_, _, delay_query, mut inhibit_query] = serials;

        let mut notice = notice_for(DEFAULT_SLEEP_DELAY);
        let mut lock: Option<OwnedFd> = None;
        let mut release_at: Option<Instant> = None;
        // Set between PrepareForSleep(true) and (false): a lock granted in
        // that window (its Inhibit crossed the signal) is released at the
        // same deadline, not held through the sleep.
        let mut sleeping_until: Option<Instant> = None;
        let mut incoming = Incoming::default();
        let error = loop {
            let mut m = match conn.next(&mut incoming, release_at) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    // The sleep deadline passed: let the system sleep.
                    (lock, release_at) = (None, None);
                    continue;
                }
                Err(e) => break e,
            };
            let mut body = m.body();
            let r = m.reply_serial;
            // The bus delivers broadcast signals as the match rules say,
            // which it checks: from logind. A signal addressed to this
            // connection could come from anyone; only broadcasts count.
            let from_logind =
                m.field(dbus::DESTINATION).is_empty() && m.field(dbus::PATH) == LOGIN1_PATH;
            let mut control = None;
            match m.kind {
                // An error leaves things as they were: no lock, the default
                // delay, an operator stop.
                dbus::ERROR | dbus::METHOD_RETURN if r == self.state_query.load(SeqCst) => {
                    let stopping = matches!(body.variant(), Ok(Value::Str(s)) if s == "stopping");
                    self.stopping.store(stopping, SeqCst);
                    self.answered.store(true, SeqCst);
                }
                dbus::METHOD_RETURN if r == delay_query => {
                    if let Ok(Value::U64(us)) = body.variant() {
                        notice = notice_for(Duration::from_micros(us));
                    }
                }
                dbus::METHOD_RETURN if r == inhibit_query => {
                    let index = body.u32().map_or(usize::MAX, |i| i as usize);
                    lock = (index < m.fds.len()).then(|| m.fds.swap_remove(index));
                    if let Some(until) = sleeping_until {
                        if events.receiver_count() == 0 {
                            lock = None;
                        }
                        release_at = lock.as_ref().map(|_| until);
                    }
                }
                dbus::SIGNAL if from_logind && m.is(LOGIN1_MANAGER, "PrepareForShutdown") => {
                    self.shutting_down
                        .store(body.bool().unwrap_or(false), SeqCst);
                }
                dbus::SIGNAL if from_logind && m.is(LOGIN1_MANAGER, "PrepareForSleep") => {
                    if body.bool().unwrap_or(false) {
                        let deadline = Instant::now() + notice;
                        sleeping_until = Some(deadline);
                        control = Some(Control::Sleep(deadline.into()));
                        if events.receiver_count() == 0 {
                            lock = None;
                        }
                        release_at = lock.as_ref().map(|_| deadline);
                    } else {
                        control = Some(Control::Resume);
                        (lock, release_at, sleeping_until) = (None, None, None);
                        inhibit_query = call(conn, INHIBIT, &inhibit, &|_| {}).unwrap_or(0);
                    }
                }
                _ => {}
            }
            if let Some(c) = control {
                let _ = tx.send(c);
            }
        };
        // Nothing reconnects: from here on every SIGTERM is an operator
        // stop and sleep goes unannounced, which someone should know.
        tracing::warn!(
            "lost the system bus ({error}): shutdowns will be recorded as operator stops, and sleep will not be announced"
        );
        self.down.store(true, SeqCst);
    }

    /// Shutdown or operator stop; see the module docs of `system`.
    pub(crate) async fn stop_reason(&self) -> CancellationReason {
        if !self.shutting_down.load(SeqCst) && !self.down.load(SeqCst) {
            let to = [
                "org.freedesktop.systemd1",
                "/org/freedesktop/systemd1",
                PROPERTIES,
                "Get",
            ];
            let args = ["org.freedesktop.systemd1.Manager", "SystemState"];
            self.answered.store(false, SeqCst);
            let sent = |serial| self.state_query.store(serial, SeqCst);
            // One budget for sending and waiting: a slow send leaves less
            // time for the answer.
            let until = Instant::now() + QUERY_TIMEOUT;
            if call(&self.conn, to, &args, &sent).is_ok() {
                // Polled rather than signalled: this runs once per stop.
                while !self.answered.load(SeqCst)
                    && !self.down.load(SeqCst)
                    && Instant::now() < until
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        if self.shutting_down.load(SeqCst) || self.stopping.load(SeqCst) {
            CancellationReason::SystemShutdown
        } else {
            CancellationReason::StopRequested
        }
    }
}

/// Sends a method call with string arguments to `[destination, path,
/// interface, member]`; `sent` sees the serial first. Not generic, not
/// inlined: one copy for every call.
#[inline(never)]
fn call(conn: &Conn, to: [&str; 4], args: &[&str], sent: &dyn Fn(u32)) -> std::io::Result<u32> {
    let [dest, path, iface, member] = to;
    let mut body = Writer::new();
    for a in args {
        body.str(a);
    }
    let m = Message::method_call(dest, path, iface, member).with_body(&"ssss"[..args.len()], &body);
    conn.send_then(&m, sent)
}

/// The one place this module logs from: each log site costs binary size.
#[inline(never)]
fn debug(what: std::fmt::Arguments<'_>) {
    tracing::debug!("{what}");
}

/// The task is told to be done a little before logind stops waiting.
fn notice_for(delay: Duration) -> Duration {
    delay.saturating_sub((delay / 10).min(Duration::from_millis(500)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_notice_is_a_little_under_the_delay() {
        use std::time::Duration;
        assert_eq!(
            super::notice_for(Duration::from_secs(5)),
            Duration::from_millis(4500)
        );
        assert_eq!(
            super::notice_for(Duration::from_secs(1)),
            Duration::from_millis(900)
        );
        assert_eq!(
            super::notice_for(Duration::from_secs(30)),
            Duration::from_millis(29_500)
        );
    }
}
