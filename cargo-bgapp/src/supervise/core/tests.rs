//! The core on a fake clock: plain `Instant`s that only the test moves,
//! no processes, no sleeping. Each test checks what systemd does in the
//! same case with the units `cargo bgapp package` writes, and cites the
//! rule (systemd.service(5), systemd.unit(5), systemd.timer(5),
//! systemd.socket(5), systemd.path(5)).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::policy::{stop_kill_after, RESTART_DELAY, START_LIMIT_BURST};
use bgapp_manifest::{
    CancellationReason, PathCondition, Restart, Schedule, TaskManifest, Trigger, FORMAT_VERSION,
};

use super::{Action, ClientId, Core, Input, Line, Now, Why};
use crate::supervise::policy::Ending;
use crate::supervise::{Reply, Request};

const SEC: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn task(name: &str, trigger: Trigger) -> TaskManifest {
    TaskManifest {
        format: FORMAT_VERSION,
        name: name.into(),
        function: name.into(),
        package: "app".into(),
        description: None,
        restart: trigger.default_restart(),
        trigger,
        stop_timeout_ms: 5_000,
        time_limit_ms: None,
        watchdog_ms: None,
        ready: Default::default(),
        start_timeout_ms: None,
        args: Default::default(),
    }
}

fn boot(name: &str) -> TaskManifest {
    task(name, Trigger::Boot)
}

fn manual(name: &str) -> TaskManifest {
    task(name, Trigger::Manual)
}

fn every(name: &str, interval: Duration) -> TaskManifest {
    let schedule = Schedule::Every(interval);
    task(name, Trigger::Timer { schedule })
}

fn calendar(name: &str, spec: &str) -> TaskManifest {
    let schedule = Schedule::Calendar(spec.into());
    task(name, Trigger::Timer { schedule })
}

fn socket(name: &str) -> TaskManifest {
    let listen = "127.0.0.1:39999".into();
    task(name, Trigger::Socket { listen })
}

fn path(name: &str) -> TaskManifest {
    let condition = PathCondition::NotEmpty;
    task(
        name,
        Trigger::Path {
            condition,
            path: "/srv/in".into(),
        },
    )
}

const OK: Ending = Ending::Code(0);
const FAILED: Ending = Ending::Code(1);

/// 2024-01-01 00:00:00 UTC, the wall clock at the start of every run.
fn new_year() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

/// A core driven as the loop of `supervise/mod.rs` drives it: spawns,
/// deliveries and path checks are answered at once, and every action is
/// logged with the time it was asked for.
struct Sim {
    core: Core,
    t0: Instant,
    w0: SystemTime,
    at: Duration,
    log: Vec<(Duration, Action)>,
    wake: Option<Instant>,
    pids: Vec<Option<u32>>,
    next_pid: u32,
    next_client: u64,
    fail_spawns: bool,
    /// Whether each path task's condition holds.
    holds: Vec<bool>,
    deliver_error: Option<String>,
    exit: Option<u8>,
}

impl Sim {
    fn new(tasks: Vec<TaskManifest>) -> Sim {
        Sim::starting_at(tasks, new_year(), true)
    }

    /// A run starting at wall time `w0`; `boot`: the run begins at once.
    fn starting_at(tasks: Vec<TaskManifest>, w0: SystemTime, boot: bool) -> Sim {
        let t0 = Instant::now();
        let n = tasks.len();
        let now = Now { mono: t0, wall: w0 };
        let mut sim = Sim {
            core: Core::new(tasks, now).expect("valid tasks"),
            t0,
            w0,
            at: Duration::ZERO,
            log: Vec::new(),
            wake: None,
            pids: vec![None; n],
            next_pid: 100,
            next_client: 0,
            fail_spawns: false,
            holds: vec![false; n],
            deliver_error: None,
            exit: None,
        };
        if boot {
            sim.feed(Input::Boot);
        }
        sim
    }

    fn now(&self) -> Now {
        Now {
            mono: self.t0 + self.at,
            wall: self.w0 + self.at,
        }
    }

    fn feed(&mut self, input: Input) {
        let mut pending: Vec<Action> = Vec::new();
        let mut next = Some(input);
        loop {
            if let Some(input) = next.take() {
                let step = self.core.handle(self.now(), input);
                self.wake = step.wake;
                pending.extend(step.actions.into_iter().rev());
            }
            let Some(action) = pending.pop() else {
                return;
            };
            self.log.push((self.at, action.clone()));
            next = match action {
                Action::Spawn { task, .. } if self.fail_spawns => Some(Input::SpawnFailed {
                    task,
                    error: "failed to run `app`: No such file or directory".into(),
                }),
                Action::Spawn { task, .. } => {
                    self.next_pid += 1;
                    self.pids[task] = Some(self.next_pid);
                    Some(Input::Spawned {
                        task,
                        pid: self.next_pid,
                    })
                }
                Action::Deliver {
                    task,
                    client,
                    message,
                } => Some(Input::Delivered {
                    task,
                    client,
                    message,
                    error: self.deliver_error.clone(),
                }),
                Action::CheckPath { task } if self.holds[task] => Some(Input::PathFired { task }),
                Action::Exit(code) => {
                    self.exit = Some(code);
                    None
                }
                _ => None,
            };
        }
    }

    /// Moves the clock to `t` after the start, waking the core at each
    /// time it asked for on the way, as the loop's `poll` timeout does.
    fn run_until(&mut self, t: Duration) {
        for _ in 0..10_000 {
            match self.wake {
                Some(wake) if wake <= self.t0 + t => {
                    self.at = self.at.max(wake - self.t0);
                    self.feed(Input::Tick);
                }
                _ => {
                    self.at = self.at.max(t);
                    return;
                }
            }
        }
        panic!("the core keeps asking to be woken by {:?}", self.wake);
    }

    fn exit(&mut self, task: usize, ending: Ending) {
        let pid = self.pids[task].expect("the task ran");
        self.feed(Input::Exited { task, pid, ending });
    }

    fn request(&mut self, request: Request) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        self.feed(Input::Request { client, request });
        client
    }

    fn fire(&mut self, task: &str) -> ClientId {
        self.request(Request::Fire { task: task.into() })
    }

    fn stop(&mut self, task: &str, reason: Option<CancellationReason>) -> ClientId {
        let task = task.into();
        self.request(Request::Stop { task, reason })
    }

    fn notify(&mut self, task: usize, text: &str) {
        let text = text.into();
        self.feed(Input::Notify { task, text });
    }

    fn spawns(&self) -> Vec<(Duration, usize, Why)> {
        let spawns = self.log.iter().filter_map(|(at, a)| match a {
            Action::Spawn { task, why } => Some((*at, *task, *why)),
            _ => None,
        });
        spawns.collect()
    }

    fn start_times(&self, task: usize) -> Vec<Duration> {
        let spawns = self.spawns().into_iter();
        spawns.filter(|s| s.1 == task).map(|s| s.0).collect()
    }

    /// `(time, signal, whole group)` of every signal sent.
    fn signals(&self) -> Vec<(Duration, i32, bool)> {
        let signals = self.log.iter().filter_map(|(at, a)| match a {
            Action::Signal { signal, group, .. } => Some((*at, *signal, *group)),
            _ => None,
        });
        signals.collect()
    }

    /// The lines printed, as the shell prints them (`Verb text`,
    /// `warning: text`).
    fn lines(&self) -> Vec<String> {
        let lines = self.log.iter().filter_map(|(_, a)| match a {
            Action::Say(Line::Status(verb, text) | Line::Verbose(verb, text)) => {
                Some(format!("{verb} {text}"))
            }
            Action::Say(Line::Warn(text)) => Some(format!("warning: {text}")),
            _ => None,
        });
        lines.collect()
    }

    #[track_caller]
    fn assert_said(&self, needle: &str) {
        let lines = self.lines();
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "`{needle}` not said in:\n{}",
            lines.join("\n")
        );
    }

    fn replies(&self, client: ClientId) -> Vec<Reply> {
        let replies = self.log.iter().filter_map(|(_, a)| match a {
            Action::Reply { client: c, reply } if *c == client => Some(reply.clone()),
            _ => None,
        });
        replies.collect()
    }

    #[track_caller]
    fn reply(&self, client: ClientId) -> Reply {
        match self.replies(client).as_slice() {
            [reply] => reply.clone(),
            other => panic!("not one reply: {other:?}"),
        }
    }
}

// --- Restart=, RestartSec=, RestartPreventExitStatus=, SuccessExitStatus= ---

/// A boot task with `restart` that ends with `ending` after 1 s: whether
/// it is started again, which must be `RestartSec=` after the end.
fn restarted(restart: Restart, ending: Ending) -> bool {
    let mut sim = Sim::new(vec![TaskManifest {
        restart,
        ..boot("a")
    }]);
    sim.run_until(SEC);
    sim.exit(0, ending);
    sim.run_until(SEC * 30);
    match sim.spawns().as_slice() {
        [_] => false,
        [_, (at, 0, Why::Restart)] => {
            assert_eq!(*at, SEC + RESTART_DELAY, "{restart:?} {ending}");
            true
        }
        other => panic!("{restart:?} {ending}: {other:?}"),
    }
}

const SIGNALS_CLEAN: [i32; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE];
const SIGNALS_UNCLEAN: [i32; 4] = [libc::SIGKILL, libc::SIGSEGV, libc::SIGABRT, libc::SIGQUIT];

/// systemd.service(5), `Restart=always`: restarted after any ending, but
/// `RestartPreventExitStatus=2 4` still holds.
#[test]
fn always_restarts_after_anything_but_2_and_4() {
    for code in [0, 1, 3, 5] {
        assert!(restarted(Restart::Always, Ending::Code(code)), "{code}");
    }
    for signal in SIGNALS_CLEAN.into_iter().chain(SIGNALS_UNCLEAN) {
        assert!(
            restarted(Restart::Always, Ending::Signal(signal)),
            "{signal}"
        );
    }
    for code in [2, 4] {
        assert!(!restarted(Restart::Always, Ending::Code(code)), "{code}");
    }
}

/// systemd.service(5), `Restart=on-failure`: restarted after an unclean
/// exit code (1, 3); not after 0 or a `SuccessExitStatus=` code (5).
#[test]
fn on_failure_restarts_after_an_unclean_exit_code() {
    assert!(restarted(Restart::OnFailure, Ending::Code(1)));
    assert!(restarted(Restart::OnFailure, Ending::Code(3)));
    assert!(!restarted(Restart::OnFailure, Ending::Code(0)));
    assert!(!restarted(Restart::OnFailure, Ending::Code(5)));
}

/// systemd.service(5), `Restart=on-failure`: restarted after an unclean
/// signal; SIGHUP, SIGINT, SIGTERM and SIGPIPE are clean.
#[test]
fn on_failure_restarts_after_an_unclean_signal() {
    for signal in SIGNALS_UNCLEAN {
        assert!(
            restarted(Restart::OnFailure, Ending::Signal(signal)),
            "{signal}"
        );
    }
    for signal in SIGNALS_CLEAN {
        assert!(
            !restarted(Restart::OnFailure, Ending::Signal(signal)),
            "{signal}"
        );
    }
}

/// systemd.service(5), `RestartPreventExitStatus=2 4`: never restarted
/// after a usage error or a permanent failure.
#[test]
fn on_failure_never_restarts_after_2_or_4() {
    for code in [2, 4] {
        assert!(!restarted(Restart::OnFailure, Ending::Code(code)), "{code}");
    }
}

/// systemd.service(5), `Restart=no`: never restarted.
#[test]
fn never_is_never_restarted() {
    for code in 0..=5 {
        assert!(!restarted(Restart::Never, Ending::Code(code)), "{code}");
    }
    for signal in SIGNALS_CLEAN.into_iter().chain(SIGNALS_UNCLEAN) {
        assert!(
            !restarted(Restart::Never, Ending::Signal(signal)),
            "{signal}"
        );
    }
}

/// The `Exited` line says what comes next, and why not a restart when
/// the run failed or its status prevents restarts.
#[test]
fn the_exit_line_says_what_comes_next() {
    let mut sim = Sim::new(vec![
        boot("crash"),
        TaskManifest {
            restart: Restart::OnFailure,
            ..boot("done")
        },
        boot("doomed"),
        TaskManifest {
            restart: Restart::Never,
            ..boot("once")
        },
    ]);
    sim.run_until(ms(1_500));
    sim.exit(0, Ending::Signal(libc::SIGSEGV));
    sim.exit(1, OK);
    sim.exit(2, Ending::Code(4));
    sim.exit(3, FAILED);
    let lines = sim.lines();
    let exited: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("Exited"))
        .map(|l| l.as_str())
        .collect();
    assert_eq!(
        exited,
        [
            "Exited crash with signal 11 (SIGSEGV) after 1.5s; restarting in 1s",
            "Exited done with status 0 (finished) after 1.5s",
            "Exited doomed with status 4 (failed permanently) after 1.5s; not restarted: its exit status prevents restarts",
            "Exited once with status 1 (failed) after 1.5s; not restarted: restart = \"never\"",
        ]
    );
}

/// systemd.service(5), `RestartSec=`: the restart comes after the delay,
/// not before.
#[test]
fn a_restart_waits_restart_sec() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.run_until(SEC);
    sim.exit(0, FAILED);
    sim.run_until(SEC + RESTART_DELAY - ms(1));
    assert_eq!(sim.start_times(0), [Duration::ZERO]);
    sim.run_until(SEC + RESTART_DELAY);
    assert_eq!(sim.start_times(0), [Duration::ZERO, SEC + RESTART_DELAY]);
    assert_eq!(sim.spawns()[1].2, Why::Restart);
    sim.assert_said("Started a (restart, pid 102)");
}

/// A run that could not even be started (systemd's 203/EXEC) is a
/// failure: restarted as the policy says.
#[test]
fn a_failed_spawn_is_a_failed_run() {
    let mut sim = Sim::starting_at(
        vec![
            boot("a"),
            TaskManifest {
                restart: Restart::Never,
                ..boot("b")
            },
        ],
        new_year(),
        false,
    );
    sim.fail_spawns = true;
    sim.feed(Input::Boot);
    sim.assert_said("warning: task `a` cannot be started: failed to run `app`: No such file");
    sim.fail_spawns = false;
    sim.run_until(SEC * 5);
    assert_eq!(sim.start_times(0), [Duration::ZERO, RESTART_DELAY]);
    assert_eq!(sim.start_times(1), [Duration::ZERO], "restart = never");
}

// --- StartLimitIntervalSec=, StartLimitBurst= ---

/// systemd.unit(5), `StartLimitBurst=`: a crash loop makes the burst of
/// starts within the interval, then the unit is failed and not restarted.
#[test]
fn a_crash_loop_hits_the_start_limit_and_stays_failed() {
    let mut sim = Sim::new(vec![boot("loop")]);
    for _ in 0..10 {
        if sim.pids[0].is_some() && !sim.lines().iter().any(|l| l.contains("start limit")) {
            sim.exit(0, FAILED);
        }
        let at = sim.at;
        sim.run_until(at + RESTART_DELAY);
    }
    assert_eq!(sim.spawns().len(), START_LIMIT_BURST as usize);
    sim.assert_said(
        "warning: task `loop` failed: start limit hit (5 starts within 60s); it is not started again\n\n\
         help: `cargo bgapp trigger loop` resets the limit, as `systemctl reset-failed app-loop.service` would, and starts it",
    );
    sim.run_until(SEC * 600);
    assert_eq!(sim.spawns().len(), START_LIMIT_BURST as usize);
    assert_eq!(sim.wake, None, "nothing left to wake for");
}

/// systemd.unit(5), `StartLimitIntervalSec=`: only the starts within the
/// interval count; a task that fails once a minute restarts forever.
#[test]
fn starts_outside_the_interval_do_not_count() {
    let mut sim = Sim::new(vec![boot("slow")]);
    for n in 1..=12u32 {
        sim.run_until(SEC * 20 * n);
        sim.exit(0, FAILED);
        sim.run_until(SEC * 20 * n + RESTART_DELAY);
    }
    assert_eq!(sim.spawns().len(), 13);
    assert!(!sim.lines().iter().any(|l| l.contains("start limit")));
}

/// A manual start after a failure resets the start limit, as
/// `systemctl reset-failed` then `systemctl start` do.
#[test]
fn a_trigger_starts_a_failed_task_again() {
    let mut sim = Sim::new(vec![boot("loop")]);
    while !sim.lines().iter().any(|l| l.contains("start limit")) {
        sim.exit(0, FAILED);
        let at = sim.at;
        sim.run_until(at + RESTART_DELAY);
    }
    let client = sim.fire("loop");
    assert_eq!(
        sim.reply(client),
        Reply::ok("task `loop`: started (pid 106)")
    );
    assert_eq!(sim.spawns().last().unwrap().2, Why::Manual);
    // The limit starts afresh: the crash loop gets its full burst again.
    let before = sim.spawns().len();
    for _ in 0..10 {
        sim.exit(0, FAILED);
        let at = sim.at;
        sim.run_until(at + RESTART_DELAY);
        if sim
            .lines()
            .iter()
            .filter(|l| l.contains("start limit"))
            .count()
            == 2
        {
            break;
        }
    }
    assert_eq!(sim.spawns().len() - before, START_LIMIT_BURST as usize - 1);
}

/// A trigger that hits the start limit answers that the task could not
/// be started, and why.
#[test]
fn a_trigger_over_the_start_limit_is_refused() {
    let mut sim = Sim::new(vec![boot("loop")]);
    for _ in 0..4 {
        sim.exit(0, FAILED);
        let at = sim.at;
        sim.run_until(at + RESTART_DELAY);
    }
    sim.exit(0, FAILED);
    // Waiting to restart; the trigger's start is the sixth in a minute.
    let client = sim.fire("loop");
    assert_eq!(
        sim.reply(client),
        Reply::error(
            "task `loop` was not started: start limit hit (5 starts within 60s); \
             trigger it again to reset the limit and start it, as `systemctl reset-failed app-loop.service` and `systemctl start` would"
        )
    );
    sim.assert_said("start limit hit");
}

/// systemd.unit(5): `StartLimitBurst=` counts every start, `systemctl
/// start` too, and refuses more until the interval has passed or
/// `systemctl reset-failed`. A manual task fired a sixth time within a
/// minute is refused with why; the next trigger resets the limit, as
/// `systemctl reset-failed` would, and starts it (was: refused with
/// "`cargo bgapp trigger` starts it again" and nothing about why).
#[test]
fn a_manual_task_fired_over_its_start_limit_says_what_systemd_does() {
    let mut sim = Sim::new(vec![manual("m")]);
    for n in 1..=5u32 {
        let client = sim.fire("m");
        assert!(sim.reply(client).ok, "start {n}");
        sim.exit(0, OK);
        sim.run_until(SEC * n);
    }
    let client = sim.fire("m");
    assert!(!sim.reply(client).ok);
    sim.assert_said(
        "warning: task `m` was not started: start limit hit (5 starts within 60s, counting every start, as systemd does); \
         systemd refuses `systemctl start` now, until the interval has passed or `systemctl reset-failed app-m.service`\n\n\
         help: the next `cargo bgapp trigger m` resets the limit, as `systemctl reset-failed` would, and starts it",
    );
    assert_eq!(sim.spawns().len(), 5);
    let client = sim.fire("m");
    assert!(
        sim.reply(client).message.contains(": started (pid "),
        "the next one starts it"
    );
    assert_eq!(sim.spawns().len(), 6);
}

// --- TimeoutStopSec=, systemctl stop ---

/// systemd.service(5), `TimeoutStopSec=`, with systemd.kill(5)'s
/// `KillMode=mixed`: SIGTERM to the main process only (its children, a
/// request's helper, are its to stop), then SIGKILL to the whole group
/// once the stop timeout (plus the margin) has passed.
#[test]
fn a_stop_is_sigterm_then_sigkill_at_the_deadline() {
    let a = TaskManifest {
        stop_timeout_ms: 1_000,
        ..boot("a")
    };
    let kill_at = SEC + stop_kill_after(&a);
    let mut sim = Sim::new(vec![a]);
    sim.run_until(SEC);
    let client = sim.stop("a", None);
    sim.assert_said("Stopping a (SIGTERM)");
    sim.run_until(kill_at - ms(1));
    assert_eq!(sim.signals(), [(SEC, libc::SIGTERM, false)]);
    assert!(sim.replies(client).is_empty(), "answered at the end");
    sim.run_until(kill_at);
    assert_eq!(sim.signals()[1], (kill_at, libc::SIGKILL, true));
    sim.assert_said("warning: task `a` did not exit within 3s of its stop; killing it (SIGKILL)");
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    assert_eq!(sim.reply(client), Reply::ok("task `a`: signal 9 (SIGKILL)"));
    sim.assert_said("Stopped a: signal 9 (SIGKILL) after 4.0s");
    assert_eq!(sim.wake, None);
}

/// systemd.service(5): a service stopped with `systemctl stop` is not
/// restarted, whatever `Restart=` says.
#[test]
fn a_stopped_task_is_not_restarted() {
    let mut sim = Sim::new(vec![boot("a")]);
    assert_eq!(sim.core.tasks[0].manifest.restart, Restart::Always);
    sim.run_until(SEC);
    let client = sim.stop("a", None);
    sim.exit(0, Ending::Code(1));
    assert_eq!(sim.reply(client), Reply::ok("task `a`: status 1 (failed)"));
    sim.run_until(SEC * 60);
    assert_eq!(sim.spawns().len(), 1);
    sim.assert_said("Stopped a: status 1 (failed) after 1.0s");
}

/// A second stop never postpones the kill of the first (the stop job is
/// merged into the one under way); both clients hear of the end.
#[test]
fn a_second_stop_never_postpones_the_kill() {
    let mut sim = Sim::new(vec![boot("a")]);
    let kill_after = stop_kill_after(&boot("a"));
    let first = sim.stop("a", None);
    sim.run_until(SEC * 3);
    let second = sim.stop("a", None);
    sim.run_until(kill_after);
    assert_eq!(
        sim.signals(),
        [
            (Duration::ZERO, libc::SIGTERM, false),
            (kill_after, libc::SIGKILL, true)
        ]
    );
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    assert!(sim.reply(first).ok && sim.reply(second).ok);
}

/// `RuntimeMaxSec=` stops the run; an operator's stop after it keeps its
/// kill deadline (the `obstinate` case of `tests/run.rs`).
#[test]
fn a_stop_after_the_time_limit_stop_keeps_its_deadline() {
    let a = TaskManifest {
        time_limit_ms: Some(2_000),
        stop_timeout_ms: 1_000,
        restart: Restart::OnFailure,
        ..boot("a")
    };
    let stop_at = ms(2_000) + stop_kill_after(&a);
    let mut sim = Sim::new(vec![a.clone()]);
    sim.run_until(stop_at + ms(1_500));
    let client = sim.stop("a", None);
    sim.run_until(stop_at + stop_kill_after(&a));
    let kill = (stop_at + stop_kill_after(&a), libc::SIGKILL, true);
    assert_eq!(sim.signals().last(), Some(&kill));
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    assert!(sim.reply(client).ok);
    sim.run_until(SEC * 60);
    assert_eq!(sim.spawns().len(), 1, "stopped by the operator: no restart");
}

/// A stop while the task waits for its restart cancels the restart.
#[test]
fn a_stop_during_the_restart_wait_cancels_it() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.exit(0, FAILED);
    let client = sim.stop("a", None);
    assert_eq!(
        sim.reply(client),
        Reply::ok("task `a`: it was waiting to restart, and stays stopped")
    );
    sim.run_until(SEC * 60);
    assert_eq!(sim.spawns().len(), 1);
    assert!(sim.signals().is_empty());
}

#[test]
fn a_stop_of_a_task_that_does_not_run_is_refused() {
    let mut sim = Sim::new(vec![manual("m")]);
    let client = sim.stop("m", None);
    assert_eq!(sim.reply(client), Reply::error("task `m` is not running"));
    let client = sim.request(Request::Resume { task: "m".into() });
    assert_eq!(sim.reply(client), Reply::error("task `m` is not running"));
}

/// A stop with a reason goes on the control socket instead of SIGTERM,
/// with the same deadline.
#[test]
fn a_stop_with_a_reason_is_delivered_on_the_control_socket() {
    let mut sim = Sim::new(vec![boot("a")]);
    let client = sim.stop("a", Some(CancellationReason::SystemShutdown));
    let message = ControlMessage::Stop {
        reason: CancellationReason::SystemShutdown,
        deadline: None,
    };
    assert!(sim.log.iter().any(|(_, a)| *a
        == Action::Deliver {
            task: 0,
            client,
            message
        }));
    sim.assert_said("Stopping a (stop system-shutdown)");
    assert!(sim.signals().is_empty(), "no SIGTERM");
    let kill_after = stop_kill_after(&boot("a"));
    sim.run_until(kill_after);
    assert_eq!(sim.signals(), [(kill_after, libc::SIGKILL, true)]);
}

/// A stop message that cannot be written is an error, and no stop.
#[test]
fn an_undeliverable_stop_is_an_error_and_no_stop() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.deliver_error = Some("Broken pipe (os error 32)".into());
    let client = sim.stop("a", Some(CancellationReason::SystemSleep));
    assert_eq!(
        sim.reply(client),
        Reply::error("cannot deliver `stop system-sleep` to task `a`: Broken pipe (os error 32)")
    );
    sim.run_until(SEC * 60);
    assert!(sim.signals().is_empty());
}

/// `EXTEND_TIMEOUT_USEC=` during a stop moves the kill later.
#[test]
fn extend_timeout_moves_the_kill() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.stop("a", None);
    sim.run_until(SEC * 6);
    sim.notify(0, "EXTEND_TIMEOUT_USEC=10000000");
    sim.run_until(SEC * 15);
    assert_eq!(sim.signals().len(), 1, "not killed yet");
    sim.run_until(SEC * 16);
    assert_eq!(sim.signals()[1], (SEC * 16, libc::SIGKILL, true));
}

// --- RuntimeMaxSec= ---

/// systemd.service(5), `RuntimeMaxSec=` (time limit + stop timeout +
/// margin): the service is stopped (SIGTERM, then SIGKILL) and counts as
/// a failure, restarted under `on-failure`.
#[test]
fn the_time_limit_stops_then_kills_and_is_a_failure() {
    let a = TaskManifest {
        time_limit_ms: Some(2_000),
        stop_timeout_ms: 1_000,
        restart: Restart::OnFailure,
        ..boot("a")
    };
    let kill_after = stop_kill_after(&a);
    let mut sim = Sim::new(vec![a]);
    let limit = ms(2_000) + kill_after;
    sim.run_until(limit - ms(1));
    assert!(sim.signals().is_empty());
    sim.run_until(limit + kill_after);
    assert_eq!(
        sim.signals(),
        [
            (limit, libc::SIGTERM, false),
            (limit + kill_after, libc::SIGKILL, true)
        ]
    );
    sim.assert_said(
        "warning: task `a` ran longer than its time limit and stop timeout; stopping it (SIGTERM)",
    );
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    sim.assert_said(
        "Exited a with signal 9 (SIGKILL) after 8.0s, it ran too long; restarting in 1s",
    );
}

/// `RuntimeMaxSec=` makes a run that then exits 0 a failure all the same.
#[test]
fn a_run_stopped_at_its_time_limit_fails_even_if_it_exits_0() {
    let a = TaskManifest {
        time_limit_ms: Some(1_000),
        restart: Restart::OnFailure,
        ..boot("a")
    };
    let limit = ms(1_000) + stop_kill_after(&a);
    let mut sim = Sim::new(vec![a]);
    sim.run_until(limit);
    sim.exit(0, OK);
    sim.run_until(limit + RESTART_DELAY);
    assert_eq!(sim.start_times(0), [Duration::ZERO, limit + RESTART_DELAY]);
}

// --- WatchdogSec= ---

fn watched(ms: u64) -> TaskManifest {
    TaskManifest {
        watchdog_ms: Some(ms),
        restart: Restart::OnFailure,
        ..boot("w")
    }
}

/// systemd.service(5), `WatchdogSec=`: no `WATCHDOG=1` for an interval,
/// and the main process gets SIGABRT; SIGKILL after the stop timeout.
#[test]
fn a_missed_watchdog_aborts_then_kills() {
    let mut sim = Sim::new(vec![watched(500)]);
    sim.run_until(ms(499));
    assert!(sim.signals().is_empty());
    sim.run_until(ms(500));
    assert_eq!(sim.signals(), [(ms(500), libc::SIGABRT, false)]);
    sim.assert_said(
        "warning: task `w` watchdog timeout: no `WATCHDOG=1` for 500ms; aborting it (SIGABRT)",
    );
    let kill = ms(500) + stop_kill_after(&watched(500));
    sim.run_until(kill);
    assert_eq!(sim.signals()[1], (kill, libc::SIGKILL, true));
}

/// The watchdog's failure restarts the task under `on-failure`.
#[test]
fn a_watchdog_abort_is_a_failure_restarted_under_on_failure() {
    let mut sim = Sim::new(vec![watched(500)]);
    sim.run_until(ms(600));
    sim.exit(0, Ending::Signal(libc::SIGABRT));
    sim.assert_said(
        "Exited w with signal 6 (SIGABRT) after 0.6s, watchdog timeout; restarting in 1s",
    );
    sim.run_until(ms(600) + RESTART_DELAY);
    assert_eq!(sim.start_times(0).len(), 2);
}

/// A run the watchdog ended fails even when the process exits 0 (its
/// result is `watchdog`).
#[test]
fn a_watchdog_abort_fails_even_if_the_task_exits_0() {
    assert!(!restarted(Restart::OnFailure, OK));
    let mut sim = Sim::new(vec![watched(500)]);
    sim.run_until(ms(600));
    sim.exit(0, OK);
    sim.run_until(ms(600) + RESTART_DELAY);
    assert_eq!(sim.start_times(0).len(), 2);
}

/// `WATCHDOG=1` keeps the task alive; each resets the interval.
#[test]
fn watchdog_pings_keep_a_task_alive() {
    let mut sim = Sim::new(vec![watched(500)]);
    for n in 1..=20 {
        sim.run_until(ms(400 * n));
        sim.notify(0, "WATCHDOG=1");
    }
    assert!(sim.signals().is_empty());
    sim.run_until(ms(8_000 + 500));
    assert_eq!(sim.signals(), [(ms(8_500), libc::SIGABRT, false)]);
}

/// sd_notify(3), `WATCHDOG=trigger`: a watchdog timeout at once.
#[test]
fn watchdog_trigger_aborts_at_once() {
    let mut sim = Sim::new(vec![watched(10_000)]);
    sim.run_until(SEC);
    sim.notify(0, "WATCHDOG=trigger");
    assert_eq!(sim.signals(), [(SEC, libc::SIGABRT, false)]);
}

// --- TimeoutStartSec= (ready = "explicit") ---

fn explicit(start_ms: Option<u64>) -> TaskManifest {
    TaskManifest {
        ready: bgapp_manifest::Readiness::Explicit,
        start_timeout_ms: start_ms,
        restart: Restart::OnFailure,
        ..boot("r")
    }
}

/// systemd.service(5), `TimeoutStartSec=` with the default
/// `TimeoutStartFailureMode=terminate`: no `READY=1` in time, and the main
/// process gets SIGTERM, then SIGKILL after the stop timeout; the run is a
/// failure, restarted under `on-failure`.
#[test]
fn a_task_not_ready_in_time_is_stopped_as_a_failure() {
    let task = explicit(Some(2_000));
    let kill_after = stop_kill_after(&task);
    let mut sim = Sim::new(vec![task]);
    sim.run_until(ms(1_999));
    assert!(sim.signals().is_empty());
    sim.run_until(ms(2_000));
    assert_eq!(sim.signals(), [(ms(2_000), libc::SIGTERM, false)]);
    sim.assert_said(
        "warning: task `r` was not ready within its start timeout (2s); stopping it (SIGTERM)",
    );
    sim.run_until(ms(2_000) + kill_after);
    assert_eq!(
        sim.signals()[1],
        (ms(2_000) + kill_after, libc::SIGKILL, true)
    );
    let end = ms(2_000) + kill_after + ms(10);
    sim.run_until(end);
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    sim.run_until(end + RESTART_DELAY);
    assert_eq!(sim.start_times(0), [Duration::ZERO, end + RESTART_DELAY]);
}

/// `READY=1` in time ends the start deadline; the default is systemd's 90s.
#[test]
fn ready_in_time_runs_on() {
    let mut sim = Sim::new(vec![explicit(None)]);
    sim.run_until(ms(89_000));
    sim.notify(0, "READY=1");
    sim.run_until(ms(600_000));
    assert!(sim.signals().is_empty());

    let mut sim = Sim::new(vec![explicit(None)]);
    sim.run_until(ms(90_000));
    assert_eq!(sim.signals(), [(ms(90_000), libc::SIGTERM, false)]);
}

/// sd_notify(3): `EXTEND_TIMEOUT_USEC=` during the start extends it.
#[test]
fn a_start_can_be_extended() {
    let mut sim = Sim::new(vec![explicit(Some(1_000))]);
    sim.run_until(ms(900));
    sim.notify(0, "EXTEND_TIMEOUT_USEC=5000000");
    sim.run_until(ms(5_899));
    assert!(sim.signals().is_empty());
    sim.run_until(ms(5_900));
    assert_eq!(sim.signals(), [(ms(5_900), libc::SIGTERM, false)]);
}

/// A task with the default readiness has no start deadline.
#[test]
fn default_readiness_has_no_start_deadline() {
    let task = TaskManifest {
        start_timeout_ms: Some(1_000),
        ..boot("s")
    };
    let mut sim = Sim::new(vec![task]);
    sim.run_until(ms(600_000));
    assert!(sim.signals().is_empty());
}

/// `STATUS=` is shown; with `READY=1` or `STOPPING=1` beside it (the
/// runtime's own), only with `-v`.
#[test]
fn status_messages_are_shown() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.notify(0, "STATUS=fetching 3 feeds");
    sim.notify(0, "READY=1\nSTATUS=running");
    let lines = sim.lines();
    assert!(lines.contains(&"Status a: fetching 3 feeds".to_string()));
    assert!(lines.contains(&"Ready a".to_string()));
    let statuses = sim
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::Say(Line::Status("Status", _))))
        .count();
    assert_eq!(statuses, 1, "`STATUS=running` is verbose: {lines:?}");
}

// --- .timer ---

/// systemd.timer(5), `OnBootSec=`: the first elapse an interval after the
/// start (the run stands for the boot), with `TRIGGER_*` of a timer.
#[test]
fn a_timer_first_fires_an_interval_after_the_start() {
    let mut sim = Sim::new(vec![every("t", SEC * 5)]);
    assert_eq!(sim.wake, Some(sim.t0 + SEC * 5));
    sim.run_until(SEC * 5 - ms(1));
    assert!(sim.spawns().is_empty());
    sim.run_until(SEC * 5);
    assert_eq!(sim.spawns(), [(SEC * 5, 0, Why::Timer)]);
    sim.assert_said("Scheduled t in 5s");
    sim.assert_said("Started t (timer, pid 101)");
}

/// systemd.timer(5), `OnUnitActiveSec=`: the next elapse an interval
/// after the last start.
#[test]
fn a_timer_counts_from_the_last_start() {
    let mut sim = Sim::new(vec![every("t", SEC * 5)]);
    sim.run_until(SEC * 6);
    sim.exit(0, OK);
    sim.run_until(SEC * 21);
    assert_eq!(sim.start_times(0)[..2], [SEC * 5, SEC * 10]);
}

/// systemd.timer(5): a timer does not start a service that runs, and
/// waits for its end; the elapse that came due meanwhile comes at once
/// then (`OnUnitActiveSec=` from the start, which is past).
#[test]
fn a_timer_waits_for_the_run_it_started() {
    let mut sim = Sim::new(vec![every("t", SEC * 5)]);
    sim.run_until(SEC * 5);
    assert_eq!(sim.wake, None, "nothing to wake for while it runs");
    sim.run_until(SEC * 17);
    assert_eq!(sim.start_times(0), [SEC * 5]);
    sim.exit(0, OK);
    assert_eq!(sim.start_times(0), [SEC * 5, SEC * 17]);
    sim.run_until(SEC * 18);
    sim.exit(0, OK);
    sim.run_until(SEC * 23);
    sim.exit(0, OK);
    sim.run_until(SEC * 30);
    assert_eq!(sim.start_times(0), [SEC * 5, SEC * 17, SEC * 22, SEC * 27]);
}

/// A timer task that fails is restarted by its service, not its timer;
/// the timer counts again from the restart's end.
#[test]
fn a_timer_task_restarted_after_a_failure_fires_after_the_restart() {
    let mut sim = Sim::new(vec![every("t", SEC * 5)]);
    sim.run_until(SEC * 5);
    sim.exit(0, FAILED);
    sim.run_until(SEC * 5 + RESTART_DELAY);
    assert_eq!(sim.spawns()[1], (SEC * 6, 0, Why::Restart));
    sim.run_until(SEC * 7);
    sim.exit(0, OK);
    sim.run_until(SEC * 12);
    assert_eq!(sim.spawns().len(), 3);
    assert_eq!(sim.spawns()[2], (SEC * 11, 0, Why::Timer));
}

/// `cargo bgapp trigger` of a timer task is an elapse: `TRIGGER_*` of a
/// timer, then `OnUnitActiveSec=` from it; `OnBootSec=` still elapses
/// once if it has not yet.
#[test]
fn a_triggered_timer_counts_from_the_trigger() {
    let mut sim = Sim::new(vec![every("t", SEC * 5)]);
    sim.run_until(SEC * 3);
    let client = sim.fire("t");
    assert!(sim.reply(client).ok);
    assert_eq!(sim.spawns(), [(SEC * 3, 0, Why::Timer)]);
    sim.run_until(SEC * 4);
    sim.exit(0, OK);
    sim.run_until(SEC * 5);
    assert_eq!(sim.start_times(0), [SEC * 3, SEC * 5], "OnBootSec=");
    sim.exit(0, OK);
    sim.run_until(SEC * 10);
    assert_eq!(sim.start_times(0), [SEC * 3, SEC * 5, SEC * 10]);
    let client = sim.fire("t");
    assert_eq!(
        sim.reply(client),
        Reply::ok("task `t`: already running (pid 103)")
    );
}

/// systemd.timer(5), `OnCalendar=`: at the calendar's times, in UTC when
/// the expression says so.
#[test]
fn a_calendar_timer_fires_on_its_calendar() {
    let start = new_year() + SEC * 25;
    let mut sim = Sim::starting_at(vec![calendar("c", "*-*-* *:*:00/10 UTC")], start, true);
    assert_eq!(sim.wake, Some(sim.t0 + SEC * 5));
    sim.run_until(SEC * 5);
    sim.run_until(SEC * 6);
    sim.exit(0, OK);
    sim.run_until(SEC * 16);
    assert_eq!(sim.start_times(0), [SEC * 5, SEC * 15]);
}

/// `OnCalendar=` counts from the last trigger: a time passed during a
/// long run is caught up once at its end, not once per missed time.
#[test]
fn a_calendar_timer_catches_up_once_after_a_long_run() {
    let start = new_year() + SEC * 25;
    let mut sim = Sim::starting_at(vec![calendar("c", "*-*-* *:*:00/10 UTC")], start, true);
    sim.run_until(SEC * 5);
    sim.run_until(SEC * 40);
    sim.exit(0, OK);
    sim.run_until(SEC * 41);
    sim.exit(0, OK);
    sim.run_until(SEC * 50);
    assert_eq!(sim.start_times(0), [SEC * 5, SEC * 40, SEC * 45]);
}

/// A timer task over the start limit stays failed: the timer stops too.
/// (systemd's timer would try again once the interval has passed; here
/// `cargo bgapp trigger` starts it again, as the warning says.)
#[test]
fn a_failed_timer_task_stops_its_timer_until_triggered() {
    let mut sim = Sim::new(vec![every("t", SEC * 30)]);
    sim.run_until(SEC * 30);
    while !sim.lines().iter().any(|l| l.contains("start limit")) {
        sim.exit(0, FAILED);
        let at = sim.at;
        sim.run_until(at + RESTART_DELAY);
    }
    assert_eq!(sim.wake, None);
    let starts = sim.spawns().len();
    sim.run_until(SEC * 600);
    assert_eq!(sim.spawns().len(), starts);
    sim.fire("t");
    sim.exit(0, OK);
    let at = sim.at;
    assert_eq!(
        sim.wake,
        Some(sim.t0 + at + SEC * 30),
        "the timer runs again"
    );
}

// --- .socket, .path, boot, manual ---

/// systemd.socket(5), `Accept=no`: the socket is watched while the
/// service is inactive; a connection starts it, and the socket is
/// watched again once it has ended.
#[test]
fn a_connection_starts_a_socket_task() {
    let mut sim = Sim::new(vec![socket("s")]);
    assert!(sim.spawns().is_empty());
    assert_eq!(sim.core.listening().collect::<Vec<_>>(), [0]);
    sim.run_until(SEC);
    sim.feed(Input::Connection { task: 0 });
    assert_eq!(sim.spawns(), [(SEC, 0, Why::Socket)]);
    assert_eq!(sim.core.listening().count(), 0, "the task accepts");
    sim.exit(0, OK);
    assert_eq!(sim.core.listening().collect::<Vec<_>>(), [0]);
    sim.feed(Input::Connection { task: 0 });
    assert_eq!(sim.spawns().len(), 2);
}

/// The socket is not watched while the service waits for its restart.
#[test]
fn a_socket_task_waiting_to_restart_is_not_started_by_a_connection() {
    let mut sim = Sim::new(vec![socket("s")]);
    sim.feed(Input::Connection { task: 0 });
    sim.exit(0, FAILED);
    assert_eq!(sim.core.listening().count(), 0);
    sim.feed(Input::Connection { task: 0 });
    sim.run_until(RESTART_DELAY);
    assert_eq!(
        sim.spawns().iter().map(|s| s.2).collect::<Vec<_>>(),
        [Why::Socket, Why::Restart]
    );
}

/// systemd.path(5), `DirectoryNotEmpty=`: checked when the path unit
/// starts, and again whenever the service ends: it starts the service
/// again while the directory is not empty.
#[test]
fn a_path_task_fires_while_its_directory_is_not_empty() {
    let mut sim = Sim::starting_at(vec![path("p")], new_year(), false);
    sim.holds[0] = true;
    sim.feed(Input::Boot);
    assert_eq!(sim.spawns(), [(Duration::ZERO, 0, Why::Path)]);
    sim.run_until(SEC);
    sim.exit(0, OK);
    assert_eq!(sim.spawns().len(), 2, "still not empty: again");
    sim.holds[0] = false;
    sim.run_until(SEC * 2);
    sim.exit(0, OK);
    sim.run_until(SEC * 60);
    assert_eq!(sim.spawns().len(), 2);
    sim.feed(Input::PathFired { task: 0 });
    assert_eq!(sim.spawns().len(), 3);
}

/// systemd.path(5): the path unit does not watch while its service runs;
/// what happens meanwhile starts nothing.
#[test]
fn a_path_event_while_the_task_runs_starts_nothing() {
    let mut sim = Sim::new(vec![path("p")]);
    assert!(sim.spawns().is_empty(), "an empty directory at the start");
    sim.feed(Input::PathFired { task: 0 });
    sim.feed(Input::PathFired { task: 0 });
    assert_eq!(sim.spawns().len(), 1);
    sim.exit(0, FAILED);
    sim.feed(Input::PathFired { task: 0 });
    assert_eq!(sim.spawns().len(), 1, "waiting to restart");
}

/// A boot task starts at once; a manual task waits for a trigger.
#[test]
fn boot_tasks_start_at_once_and_manual_tasks_wait() {
    let mut sim = Sim::new(vec![boot("b"), manual("m")]);
    assert_eq!(sim.spawns(), [(Duration::ZERO, 0, Why::Boot)]);
    sim.run_until(SEC * 600);
    assert_eq!(sim.spawns().len(), 1);
    let client = sim.fire("m");
    assert_eq!(sim.reply(client), Reply::ok("task `m`: started (pid 102)"));
    assert_eq!(sim.spawns()[1], (SEC * 600, 1, Why::Manual));
    sim.assert_said("Started m (trigger, pid 102)");
}

// --- Ctrl-C ---

/// Ctrl-C stops every task as `systemctl stop` would (SIGTERM, kill
/// after the stop timeout), cancels restarts, and ends with status 0
/// when all ended cleanly.
#[test]
fn ctrl_c_stops_every_task() {
    let mut sim = Sim::new(vec![boot("a"), boot("b"), boot("c")]);
    sim.exit(2, FAILED);
    sim.run_until(SEC / 2);
    sim.feed(Input::Signal(libc::SIGINT));
    sim.assert_said("Stopping 2 tasks (Ctrl-C again to kill at once)");
    assert_eq!(sim.signals(), [(SEC / 2, libc::SIGTERM, false); 2]);
    sim.exit(0, OK);
    assert_eq!(sim.exit, None);
    sim.exit(1, Ending::Signal(libc::SIGTERM));
    sim.assert_said("Stopped b: signal 15 (SIGTERM) after 0.5s");
    sim.assert_said("Finished every task stopped");
    assert_eq!(sim.exit, Some(0));
    assert_eq!(sim.spawns().len(), 3, "the restart of `c` was cancelled");
}

/// A task that does not stop in time after Ctrl-C is killed, and the run
/// ends with status 1.
#[test]
fn ctrl_c_with_a_task_that_does_not_stop_ends_in_failure() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.feed(Input::Signal(libc::SIGINT));
    let kill_after = stop_kill_after(&boot("a"));
    sim.run_until(kill_after);
    assert_eq!(sim.signals()[1], (kill_after, libc::SIGKILL, true));
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    sim.assert_said("warning: 1 task(s) did not stop cleanly");
    assert_eq!(sim.exit, Some(1));
}

/// A second Ctrl-C kills every task at once and exits with 130.
#[test]
fn a_second_ctrl_c_kills_at_once() {
    let mut sim = Sim::new(vec![boot("a"), boot("b")]);
    sim.feed(Input::Signal(libc::SIGINT));
    sim.run_until(SEC);
    sim.feed(Input::Signal(libc::SIGINT));
    let kills: Vec<_> = sim
        .signals()
        .into_iter()
        .filter(|s| s.1 == libc::SIGKILL)
        .collect();
    assert_eq!(kills, [(SEC, libc::SIGKILL, true); 2]);
    sim.assert_said("Killed a (pid 101, SIGKILL)");
    sim.assert_said("Killed b (pid 102, SIGKILL)");
    assert_eq!(sim.exit, Some(130));
    // Done: nothing more happens.
    let logged = sim.log.len();
    sim.exit(0, Ending::Signal(libc::SIGKILL));
    assert_eq!(sim.log.len(), logged);
}

/// SIGTERM (or SIGHUP) to the supervisor stops like a first Ctrl-C; a
/// second SIGTERM does not kill.
#[test]
fn sigterm_stops_like_ctrl_c() {
    let mut sim = Sim::new(vec![boot("a")]);
    sim.feed(Input::Signal(libc::SIGTERM));
    sim.feed(Input::Signal(libc::SIGTERM));
    sim.feed(Input::Signal(libc::SIGHUP));
    assert_eq!(sim.signals(), [(Duration::ZERO, libc::SIGTERM, false)]);
    assert_eq!(sim.exit, None);
    sim.exit(0, OK);
    assert_eq!(sim.exit, Some(0));
}

/// With no task running, Ctrl-C ends the run at once.
#[test]
fn ctrl_c_with_nothing_running_ends_at_once() {
    let mut sim = Sim::new(vec![manual("m")]);
    sim.feed(Input::Signal(libc::SIGINT));
    assert_eq!(sim.lines(), ["Finished every task stopped"]);
    assert_eq!(sim.exit, Some(0));
}

/// While stopping, nothing starts: no timer, no trigger, no restart.
#[test]
fn nothing_starts_while_stopping() {
    let mut sim = Sim::new(vec![boot("a"), every("t", SEC), manual("m")]);
    sim.feed(Input::Signal(libc::SIGINT));
    sim.run_until(SEC * 3);
    let client = sim.fire("m");
    assert_eq!(
        sim.reply(client),
        Reply::error("`cargo bgapp run` is stopping")
    );
    assert_eq!(sim.spawns().len(), 1);
    sim.exit(0, OK);
    assert_eq!(sim.exit, Some(0));
}

// --- cargo bgapp trigger ---

#[test]
fn a_request_for_an_unknown_task_lists_the_tasks() {
    let mut sim = Sim::new(vec![boot("a"), manual("m")]);
    let client = sim.fire("nope");
    assert_eq!(
        sim.reply(client),
        Reply::error("no task named `nope` in this run; it runs `a`, `m`")
    );
}

/// `--sleep` and `--resume` are delivered on the control socket.
#[test]
fn sleep_and_resume_are_delivered() {
    let mut sim = Sim::new(vec![boot("a")]);
    let client = sim.request(Request::Sleep {
        task: "a".into(),
        deadline_ms: 2_000,
    });
    assert_eq!(sim.reply(client), Reply::ok("`sleep 2000` to task `a`"));
    sim.assert_said("Delivered `sleep 2000` to a");
    let client = sim.request(Request::Resume { task: "a".into() });
    assert_eq!(sim.reply(client), Reply::ok("`resume` to task `a`"));
    sim.deliver_error = Some("Broken pipe".into());
    let client = sim.request(Request::Resume { task: "a".into() });
    assert_eq!(
        sim.reply(client),
        Reply::error("cannot deliver `resume` to task `a`: Broken pipe")
    );
}

/// An exit of a process that is not the task's current one (a late
/// report) changes nothing.
#[test]
fn a_stale_exit_changes_nothing() {
    let mut sim = Sim::new(vec![boot("a")]);
    let old = sim.pids[0].unwrap();
    sim.exit(0, FAILED);
    sim.run_until(RESTART_DELAY);
    sim.feed(Input::Exited {
        task: 0,
        pid: old,
        ending: FAILED,
    });
    assert_eq!(
        sim.lines()
            .iter()
            .filter(|l| l.starts_with("Exited"))
            .count(),
        1
    );
    let client = sim.fire("a");
    assert!(sim.reply(client).message.contains("already running"));
}

/// The core asks to be woken at its nearest deadline, and at no other.
#[test]
fn the_wake_up_is_the_nearest_deadline() {
    let mut sim = Sim::new(vec![every("t", SEC * 5), watched(2_000), manual("m")]);
    assert_eq!(sim.wake, Some(sim.t0 + SEC * 2));
    sim.notify(1, "WATCHDOG=1");
    sim.run_until(SEC);
    sim.notify(1, "WATCHDOG=1");
    assert_eq!(sim.wake, Some(sim.t0 + SEC * 3));
    sim.stop("w", None);
    let kill = SEC + stop_kill_after(&watched(2_000));
    assert_eq!(sim.wake, Some(sim.t0 + SEC * 5), "the timer comes first");
    sim.run_until(SEC * 5);
    assert_eq!(sim.wake, Some(sim.t0 + kill));
}
