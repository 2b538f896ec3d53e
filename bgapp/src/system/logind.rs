//! logind and systemd over the system bus: shutdown detection, sleep and
//! wake.
//!
//! Two parts. [`Follower`] makes every decision and does no I/O: it is
//! told what happened and when ([`Event`], with the current time), and
//! answers what to do ([`Action`]). [`Bus`] is the shell around it: it
//! moves bytes between the bus and the follower, holds the lock's fd, and
//! delivers to the task.
//!
//! **The shell.** At start the runtime connects (one `connect`, which fails
//! at once when there is no bus) and, only if that worked, starts one small
//! thread that owns the reading side. In one write behind `Hello` it asks
//! for logind's `PrepareForShutdown` and `PrepareForSleep` signals (match
//! rules on the sender `org.freedesktop.login1`, which the bus enforces),
//! then does what the follower says to do on connecting: ask for
//! `InhibitDelayMaxUSec` and take a sleep *delay* inhibitor lock
//! (`Inhibit("sleep", "<package> <task>", …, "delay")`). Then the thread
//! blocks in `poll` until a message arrives or the follower's next
//! deadline passes: an idle app is never woken. Replies are matched to
//! calls by serial; a reply to an `Inhibit` that a later one superseded
//! is dropped, which releases its lock.
//!
//! **The rules** ([`Follower`]):
//! - Only broadcasts from logind are believed: a signal addressed to this
//!   connection (any local user may send one) or from another path is
//!   ignored.
//! - Sleep: logind waits for delay locks (at most `InhibitDelayMaxUSec`,
//!   5 s by default and until it is known) before the system sleeps. On
//!   `PrepareForSleep(true)` the task gets `Suspending { deadline }`, a
//!   little under that delay (a tenth less, at most 500 ms less). Tasks
//!   have no way to say "saved" (a deferral belongs to the whole run, not
//!   to one sleep), so the lock is released at that deadline, when the
//!   task was told to be done; at once if the task does not listen to
//!   lifecycle events, so an app that does not care never delays a suspend.
//! - On `PrepareForSleep(false)` the task gets `Resuming`; a lock still
//!   held is released and a new one is asked for, for the next sleep.
//! - Shutdown: `PrepareForShutdown(true)` is remembered (and `false`, a
//!   cancelled shutdown, forgotten). A SIGTERM after it is a shutdown
//!   without asking anyone. Otherwise the SIGTERM asks systemd for
//!   `SystemState`: `stopping` means a shutdown, anything else, an error,
//!   no answer within 200 ms or a lost bus an operator stop. A `stopping`
//!   answer is remembered for later SIGTERMs.
//!
//! **Edge cases**, each unit-tested below:
//! - a lock granted during a sleep (its `Inhibit` crossed
//!   `PrepareForSleep(true)`) is released at that sleep's deadline, not
//!   held through the sleep; at once if that deadline already passed or
//!   the task does not listen;
//! - a wake before the deadline releases the lock held for that sleep;
//! - a refused `Inhibit` (an error, or a reply without an fd) leaves no
//!   lock, and the next wake asks again;
//! - an unreadable `InhibitDelayMaxUSec` keeps the default delay;
//! - a second `PrepareForSleep(true)` before the wake moves the deadline;
//! - `PrepareForShutdown(true)` during a pending `SystemState` query
//!   decides it; losing the bus ends the wait at once.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
const ADD_MATCH: [&str; 4] = [BUS, "/org/freedesktop/DBus", BUS, "AddMatch"];

/// How long a SIGTERM waits for systemd's answer: a dead bus must not eat
/// into the task's stop timeout. Writes are bounded the same way.
const QUERY_TIMEOUT: Duration = Duration::from_millis(200);
/// logind's default `InhibitDelayMaxUSec`.
const DEFAULT_SLEEP_DELAY: Duration = Duration::from_secs(5);

/// What the follower is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// The connection is up.
    Connected,
    /// A logind signal, with the header fields that say whom it was for.
    Signal {
        destination: &'a str,
        path: &'a str,
        signal: Signal,
    },
    /// The answer to the `InhibitDelayMaxUSec` query; `None` for an error
    /// or an unreadable value.
    DelayMax(Option<Duration>),
    /// The answer to the latest `Inhibit`: whether a lock came with it.
    Lock(bool),
    /// The latest `Inhibit` was refused for want of permission (no polkit,
    /// or a polkit rule that says no).
    LockDenied,
    /// A SIGTERM arrived and asks why.
    StopAsked,
    /// The answer to the latest `SystemState` query: the state, or `None`
    /// for an error or a query that could not be sent.
    SystemState(Option<&'a str>),
    /// Time passed: the deadline [`Follower::next_wake`] gave, or later.
    Tick,
    /// The connection is lost; nothing reconnects.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    PrepareForSleep(bool),
    PrepareForShutdown(bool),
}

/// What the follower says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Tell the task the system is about to sleep; it must be done by
    /// then.
    Suspending(Instant),
    /// Tell the task the system woke up.
    Resuming,
    /// Ask logind for a sleep delay lock (`Inhibit`).
    TakeLock,
    /// Close the lock's fd.
    ReleaseLock,
    /// Ask logind for `InhibitDelayMaxUSec`.
    QueryDelay,
    /// Ask systemd for `SystemState`.
    QuerySystemState,
    /// Warn that logind denies the lock: sleep will not wait for the task.
    WarnLockDenied,
}

/// The actions for one event, in order: at most three.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Actions([Option<Action>; 3]);

impl Actions {
    fn push(&mut self, a: Action) {
        let slot = self.0.iter_mut().find(|s| s.is_none());
        *slot.expect("at most three actions per event") = Some(a);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.0.iter().flatten().copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    Asked,
    Held,
}

/// The decisions of following logind and systemd, without I/O; see the
/// module docs for the rules.
#[derive(Debug)]
pub(crate) struct Follower {
    /// How long before the system sleeps the task is told to be done.
    notice: Duration,
    lock: Lock,
    /// Between `PrepareForSleep(true)` and `(false)`: that sleep's
    /// deadline, when a lock held for it is released.
    sleep_deadline: Option<Instant>,
    /// logind announced `PrepareForShutdown(true)`.
    shutting_down: bool,
    /// systemd answered `stopping` to a `SystemState` query.
    systemd_stopping: bool,
    /// A `SystemState` query waits for its answer until then.
    query_until: Option<Instant>,
    /// The connection was lost.
    down: bool,
    /// A denied lock was warned about: once per process is enough.
    denial_told: bool,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            notice: notice_for(DEFAULT_SLEEP_DELAY),
            lock: Lock::None,
            sleep_deadline: None,
            shutting_down: false,
            systemd_stopping: false,
            query_until: None,
            down: false,
            denial_told: false,
        }
    }
}

impl Follower {
    /// Takes in what happened at `now`; `listening` says whether the task
    /// listens to lifecycle events.
    pub(crate) fn handle(&mut self, event: Event<'_>, now: Instant, listening: bool) -> Actions {
        let mut out = Actions::default();
        match event {
            Event::Connected => {
                out.push(Action::QueryDelay);
                self.lock = Lock::Asked;
                out.push(Action::TakeLock);
            }
            // The bus delivers broadcasts as the match rules say, and it
            // checks their sender: logind. A signal addressed to this
            // connection could come from anyone.
            Event::Signal {
                destination,
                path,
                signal,
            } if destination.is_empty() && path == LOGIN1_PATH => match signal {
                Signal::PrepareForShutdown(on) => self.shutting_down = on,
                Signal::PrepareForSleep(true) => {
                    let deadline = now + self.notice;
                    self.sleep_deadline = Some(deadline);
                    out.push(Action::Suspending(deadline));
                }
                Signal::PrepareForSleep(false) => {
                    out.push(Action::Resuming);
                    self.sleep_deadline = None;
                    if self.lock == Lock::Held {
                        out.push(Action::ReleaseLock);
                    }
                    self.lock = Lock::Asked;
                    out.push(Action::TakeLock);
                }
            },
            Event::Signal { .. } => {}
            Event::DelayMax(delay) => {
                if let Some(d) = delay {
                    self.notice = notice_for(d);
                }
            }
            Event::Lock(granted) => {
                self.lock = if granted { Lock::Held } else { Lock::None };
            }
            Event::LockDenied => {
                self.lock = Lock::None;
                if !std::mem::replace(&mut self.denial_told, true) {
                    out.push(Action::WarnLockDenied);
                }
            }
            Event::StopAsked => {
                self.query_until = None;
                if !self.shutting_down && !self.systemd_stopping && !self.down {
                    self.query_until = Some(now + QUERY_TIMEOUT);
                    out.push(Action::QuerySystemState);
                }
            }
            Event::SystemState(state) => {
                self.systemd_stopping |= state == Some("stopping");
                self.query_until = None;
            }
            Event::Tick => {}
            Event::Lost => {
                self.down = true;
                self.lock = Lock::None;
            }
        }
        // A lock held during a sleep goes at that sleep's deadline, or at
        // once if the task does not listen.
        if self.lock == Lock::Held {
            if let Some(deadline) = self.sleep_deadline {
                if !listening || now >= deadline {
                    self.lock = Lock::None;
                    out.push(Action::ReleaseLock);
                }
            }
        }
        out
    }

    /// When to be told [`Event::Tick`]: the deadline of a lock held for a
    /// sleep.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.sleep_deadline.filter(|_| self.lock == Lock::Held)
    }

    /// Why the SIGTERM that sent [`Event::StopAsked`] arrived; `None` while
    /// the answer is still awaited.
    pub(crate) fn stop_reason(&self, now: Instant) -> Option<CancellationReason> {
        if self.shutting_down || self.systemd_stopping {
            return Some(CancellationReason::SystemShutdown);
        }
        match self.query_until {
            Some(until) if now < until && !self.down => None,
            _ => Some(CancellationReason::StopRequested),
        }
    }
}

/// The task is told to be done a little before logind stops waiting.
fn notice_for(delay: Duration) -> Duration {
    delay.saturating_sub((delay / 10).min(Duration::from_millis(500)))
}

/// The bus connection and the follower: the I/O shell.
pub(crate) struct Bus {
    conn: Conn,
    follower: Mutex<Follower>,
    events: broadcast::Sender<LifecycleEvent>,
    /// The serial of the latest `SystemState` query, stored before the
    /// query leaves (by the thread that sends it).
    state_query: AtomicU32,
}

impl Bus {
    /// Connects and starts following logind; `None` without a bus, with a
    /// warning under systemd and a debug log elsewhere.
    pub(crate) fn start(
        tx: mpsc::UnboundedSender<Control>,
        who: String,
        events: broadcast::Sender<LifecycleEvent>,
    ) -> Option<Arc<Bus>> {
        let address = dbus::system_bus_address();
        let started = Conn::connect(&address, QUERY_TIMEOUT).and_then(|conn| {
            let bus = Arc::new(Bus {
                conn,
                follower: Mutex::default(),
                events,
                state_query: AtomicU32::new(0),
            });
            let reader = bus.clone();
            let follow = move || reader.follow(tx, &who);
            super::spawn("bgapp-system", Box::new(follow))?;
            Ok(bus)
        });
        if let Err(e) = &started {
            // Under systemd a SIGTERM may be a shutdown: say once that it
            // cannot be told from an operator stop. Elsewhere (tests, a
            // shell) nobody needs to know.
            let systemd = ["NOTIFY_SOCKET", "INVOCATION_ID"]
                .iter()
                .any(|v| std::env::var_os(v).is_some());
            let log = if systemd { warn } else { debug };
            log(format_args!(
                "no system bus at {address} ({e}): shutdowns cannot be told from operator stops (every SIGTERM is taken as an operator stop), and sleep will not be announced"
            ));
        }
        started.ok()
    }

    fn follower(&self) -> MutexGuard<'_, Follower> {
        // Poisoned only if the follower panicked; its state is still whole.
        self.follower.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives `event` to the follower, now. The lock on it is not held
    /// while the actions are carried out.
    fn handle(&self, event: Event<'_>) -> Actions {
        let listening = self.events.receiver_count() > 0;
        self.follower().handle(event, Instant::now(), listening)
    }

    /// The reader thread: follows logind until the connection fails.
    fn follow(&self, tx: mpsc::UnboundedSender<Control>, who: &str) {
        const RULES: [&str; 2] = [
            "type='signal',sender='org.freedesktop.login1',interface='org.freedesktop.login1.Manager',member='PrepareForShutdown'",
            "type='signal',sender='org.freedesktop.login1',interface='org.freedesktop.login1.Manager',member='PrepareForSleep'",
        ];
        for rule in RULES {
            let _ = call(&self.conn, ADD_MATCH, &[rule], &|_| {});
        }
        let mut reader = Reader {
            bus: self,
            tx,
            inhibit: ["sleep", who, "save state before sleep", "delay"],
            lock: None,
            delay_query: 0,
            inhibit_query: 0,
        };
        reader.handle(Event::Connected);
        let mut incoming = Incoming::default();
        let error = loop {
            let wake = self.follower().next_wake();
            match self.conn.next(&mut incoming, wake) {
                Ok(Some(m)) => reader.receive(m),
                Ok(None) => reader.handle(Event::Tick),
                Err(e) => break e,
            }
        };
        reader.handle(Event::Lost);
        // Nothing reconnects: from here on every SIGTERM is an operator
        // stop and sleep goes unannounced, which someone should know.
        warn(format_args!(
            "lost the system bus ({error}): shutdowns will be recorded as operator stops, and sleep will not be announced"
        ));
    }

    /// Shutdown or operator stop; see the module docs of `system`.
    pub(crate) async fn stop_reason(&self) -> CancellationReason {
        let asked = self.handle(Event::StopAsked);
        if asked.iter().any(|a| a == Action::QuerySystemState) {
            let to = [
                "org.freedesktop.systemd1",
                "/org/freedesktop/systemd1",
                PROPERTIES,
                "Get",
            ];
            let args = ["org.freedesktop.systemd1.Manager", "SystemState"];
            let sent = |serial| self.state_query.store(serial, SeqCst);
            if call(&self.conn, to, &args, &sent).is_err() {
                self.handle(Event::SystemState(None));
            }
        }
        // Polled rather than signalled: this runs once per stop. The
        // follower's budget started before the send: a slow send leaves
        // less time for the answer.
        loop {
            if let Some(reason) = self.follower().stop_reason(Instant::now()) {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The reader thread's side of the shell: decodes messages into events,
/// carries out the follower's actions, holds the lock.
struct Reader<'a> {
    bus: &'a Bus,
    tx: mpsc::UnboundedSender<Control>,
    /// `Inhibit`'s arguments.
    inhibit: [&'a str; 4],
    lock: Option<OwnedFd>,
    /// The serials of the latest calls; 0 (a failed send) matches no reply.
    delay_query: u32,
    inhibit_query: u32,
}

impl Reader<'_> {
    fn handle(&mut self, event: Event<'_>) {
        for action in self.bus.handle(event).iter() {
            match action {
                Action::Suspending(at) => {
                    let _ = self.tx.send(Control::Sleep(at.into()));
                }
                Action::Resuming => {
                    let _ = self.tx.send(Control::Resume);
                }
                Action::TakeLock => {
                    let to = [LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "Inhibit"];
                    self.inhibit_query =
                        call(&self.bus.conn, to, &self.inhibit, &|_| {}).unwrap_or(0);
                }
                Action::ReleaseLock => self.lock = None,
                Action::QueryDelay => {
                    let to = [LOGIN1, LOGIN1_PATH, PROPERTIES, "Get"];
                    let args = [LOGIN1_MANAGER, "InhibitDelayMaxUSec"];
                    self.delay_query = call(&self.bus.conn, to, &args, &|_| {}).unwrap_or(0);
                }
                // Sent by `Bus::stop_reason`, on the signal's thread.
                Action::QuerySystemState => {}
                Action::WarnLockDenied => warn(format_args!(
                    "logind denied the sleep delay lock: the system will not wait for the task before it sleeps, so the task's `Suspending` notice may come too late to act on; to grant the lock, install polkit, or add a polkit rule allowing `org.freedesktop.login1.inhibit-delay-sleep` for the app's user"
                )),
            }
        }
    }

    /// Decodes a message into an event, if it is one.
    fn receive(&mut self, mut m: Message) {
        let mut body = m.body();
        let r = m.reply_serial;
        let reply = m.kind == dbus::METHOD_RETURN;
        let answer = reply || m.kind == dbus::ERROR;
        if answer && r == self.bus.state_query.load(SeqCst) {
            let state = match body.variant() {
                Ok(Value::Str(s)) if reply => Some(s),
                _ => None,
            };
            self.handle(Event::SystemState(state.as_deref()));
        } else if answer && r == self.delay_query {
            let delay = match body.variant() {
                Ok(Value::U64(us)) if reply => Some(Duration::from_micros(us)),
                _ => None,
            };
            self.handle(Event::DelayMax(delay));
        } else if answer && r == self.inhibit_query {
            let index = body.u32().map_or(usize::MAX, |i| i as usize);
            self.lock = (reply && index < m.fds.len()).then(|| m.fds.swap_remove(index));
            let denied = matches!(
                m.field(dbus::ERROR_NAME),
                "org.freedesktop.DBus.Error.AccessDenied"
                    | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
            );
            self.handle(match denied {
                true => Event::LockDenied,
                false => Event::Lock(self.lock.is_some()),
            });
        } else if m.kind == dbus::SIGNAL && m.field(dbus::INTERFACE) == LOGIN1_MANAGER {
            let on = body.bool().unwrap_or(false);
            let signal = match m.field(dbus::MEMBER) {
                "PrepareForSleep" => Signal::PrepareForSleep(on),
                "PrepareForShutdown" => Signal::PrepareForShutdown(on),
                _ => return,
            };
            self.handle(Event::Signal {
                destination: m.field(dbus::DESTINATION),
                path: m.field(dbus::PATH),
                signal,
            });
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

/// The two places this module logs from: each log site costs binary size.
#[inline(never)]
fn debug(what: std::fmt::Arguments<'_>) {
    tracing::debug!("{what}");
}

#[inline(never)]
fn warn(what: std::fmt::Arguments<'_>) {
    tracing::warn!("{what}");
}

#[cfg(test)]
mod tests {
    //! The follower on a fake clock: instants are built from one `t0` and
    //! passed in; nothing sleeps.

    use super::*;
    use Action::*;
    use CancellationReason::{StopRequested, SystemShutdown};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn broadcast(signal: Signal) -> Event<'static> {
        Event::Signal {
            destination: "",
            path: LOGIN1_PATH,
            signal,
        }
    }

    const SLEEP: Event = Event::Signal {
        destination: "",
        path: LOGIN1_PATH,
        signal: Signal::PrepareForSleep(true),
    };
    const WAKE: Event = Event::Signal {
        destination: "",
        path: LOGIN1_PATH,
        signal: Signal::PrepareForSleep(false),
    };

    /// A follower on a fake clock, with a task that listens unless told.
    struct Fake {
        f: Follower,
        t0: Instant,
    }

    impl Fake {
        /// Connected at `t0`, its lock granted, logind's delay 1 s.
        fn with_lock() -> Fake {
            let mut fake = Fake {
                f: Follower::default(),
                t0: Instant::now(),
            };
            assert_eq!(fake.at(0, Event::Connected), [QueryDelay, TakeLock]);
            assert_eq!(fake.at(1, Event::DelayMax(Some(ms(1_000)))), []);
            assert_eq!(fake.at(2, Event::Lock(true)), []);
            fake
        }

        fn t(&self, at_ms: u64) -> Instant {
            self.t0 + ms(at_ms)
        }

        fn at(&mut self, at_ms: u64, event: Event<'_>) -> Vec<Action> {
            self.f.handle(event, self.t(at_ms), true).iter().collect()
        }

        fn unheard(&mut self, at_ms: u64, event: Event<'_>) -> Vec<Action> {
            self.f.handle(event, self.t(at_ms), false).iter().collect()
        }

        fn reason(&self, at_ms: u64) -> Option<CancellationReason> {
            self.f.stop_reason(self.t(at_ms))
        }
    }

    #[test]
    fn the_notice_is_a_little_under_the_delay() {
        assert_eq!(notice_for(Duration::from_secs(5)), ms(4500));
        assert_eq!(notice_for(Duration::from_secs(1)), ms(900));
        assert_eq!(notice_for(Duration::from_secs(30)), ms(29_500));
        assert_eq!(notice_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_sleep_is_announced_with_its_deadline_and_the_lock_held_until_then() {
        let mut fake = Fake::with_lock();
        let deadline = fake.t(100 + 900);
        assert_eq!(fake.at(100, SLEEP), [Suspending(deadline)]);
        assert_eq!(fake.f.next_wake(), Some(deadline));
        assert_eq!(fake.at(999, Event::Tick), [], "held until the deadline");
        assert_eq!(fake.at(1_000, Event::Tick), [ReleaseLock]);
        assert_eq!(fake.f.next_wake(), None);
        assert_eq!(fake.at(1_500, Event::Tick), [], "released once");
    }

    #[test]
    fn until_the_delay_is_known_the_default_5_s_is_assumed() {
        for answer in [None, Some(Event::DelayMax(None))] {
            let mut f = Follower::default();
            let t0 = Instant::now();
            f.handle(Event::Connected, t0, true);
            if let Some(a) = answer {
                f.handle(a, t0, true);
            }
            let got: Vec<_> = f.handle(SLEEP, t0, true).iter().collect();
            assert_eq!(got, [Suspending(t0 + ms(4_500))], "{answer:?}");
        }
    }

    #[test]
    fn a_wake_is_announced_and_a_new_lock_asked_for() {
        let mut fake = Fake::with_lock();
        fake.at(100, SLEEP);
        assert_eq!(fake.at(1_000, Event::Tick), [ReleaseLock]);
        assert_eq!(fake.at(60_000, WAKE), [Resuming, TakeLock]);
        assert_eq!(fake.at(60_010, Event::Lock(true)), []);
        assert_eq!(fake.f.next_wake(), None, "held until the next sleep");
        let deadline = fake.t(70_900);
        assert_eq!(fake.at(70_000, SLEEP), [Suspending(deadline)]);
        assert_eq!(fake.f.next_wake(), Some(deadline));
    }

    #[test]
    fn a_wake_before_the_deadline_releases_the_lock_of_that_sleep() {
        let mut fake = Fake::with_lock();
        fake.at(100, SLEEP);
        assert_eq!(fake.at(300, WAKE), [Resuming, ReleaseLock, TakeLock]);
        assert_eq!(fake.f.next_wake(), None);
        assert_eq!(fake.at(1_000, Event::Tick), []);
    }

    #[test]
    fn a_task_that_does_not_listen_never_delays_a_sleep() {
        let mut fake = Fake::with_lock();
        assert_eq!(
            fake.unheard(100, SLEEP),
            [Suspending(fake.t(1_000)), ReleaseLock]
        );
        assert_eq!(fake.f.next_wake(), None);
        // Nor does a lock granted during a sleep.
        assert_eq!(fake.unheard(200, WAKE), [Resuming, TakeLock]);
        fake.unheard(300, SLEEP);
        assert_eq!(fake.unheard(400, Event::Lock(true)), [ReleaseLock]);
    }

    #[test]
    fn a_lock_granted_during_a_sleep_is_released_at_its_deadline() {
        let mut fake = Fake::with_lock();
        fake.at(100, SLEEP);
        fake.at(1_000, Event::Tick);
        // The next Inhibit crosses the next PrepareForSleep(true).
        assert_eq!(fake.at(5_000, WAKE), [Resuming, TakeLock]);
        let deadline = fake.t(6_900);
        assert_eq!(fake.at(6_000, SLEEP), [Suspending(deadline)]);
        assert_eq!(fake.f.next_wake(), None, "no lock yet");
        assert_eq!(fake.at(6_100, Event::Lock(true)), []);
        assert_eq!(fake.f.next_wake(), Some(deadline));
        assert_eq!(fake.at(6_900, Event::Tick), [ReleaseLock]);

        // Granted after that sleep's deadline: released at once.
        fake.at(10_000, WAKE);
        fake.at(11_000, SLEEP);
        assert_eq!(fake.at(12_000, Event::Lock(true)), [ReleaseLock]);
    }

    #[test]
    fn a_refused_lock_leaves_none_and_the_next_wake_asks_again() {
        let mut fake = Fake::with_lock();
        fake.at(100, WAKE);
        assert_eq!(fake.at(200, Event::Lock(false)), []);
        assert_eq!(fake.at(300, SLEEP), [Suspending(fake.t(1_200))]);
        assert_eq!(fake.f.next_wake(), None, "nothing to release");
        assert_eq!(fake.at(2_000, WAKE), [Resuming, TakeLock]);
    }

    #[test]
    fn a_denied_lock_is_warned_about_once_and_asked_for_again_at_each_wake() {
        let mut fake = Fake::with_lock();
        fake.at(100, WAKE);
        assert_eq!(fake.at(200, Event::LockDenied), [WarnLockDenied]);
        assert_eq!(fake.at(300, SLEEP), [Suspending(fake.t(1_200))]);
        assert_eq!(fake.f.next_wake(), None, "nothing to release");
        assert_eq!(fake.at(2_000, WAKE), [Resuming, TakeLock]);
        assert_eq!(fake.at(2_100, Event::LockDenied), [], "told once");
        // Other refusals (no logind on the bus) are not a permission
        // matter: nothing to tell.
        let mut other = Fake::with_lock();
        other.at(100, WAKE);
        assert_eq!(other.at(200, Event::Lock(false)), []);
    }

    #[test]
    fn a_second_sleep_announcement_moves_the_deadline() {
        let mut fake = Fake::with_lock();
        fake.at(100, SLEEP);
        let later = fake.t(500 + 900);
        assert_eq!(fake.at(500, SLEEP), [Suspending(later)]);
        assert_eq!(fake.f.next_wake(), Some(later));
        assert_eq!(fake.at(1_000, Event::Tick), []);
        assert_eq!(fake.at(1_400, Event::Tick), [ReleaseLock]);
    }

    #[test]
    fn only_broadcasts_from_logind_are_believed() {
        let mut fake = Fake::with_lock();
        for (destination, path) in [(":1.42", LOGIN1_PATH), ("", "/org/example/login1")] {
            for signal in [
                Signal::PrepareForSleep(true),
                Signal::PrepareForSleep(false),
                Signal::PrepareForShutdown(true),
            ] {
                let spoof = Event::Signal {
                    destination,
                    path,
                    signal,
                };
                assert_eq!(fake.at(100, spoof), [], "{spoof:?}");
            }
        }
        assert_eq!(fake.f.next_wake(), None);
        // The spoofed shutdown was not remembered: a SIGTERM asks systemd.
        assert_eq!(fake.at(200, Event::StopAsked), [QuerySystemState]);
    }

    #[test]
    fn a_shutdown_announced_by_logind_needs_no_question() {
        let mut fake = Fake::with_lock();
        fake.at(100, broadcast(Signal::PrepareForShutdown(true)));
        assert_eq!(fake.at(200, Event::StopAsked), []);
        assert_eq!(fake.reason(200), Some(SystemShutdown));
        // A cancelled shutdown is forgotten.
        fake.at(300, broadcast(Signal::PrepareForShutdown(false)));
        assert_eq!(fake.at(400, Event::StopAsked), [QuerySystemState]);
    }

    #[test]
    fn systemd_stopping_is_a_shutdown_and_anything_else_an_operator_stop() {
        for (answer, want) in [
            (Some("stopping"), SystemShutdown),
            (Some("running"), StopRequested),
            (Some("degraded"), StopRequested),
            (None, StopRequested),
        ] {
            let mut fake = Fake::with_lock();
            assert_eq!(fake.at(100, Event::StopAsked), [QuerySystemState]);
            assert_eq!(fake.reason(100), None, "waits for the answer");
            assert_eq!(fake.at(150, Event::SystemState(answer)), []);
            assert_eq!(fake.reason(150), Some(want), "{answer:?}");
        }
    }

    #[test]
    fn no_answer_within_200_ms_is_an_operator_stop() {
        let mut fake = Fake::with_lock();
        fake.at(100, Event::StopAsked);
        assert_eq!(fake.reason(299), None);
        assert_eq!(fake.reason(300), Some(StopRequested));
    }

    #[test]
    fn a_shutdown_announced_during_the_question_decides_it() {
        let mut fake = Fake::with_lock();
        fake.at(100, Event::StopAsked);
        fake.at(120, broadcast(Signal::PrepareForShutdown(true)));
        assert_eq!(fake.reason(120), Some(SystemShutdown));
    }

    #[test]
    fn a_stopping_answer_is_remembered_for_the_next_sigterm() {
        let mut fake = Fake::with_lock();
        fake.at(100, Event::StopAsked);
        fake.at(110, Event::SystemState(Some("stopping")));
        assert_eq!(fake.at(5_000, Event::StopAsked), []);
        assert_eq!(fake.reason(5_000), Some(SystemShutdown));
    }

    #[test]
    fn a_lost_bus_ends_the_wait_and_is_asked_nothing_more() {
        let mut fake = Fake::with_lock();
        fake.at(100, Event::StopAsked);
        assert_eq!(fake.reason(110), None);
        assert_eq!(fake.at(120, Event::Lost), []);
        assert_eq!(fake.reason(120), Some(StopRequested));
        assert_eq!(fake.at(200, Event::StopAsked), []);
        assert_eq!(fake.reason(200), Some(StopRequested));
        // Its lock went with it, and sleep goes unannounced by it.
        assert_eq!(fake.f.next_wake(), None);
    }
}
