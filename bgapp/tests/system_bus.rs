//! The runtime against a real `dbus-daemon` on a private socket, with a
//! fake logind and a fake systemd on it (written here with the runtime's
//! own D-Bus client), and this test binary re-run as the app: sleep and
//! wake with the inhibitor lock, shutdown told apart from an operator
//! stop, no bus at all, and the `BGAPP_CONTROL_FD` channel. The same
//! against a real logind and systemd is in cargo-bgapp's end-to-end suite.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgapp_dbus::{
    Conn, Incoming, Message, Writer, DESTINATION, METHOD_CALL, METHOD_RETURN, SENDER, SIGNAL,
};
use bgapp_manifest::env;

const LOGIN1_PATH: &str = "/org/freedesktop/login1";
const LOGIN1_MANAGER: &str = "org.freedesktop.login1.Manager";
const WAIT: Duration = Duration::from_secs(10);

const CHILD: &str = "BGAPP_SYSTEM_BUS_PROBE";

/// The app under test: this test binary, re-run as the task below (as
/// `<test binary> probe_child --exact`, which is also the task's name, so
/// the harness and the runtime both pick it). It logs each sleep, wake and
/// stop and keeps the list in its saved state.
#[bgapp::background_task(name = "probe_child", stop_timeout = "2s")]
async fn probe_task(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    let mut events = task.events();
    let control = std::env::var_os(env::CONTROL_FD).is_some();
    tracing::info!(
        "probe: started, previous {}, control variable {}",
        task.previous_execution_state(),
        if control { "visible" } else { "hidden" }
    );
    let deferral = task.deferral();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let line = tokio::select! {
            event = events.next() => match event {
                bgapp::LifecycleEvent::Suspending { deadline } => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    format!("suspending {}ms", left.as_millis())
                }
                bgapp::LifecycleEvent::Resuming => "resuming".to_string(),
                other => format!("{other:?}"),
            },
            stop = task.cancelled() => format!("stop {}", stop.reason()),
        };
        tracing::info!("probe: {line}");
        let stopping = line.starts_with("stop ");
        seen.push(line);
        task.state().save(&seen)?;
        if stopping {
            break;
        }
    }
    deferral.complete();
    Ok(())
}

#[test]
fn probe_child() {
    // Only does something when started by the tests below.
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let code = bgapp::__private::run_process(None);
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    });
}

/// A private bus: `dbus-daemon` with a permissive config in a temp dir.
struct Bus {
    daemon: Child,
    dir: tempfile::TempDir,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("/usr/bin/dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon is installed at /usr/bin/dbus-daemon");
        // dbus-daemon prints its address once it listens (its socket file
        // exists a moment before that): wait for the line, not the file.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().expect("piped")),
            &mut line,
        )
        .expect("read dbus-daemon's address");
        assert!(
            line.contains(&socket.display().to_string()),
            "dbus-daemon did not start: `{line}`"
        );
        Bus {
            daemon,
            address: format!("unix:path={}", socket.display()),
            dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// What the fake services saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Ready,
    LockTaken(usize),
    LockDenied,
    LockReleased(usize, Instant),
    StateAsked,
}

/// logind and systemd1 in one connection: owns both names, answers
/// `InhibitDelayMaxUSec`, `SystemState` and `Inhibit` (a pipe whose write
/// end goes to the caller; its read end sees EOF when the lock is
/// released), and emits signals on request.
struct Fake {
    conn: Arc<Conn>,
    seen: Receiver<Seen>,
    /// Announce a sleep before answering the next `Inhibit`, as when the
    /// call crosses logind's signal.
    cross: Arc<AtomicBool>,
    /// Answer `Inhibit` with `AccessDenied`, as logind does without polkit.
    deny: Arc<AtomicBool>,
}

fn reply(call: &Message, sig: &str, body: &Writer) -> Message {
    let mut m = Message::default().with_body(sig, body);
    m.kind = METHOD_RETURN;
    m.reply_serial = call.serial;
    m.fields[DESTINATION] = call.field(SENDER).into();
    m
}

impl Fake {
    fn start(address: &str, delay_usec: u64, state: &'static str) -> Fake {
        let conn = Arc::new(Conn::connect(address, WAIT).unwrap());
        let (tx, seen) = channel();
        let state = Mutex::new(state);
        for name in ["org.freedesktop.login1", "org.freedesktop.systemd1"] {
            let mut body = Writer::new();
            body.str(name).u32(4); // DBUS_NAME_FLAG_DO_NOT_QUEUE
            let m = Message::method_call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
            )
            .with_body("su", &body);
            conn.send(&m).unwrap();
        }
        let reader = conn.clone();
        let cross = Arc::new(AtomicBool::new(false));
        let deny = Arc::new(AtomicBool::new(false));
        let flags = (cross.clone(), deny.clone());
        std::thread::spawn(move || serve(&reader, delay_usec, &state, &tx, &flags));
        assert_eq!(seen.recv_timeout(WAIT), Ok(Seen::Ready));
        Fake {
            conn,
            seen,
            cross,
            deny,
        }
    }

    fn signal(&self, member: &str, value: bool) {
        self.conn.send(&signal(member, value)).unwrap();
    }

    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(WAIT)
            .expect("the fake services saw nothing")
    }
}

fn signal(member: &str, value: bool) -> Message {
    let mut m = Message::method_call("", LOGIN1_PATH, LOGIN1_MANAGER, member)
        .with_body("b", Writer::new().bool(value));
    m.kind = SIGNAL;
    m
}

fn serve(
    conn: &Conn,
    delay_usec: u64,
    state: &Mutex<&'static str>,
    tx: &Sender<Seen>,
    (cross, deny): &(Arc<AtomicBool>, Arc<AtomicBool>),
) {
    let mut incoming = Incoming::default();
    let (mut names, mut locks) = (0, 0);
    while let Ok(Some(m)) = conn.next(&mut incoming, None) {
        if m.kind == METHOD_RETURN && m.field(SENDER) == "org.freedesktop.DBus" {
            // Hello, then the two RequestName replies.
            names += 1;
            if names == 3 {
                let _ = tx.send(Seen::Ready);
            }
            continue;
        }
        if m.kind != METHOD_CALL {
            continue;
        }
        let mut args = m.body();
        let mut body = Writer::new();
        let sent = if m.is("org.freedesktop.DBus.Properties", "Get") {
            let (_iface, name) = (args.str().unwrap(), args.str().unwrap());
            match name.as_str() {
                "InhibitDelayMaxUSec" => body.sig("t").u64(delay_usec),
                _ => {
                    let _ = tx.send(Seen::StateAsked);
                    body.sig("s").str(*state.lock().unwrap())
                }
            };
            conn.send(&reply(&m, "v", &body)).map(drop)
        } else if m.is(LOGIN1_MANAGER, "Inhibit") {
            let what: Vec<String> = (0..4).map(|_| args.str().unwrap()).collect();
            assert_eq!(what[0], "sleep");
            assert_eq!(what[1], "bgapp probe_child");
            assert_eq!(what[3], "delay");
            if deny.load(Ordering::SeqCst) {
                let mut e = reply(&m, "s", body.str("Access denied"));
                e.kind = bgapp_dbus::ERROR;
                e.fields[bgapp_dbus::ERROR_NAME] = "org.freedesktop.DBus.Error.AccessDenied".into();
                let _ = tx.send(Seen::LockDenied);
                conn.send(&e).unwrap();
                continue;
            }
            if cross.swap(false, Ordering::SeqCst) {
                conn.send(&signal("PrepareForSleep", true)).unwrap();
            }
            let mut fds = [0; 2];
            // SAFETY: pipe2 fills the array it is given.
            let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(made, 0);
            // SAFETY: two new descriptors that nothing else owns.
            let (read_end, write_end) =
                unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            let mut m = reply(&m, "h", body.u32(0));
            m.fds = vec![write_end];
            // Our copy of the write end closes with `m`.
            let sent = conn.send_with_fds(&m);
            locks += 1;
            let (n, tx) = (locks, tx.clone());
            let _ = tx.send(Seen::LockTaken(n));
            std::thread::spawn(move || {
                let mut f = std::fs::File::from(read_end);
                let _ = f.read(&mut [0u8; 1]);
                let _ = tx.send(Seen::LockReleased(n, Instant::now()));
            });
            sent.map(drop)
        } else {
            let mut e = reply(&m, "s", body.str("not here"));
            e.kind = bgapp_dbus::ERROR;
            e.fields[bgapp_dbus::ERROR_NAME] = "org.freedesktop.DBus.Error.UnknownMethod".into();
            conn.send(&e).map(drop)
        };
        sent.unwrap();
    }
}

/// The probe app, with its stderr read line by line.
struct Probe {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn start(state: &Path, bus: Option<&str>, control_fd: Option<i32>) -> Probe {
        Probe::start_with(state, bus, control_fd, &[])
    }

    /// `start`, with more variables set.
    fn start_with(
        state: &Path,
        bus: Option<&str>,
        control_fd: Option<i32>,
        env: &[(&str, &str)],
    ) -> Probe {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["probe_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env(env::STATE_DIR, state)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("INVOCATION_ID")
            .envs(env.iter().copied())
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                bus.unwrap_or("unix:path=/nonexistent/bgapp-test-bus"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(fd) = control_fd {
            cmd.env(env::CONTROL_FD, fd.to_string());
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stderr, all) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap_or_default();
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let probe = Probe { child, lines, log };
        probe.expect("probe: started");
        probe
    }

    /// Waits for a log line containing `text`; returns it.
    fn expect(&self, text: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with `{text}`; the log:\n{}",
                    self.log.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// Asserts that a line logged so far contains `text`.
    fn logged(&self, text: &str) {
        let log = self.log.lock().unwrap().join("\n");
        assert!(log.contains(text), "no line with `{text}`; the log:\n{log}");
    }

    /// How many lines logged so far contain `text`.
    fn count(&self, text: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(text)).count()
    }

    /// SIGTERM; returns the exit status and how long the exit took.
    fn terminate(mut self) -> (i32, Duration) {
        let at = Instant::now();
        // SAFETY: a signal to our own child, not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), at.elapsed())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn record(state: &Path) -> String {
    std::fs::read_to_string(state.join("probe_child.run")).unwrap()
}

/// Checks the `suspending <n>ms` line the probe logged when told of a
/// sleep announced at `announced` with a deadline `notice_ms` later: the
/// time left it saw is the notice less the time the news took to reach
/// it, which is at most the time until the line arrived here.
fn assert_deadline(line: &str, notice_ms: u64, announced: Instant) {
    let took = announced.elapsed().as_millis() as u64 + 1;
    let tail = &line[line.find("suspending ").unwrap() + 11..];
    let left: u64 = tail.trim_end_matches("ms").parse().unwrap();
    assert!(
        left <= notice_ms && left + took >= notice_ms,
        "deadline {left} ms away, {took} ms after a {notice_ms} ms notice"
    );
}

#[test]
fn sleep_and_wake_reach_the_task_and_the_lock_is_held_until_the_deadline() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, 1_000_000, "running");
    let state = bus.dir.path().join("state");
    let probe = Probe::start(&state, Some(&bus.address), None);
    assert_eq!(fake.next(), Seen::LockTaken(1));

    let slept = Instant::now();
    fake.signal("PrepareForSleep", true);
    // logind's delay is 1 s: the task is told to be done 100 ms before.
    let line = probe.expect("probe: suspending");
    assert_deadline(&line, 900, slept);
    match fake.seen.recv_timeout(WAIT).unwrap_or_else(|_| {
        panic!(
            "the lock was not released; the log:\n{}",
            probe.log.lock().unwrap().join("\n")
        )
    }) {
        Seen::LockReleased(1, at) => {
            let held = at - slept;
            assert!(
                held >= Duration::from_millis(700) && held < Duration::from_millis(3000),
                "the lock was held {held:?}"
            );
        }
        other => panic!("expected the lock released, saw {other:?}"),
    }

    // The lock taken again after the wake crosses the next sleep: it is
    // released at that sleep's deadline, not held through it.
    fake.cross.store(true, Ordering::SeqCst);
    fake.signal("PrepareForSleep", false);
    probe.expect("probe: resuming");
    assert_eq!(fake.next(), Seen::LockTaken(2));
    probe.expect("probe: suspending");
    match fake.next() {
        Seen::LockReleased(2, _) => {}
        other => panic!("expected the crossing lock released, saw {other:?}"),
    }
    fake.signal("PrepareForSleep", false);
    probe.expect("probe: resuming");
    assert_eq!(fake.next(), Seen::LockTaken(3));

    // A signal sent to the app directly, not broadcast by logind, is not
    // believed.
    let mut spoof = Message::method_call("", LOGIN1_PATH, LOGIN1_MANAGER, "PrepareForShutdown")
        .with_body("b", Writer::new().bool(true));
    spoof.kind = SIGNAL;
    let other = Conn::connect(&bus.address, WAIT).unwrap();
    let mut incoming = Incoming::default();
    other.next(&mut incoming, None).unwrap().unwrap(); // Hello's reply
    for name in unique_names(&other, &mut incoming) {
        spoof.fields[DESTINATION] = name;
        other.send(&spoof).unwrap();
    }
    // The bus handles one connection's messages in order: once it has
    // answered a call made after the spoofs, they are queued to the probe,
    // ahead of anything logind broadcasts next. The probe has read them
    // when it tells the task of that broadcast.
    unique_names(&other, &mut incoming);
    fake.signal("PrepareForSleep", false);
    probe.expect("probe: resuming");
    // The wake releases lock 3 and takes lock 4, seen in either order.
    let mut seen = [fake.next(), fake.next()];
    seen.sort_by_key(|s| matches!(s, Seen::LockTaken(_)));
    assert!(
        matches!(seen, [Seen::LockReleased(3, _), Seen::LockTaken(4)]),
        "{seen:?}"
    );

    let (code, _) = probe.terminate();
    assert_eq!(code, 0);
    assert_eq!(fake.next(), Seen::StateAsked);
    let record = record(&state);
    assert!(record.contains("exit_detail=stop-requested"), "{record}");
    let saved = std::fs::read_to_string(state.join("probe_child.state.json")).unwrap();
    assert!(
        saved.contains("suspending") && saved.contains("resuming"),
        "{saved}"
    );

    // The next start is told it was closed by the user.
    let again = Probe::start(&state, None, None);
    again.logged("previous closed-by-user");
}

/// The unique names on the bus: the probe's among them.
fn unique_names(conn: &Conn, incoming: &mut Incoming) -> Vec<String> {
    let m = Message::method_call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "ListNames",
    );
    let serial = conn.send(&m).unwrap();
    loop {
        let r = conn.next(incoming, None).unwrap().unwrap();
        if r.reply_serial != serial {
            continue;
        }
        // `as`: the array's length, then its strings up to the end.
        let mut body = r.body();
        body.u32().unwrap();
        let mut names = Vec::new();
        while !body.at_end() {
            names.push(body.str().unwrap());
        }
        return names.into_iter().filter(|n| n.starts_with(':')).collect();
    }
}

#[test]
fn sigterm_while_systemd_is_stopping_is_a_shutdown_recorded_as_terminated() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, 5_000_000, "stopping");
    let state = bus.dir.path().join("state");
    let probe = Probe::start(&state, Some(&bus.address), None);
    assert_eq!(fake.next(), Seen::LockTaken(1));
    let (code, took) = probe.terminate();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert_eq!(fake.next(), Seen::StateAsked);
    let record = record(&state);
    assert!(record.contains("exit_detail=system-shutdown"), "{record}");
    let again = Probe::start(&state, None, None);
    again.logged("previous terminated");
}

#[test]
fn prepare_for_shutdown_is_remembered_for_the_sigterm() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, 5_000_000, "running");
    let state = bus.dir.path().join("state");
    let probe = Probe::start(&state, Some(&bus.address), None);
    assert_eq!(fake.next(), Seen::LockTaken(1));
    fake.signal("PrepareForShutdown", true);
    // Signals from one sender arrive in order: once the probe tells the
    // task of a wake sent after it, it has read the shutdown.
    fake.signal("PrepareForSleep", false);
    probe.expect("probe: resuming");
    let (code, _) = probe.terminate();
    assert_eq!(code, 0);
    assert!(record(&state).contains("exit_detail=system-shutdown"));
}

#[test]
fn without_a_bus_sigterm_is_an_operator_stop_without_delay() {
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::start(dir.path(), None, None);
    let (code, took) = probe.terminate();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert!(record(dir.path()).contains("exit_detail=stop-requested"));
}

#[test]
fn a_lock_denied_for_want_of_polkit_is_warned_about_once() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, 1_000_000, "running");
    fake.deny.store(true, Ordering::SeqCst);
    let state = bus.dir.path().join("state");
    let probe = Probe::start(&state, Some(&bus.address), None);
    assert_eq!(fake.next(), Seen::LockDenied);
    let line = probe.expect("denied the sleep delay lock");
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("install polkit")
            && line.contains("org.freedesktop.login1.inhibit-delay-sleep")
            && line.contains("`Suspending`"),
        "{line}"
    );
    // The wake asks again and is denied again: not warned about again.
    fake.signal("PrepareForSleep", false);
    probe.expect("probe: resuming");
    assert_eq!(fake.next(), Seen::LockDenied);
    // The fake answered before sending this: once the probe tells the
    // task of it, it has read the second denial.
    fake.signal("PrepareForSleep", true);
    probe.expect("probe: suspending");
    assert_eq!(probe.count("denied the sleep delay lock"), 1);
    let (code, _) = probe.terminate();
    assert_eq!(code, 0);
}

/// The warning that SIGTERMs cannot be told apart without a bus.
const NO_BUS: &str = "shutdowns cannot be told from operator stops";

#[test]
fn without_a_bus_under_systemd_the_lost_distinction_is_warned_about_at_start() {
    for var in ["INVOCATION_ID", "NOTIFY_SOCKET"] {
        let dir = tempfile::tempdir().unwrap();
        // An unreachable socket: systemd's notifications just fail.
        let value = dir.path().join("no-notify").display().to_string();
        let probe = Probe::start_with(dir.path(), None, None, &[(var, &value)]);
        // Logged before the task started, which `start` waited for.
        assert_eq!(probe.count(NO_BUS), 1, "{var}");
        probe.logged("WARN no system bus at unix:path=/nonexistent");
        let (code, _) = probe.terminate();
        assert_eq!(code, 0, "{var}");
    }
}

#[test]
fn without_a_bus_outside_systemd_nothing_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::start(dir.path(), None, None);
    let (code, _) = {
        // Started means the bus was tried: a warning would be logged by now.
        let count = probe.count(NO_BUS);
        assert_eq!(count, 0, "{:?}", probe.log.lock().unwrap());
        probe.terminate()
    };
    assert_eq!(code, 0);

    // Under the control channel (`cargo bgapp run`) no bus is tried, even
    // with systemd's variables inherited.
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the array it is given.
    let made = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(made, 0);
    // SAFETY: two new descriptors that nothing else owns.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let probe = Probe::start_with(
        dir.path(),
        None,
        Some(theirs.as_raw_fd()),
        &[("INVOCATION_ID", "0123")],
    );
    drop(theirs);
    assert_eq!(probe.count(NO_BUS), 0, "{:?}", probe.log.lock().unwrap());
    let (code, _) = probe.terminate();
    assert_eq!(code, 0);
    drop(ours);
}

#[test]
fn a_bus_without_logind_or_systemd_is_an_operator_stop() {
    let bus = Bus::start();
    let state = bus.dir.path().join("state");
    let probe = Probe::start(&state, Some(&bus.address), None);
    let (code, took) = probe.terminate();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert!(record(&state).contains("exit_detail=stop-requested"));
}

#[test]
fn the_control_channel_replaces_the_bus() {
    // A bus that would say "shutdown" and grant locks: under the control
    // channel the app must not ask it anything.
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, 1_000_000, "stopping");
    let state = bus.dir.path().join("state");
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the array it is given.
    let made = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(made, 0);
    // SAFETY: two new descriptors that nothing else owns.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETFD only sets a flag of a descriptor we own.
    unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    let probe = Probe::start(&state, Some(&bus.address), Some(theirs.as_raw_fd()));
    drop(theirs);
    probe.logged("control variable hidden");
    let mut control = std::os::unix::net::UnixStream::from(ours);
    use std::io::Write;
    let slept = Instant::now();
    control.write_all(b"sleep 1500\n").unwrap();
    assert_deadline(&probe.expect("probe: suspending"), 1500, slept);
    control.write_all(b"reboot now\nresume\n").unwrap();
    probe.expect("ignoring `reboot now`");
    probe.expect("probe: resuming");
    control.write_all(b"stop time-limit 300\n").unwrap();
    probe.expect("probe: stop time-limit");
    let mut child = probe;
    let status = child.child.wait().unwrap();
    // Stopped in time, but a time-limit stop is a failure.
    assert_eq!(status.code(), Some(1));
    assert!(record(&state).contains("exit_detail=time-limit"));
    // Nothing was asked of the bus: no lock, no state query.
    assert!(fake.seen.try_recv().is_err());

    // A plain SIGTERM under the channel is an operator stop, even while
    // the bus says "stopping".
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the array it is given.
    let made = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(made, 0);
    // SAFETY: two new descriptors that nothing else owns.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let probe = Probe::start(&state, Some(&bus.address), Some(theirs.as_raw_fd()));
    drop(theirs);
    let (code, _) = probe.terminate();
    assert_eq!(code, 0);
    assert!(record(&state).contains("exit_detail=stop-requested"));
    assert!(fake.seen.try_recv().is_err());
    drop(ours);
}
