//! `cargo bgapp run` and `cargo bgapp trigger`, run as the real binary on
//! the fixture apps `tests/fixtures/lifecycle` and `tests/fixtures/triggers`.
//!
//! The fixtures build into the target directory `package.rs` uses
//! (`<target>/tmp/bgapp-fixtures`), so bgapp compiles once. Runs of one
//! fixture share its run directory and state, so they take turns (one lock
//! per fixture); the two fixtures run side by side. Every wait is for a
//! line of output or a condition, with a generous timeout; the one pause
//! (in `asking_to_stop_never_postpones_a_kill_already_due`) is the
//! scenario's own timing, not a synchronisation. The timing rules
//! themselves are tested on a fake clock in `src/supervise/core/tests.rs`.

#[path = "support/run.rs"]
mod harness;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use harness::Run;

/// Long enough for a first build of the fixture on a loaded machine.
const FIRST_LINE: Duration = Duration::from_secs(300);
const LINE: Duration = Duration::from_secs(30);

fn fixtures_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgapp-fixtures")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn cargo_bgapp(fixture_name: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"));
    cmd.arg("bgapp")
        .current_dir(fixture(fixture_name))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("BGAPP_LOG");
    cmd
}

/// Takes the fixture for one test and clears its saved state, so every
/// test starts from a first run.
fn take(name: &'static str) -> MutexGuard<'static, ()> {
    static LIFECYCLE: Mutex<()> = Mutex::new(());
    static TRIGGERS: Mutex<()> = Mutex::new(());
    let lock = match name {
        "lifecycle" => &LIFECYCLE,
        _ => &TRIGGERS,
    };
    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::fs::remove_dir_all(fixtures_target().join("bgapp/state").join(name));
    guard
}

/// `cargo bgapp run ARGS` in the fixture, once it says it runs.
fn start(fixture_name: &str, args: &[&str]) -> Run {
    let mut cmd = cargo_bgapp(fixture_name);
    cmd.arg("run").args(args);
    let what = format!("cargo bgapp run {}", args.join(" "));
    Run::spawn(cmd, &what, "Running ", FIRST_LINE)
}

trait StopCleanly {
    fn stop(self) -> String;
}

impl StopCleanly for Run {
    /// Ctrl-C, then the exit, which must be clean.
    #[track_caller]
    fn stop(mut self) -> String {
        self.interrupt();
        let (status, text) = self.wait_exit(LINE);
        assert!(status.success(), "{status}; output:\n{text}");
        text
    }
}

fn trigger(fixture_name: &str, args: &[&str]) -> Output {
    cargo_bgapp(fixture_name)
        .arg("trigger")
        .args(args)
        .output()
        .expect("cargo-bgapp runs")
}

#[track_caller]
fn trigger_ok(fixture_name: &str, args: &[&str]) -> String {
    let out = trigger(fixture_name, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "trigger {args:?} failed:\n{stderr}");
    stderr
}

#[track_caller]
fn trigger_err(fixture_name: &str, args: &[&str], needle: &str) {
    let out = trigger(fixture_name, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "trigger {args:?}:\n{stderr}");
    assert!(
        stderr
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("error: ") && l.contains(needle)),
        "`{needle}` not in the error of trigger {args:?}:\n{stderr}"
    );
}

#[test]
fn boot_task_output_is_prefixed_and_ctrl_c_stops_it_as_an_operator() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "ticker"]);
    run.wait_for("[ticker] ticker up, previous not-running", LINE);
    run.wait_for("[ticker] tick 2\n", LINE);
    // The runtime's own log (stderr) is prefixed too.
    run.wait_for(
        "[ticker]  INFO task `ticker` started (activation: boot",
        LINE,
    );
    let text = run.stop();
    assert!(text.contains("Stopping 1 task"), "{text}");
    assert!(
        text.contains("[ticker] ticker stopping: stop-requested"),
        "{text}"
    );
    assert!(
        text.contains("Stopped ticker: status 0 (finished)"),
        "{text}"
    );

    // The state directory outlives the run, as on a device.
    let again = start("lifecycle", &["--task", "ticker"]);
    again.wait_for("[ticker] ticker up, previous closed-by-user", LINE);
    again.stop();
}

/// systemd.kill(5), `KillMode=mixed`, as the units have it: a stop sends
/// SIGTERM to the task's main process only, so the helper process it runs
/// for a request finishes its work; the rest of the group is killed only
/// at the deadline or once the main process has exited. (With the whole
/// group signalled, the helper died at once: `helper ended: signal: 15`.)
#[test]
fn a_stop_signals_the_main_process_only_and_its_helper_finishes() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "parent"]);
    run.wait_for("[parent] helper started", LINE);
    let text = run.stop();
    assert!(text.contains("[parent] helper finished its work"), "{text}");
    assert!(
        text.contains("[parent] helper ended: exit status: 0"),
        "{text}"
    );
}

#[test]
fn a_crash_is_restarted_and_the_restart_sees_it() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "flaky"]);
    run.wait_for("Exited flaky with status 1 (failed) after", LINE);
    run.wait_for("; restarting in 1s", LINE);
    run.wait_for("Started flaky (restart, pid", LINE);
    run.wait_for("previous execution: crashed, 1 consecutive crash", LINE);
    run.wait_for("[flaky] flaky recovered after a crash", LINE);
    run.stop();
}

#[test]
fn a_permanent_failure_is_not_restarted() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "doomed"]);
    run.wait_for(
        "Exited doomed with status 4 (failed permanently) after",
        LINE,
    );
    run.wait_for("not restarted: its exit status prevents restarts", LINE);
    assert_eq!(run.count("Started doomed"), 1, "{}", run.text());
    run.stop();
}

#[test]
fn a_crash_loop_ends_in_the_failed_state() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "crashloop"]);
    run.wait_for(
        "task `crashloop` failed: start limit hit (5 starts within 60s)",
        LINE,
    );
    // StartLimitBurst=5: five starts, and none after the limit.
    assert_eq!(run.count("Started crashloop"), 5, "{}", run.text());
    assert_eq!(run.count("restarting in 1s"), 5, "{}", run.text());
    run.stop();
}

/// The pid `cargo bgapp run` printed for a task's start.
fn started_pid(text: &str, task: &str) -> i32 {
    text.split(&format!("Started {task} (boot, pid "))
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in:\n{text}"))
}

/// Waits until `pid` has exited (or is a zombie waiting to be reaped).
#[track_caller]
fn wait_gone(pid: i32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            return;
        }
        assert!(Instant::now() < deadline, "task {pid} still runs: {stat}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_supervisor_takes_its_tasks_down() {
    let _fixture = take("lifecycle");
    let mut run = start("lifecycle", &["--task", "quiet"]);
    run.wait_for("INFO task `quiet` started", LINE);
    let pid = started_pid(&run.text(), "quiet");
    run.signal(libc::SIGKILL);
    let _ = run.wait_exit(LINE);
    // The task gets a stop (SIGTERM) when its supervisor dies.
    wait_gone(pid, LINE);
    let again = start("lifecycle", &["--task", "quiet"]);
    again.wait_for("previous execution: closed-by-user", LINE);
    again.stop();
}

#[test]
fn a_long_line_without_a_newline_is_shown_while_the_task_runs() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "chatty"]);
    // Shown in pieces of at most 64 KiB, not held back until the end.
    let piece = format!("[chatty] {}", "x".repeat(64 * 1024));
    run.wait_for(&piece, LINE);
    let longest = run.text().lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 64 * 1024 + 100, "a line of {longest} bytes");
    run.stop();
}

#[test]
fn asking_to_stop_never_postpones_a_kill_already_due() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "obstinate"]);
    // Time limit 2 s + stop timeout 1 s + 2 s margin: the supervisor stops
    // it, with SIGKILL 3 s later. An operator's stop half-way through must
    // not move the kill to 3 s after itself. The trigger has to land
    // within those 3 s: on a machine so loaded that it does not, the task
    // is restarted (on-failure) and the next cycle tries again.
    for cycle in 1..=3 {
        run.wait_for_n(
            "ran longer than its time limit and stop timeout",
            cycle,
            LINE,
        );
        let restarts = run.count("Started obstinate (restart");
        // The scenario's own timing (half-way), not a synchronisation.
        std::thread::sleep(Duration::from_millis(1_500));
        let sent = Instant::now();
        let out = trigger("lifecycle", &["obstinate", "--stop"]);
        let answered = sent.elapsed();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let killed = said.contains("Stopped task `obstinate`: signal 9 (SIGKILL)");
        if killed && run.count("Started obstinate (restart") == restarts {
            // `trigger --stop` returns at the end: with the kill postponed,
            // 3 s after it was sent at the earliest.
            assert!(
                answered < Duration::from_secs(3),
                "killed {answered:?} after the trigger: it postponed the kill\n{}",
                run.text()
            );
            run.wait_for("Stopped obstinate: signal 9 (SIGKILL)", LINE);
            run.stop();
            return;
        }
        // Too late: it stopped the restart, or the run after it.
        assert!(out.status.success(), "{said}");
        trigger_ok("lifecycle", &["obstinate"]);
    }
    panic!("no trigger landed within the stop:\n{}", run.text());
}

#[test]
fn a_second_ctrl_c_kills_every_task_at_once() {
    let _fixture = take("lifecycle");
    let mut run = start("lifecycle", &["--task", "stubborn"]);
    run.wait_for("[stubborn]  INFO task `stubborn` started", LINE);
    let text = run.text();
    let pid: i32 = text
        .split("Started stubborn (boot, pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in:\n{text}"));
    run.interrupt();
    run.wait_for("[stubborn] stubborn ignores stop-requested", LINE);
    let second = Instant::now();
    run.interrupt();
    let (status, text) = run.wait_exit(LINE);
    assert_eq!(status.code(), Some(130), "{text}");
    // Its stop timeout is 30s: the exit did not wait for it.
    assert!(second.elapsed() < Duration::from_secs(20), "{text}");
    assert!(text.contains("Killed stubborn"), "{text}");
    // The task is gone (or a zombie until init reaps it).
    let deadline = Instant::now() + LINE;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            break;
        }
        assert!(Instant::now() < deadline, "task {pid} still runs: {stat}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_watchdog_aborts_a_task_that_stops_pinging() {
    let _fixture = take("lifecycle");
    let run = start("lifecycle", &["--task", "hung", "--task", "alive"]);
    run.wait_for(
        "task `hung` watchdog timeout: no `WATCHDOG=1` for 500ms; aborting it (SIGABRT)",
        LINE,
    );
    run.wait_for("Exited hung with signal 6 (SIGABRT) after", LINE);
    run.wait_for("watchdog timeout; restarting in 1s", LINE);
    // The runtime's pings (WATCHDOG_PID is its pid) keep `alive` alive.
    run.wait_for("Exited alive with status 0 (finished)", LINE);
    assert!(
        !run.text().contains("task `alive` watchdog"),
        "{}",
        run.text()
    );
    // `hung` cannot take a stop; dropping the run ends it with two Ctrl-C.
}

#[test]
fn a_timer_task_fires_on_its_schedule() {
    let _fixture = take("triggers");
    let run = start("triggers", &["--task", "tick"]);
    // `every = "300ms"`: TRIGGER_TIMER_REALTIME_USEC reaches the task.
    run.wait_for_n("[tick] tick fired by its timer", 2, LINE);
    assert!(run.text().contains("Started tick (timer, pid"));
    run.stop();
}

#[test]
fn trigger_starts_a_manual_task() {
    let _fixture = take("triggers");
    trigger_err(
        "triggers",
        &["cleaner"],
        "no `cargo bgapp run` of package `triggers` is running",
    );
    let run = start("triggers", &["--task", "cleaner"]);
    assert_eq!(run.count("Started cleaner"), 0, "{}", run.text());

    let out = cargo_bgapp("triggers").arg("run").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: another `cargo bgapp run` of package `triggers` is running"),
        "{stderr}"
    );

    let said = trigger_ok("triggers", &["cleaner"]);
    assert!(
        said.contains("Triggered task `cleaner`: started (pid "),
        "{said}"
    );
    run.wait_for("[cleaner] cleaner ran (manual)", LINE);
    run.wait_for("Exited cleaner with status 0 (finished)", LINE);
    trigger_err("triggers", &["nope"], "no task named `nope` in this run");
    trigger_err(
        "triggers",
        &["cleaner", "--stop"],
        "task `cleaner` is not running",
    );
    run.stop();
}

#[test]
fn trigger_stop_is_an_operator_stop() {
    let _fixture = take("triggers");
    let run = start("triggers", &["--task", "sleeper"]);
    run.wait_for("[sleeper] sleeper up, previous not-running", LINE);
    // It returns once the task has ended.
    let said = trigger_ok("triggers", &["sleeper", "--stop"]);
    assert!(
        said.contains("Stopped task `sleeper`: status 0 (finished)"),
        "{said}"
    );
    assert!(run
        .text()
        .contains("[sleeper] sleeper stopping: stop-requested"));
    // An operator stop is not restarted; a trigger starts it again.
    trigger_ok("triggers", &["sleeper"]);
    run.wait_for("[sleeper] sleeper up, previous closed-by-user", LINE);
    run.stop();
}

/// Needs the runtime to read `BGAPP_CONTROL_FD`.
#[test]
fn trigger_stop_for_shutdown_is_seen_as_terminated() {
    let _fixture = take("triggers");
    let run = start("triggers", &["--task", "sleeper"]);
    run.wait_for("[sleeper] sleeper up, previous not-running", LINE);
    let said = trigger_ok("triggers", &["sleeper", "--stop", "--reason", "shutdown"]);
    assert!(
        said.contains("Stopped task `sleeper`: status 0 (finished)"),
        "{said}\n{}",
        run.text()
    );
    assert!(run
        .text()
        .contains("[sleeper] sleeper stopping: system-shutdown"));
    trigger_ok("triggers", &["sleeper"]);
    run.wait_for("[sleeper] sleeper up, previous terminated", LINE);
    run.stop();
}

/// Needs the runtime to read `BGAPP_CONTROL_FD`.
#[test]
fn trigger_sleep_and_resume_reach_the_task() {
    let _fixture = take("triggers");
    let run = start("triggers", &["--task", "sleeper"]);
    run.wait_for("[sleeper] sleeper up", LINE);
    trigger_ok("triggers", &["sleeper", "--sleep", "--deadline", "2s"]);
    run.wait_for("[sleeper] sleeper suspending", LINE);
    trigger_ok("triggers", &["sleeper", "--resume"]);
    run.wait_for("[sleeper] sleeper resuming", LINE);
    run.stop();
}

#[test]
fn a_connection_starts_a_socket_task_with_the_socket() {
    let _fixture = take("triggers");
    let run = start("triggers", &["--task", "echo"]);
    for n in 1..=2 {
        // The supervisor listens; the task answers on the passed socket,
        // and after it has ended the supervisor listens again.
        let mut conn = std::net::TcpStream::connect("127.0.0.1:39517").expect("connects");
        conn.set_read_timeout(Some(LINE)).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "hello from echo\n", "{}", run.text());
        run.wait_for_n("Exited echo with status 0 (finished)", n, LINE);
    }
    run.wait_for("[echo] echo started by socket", LINE);
    run.stop();
}

#[test]
fn a_dropped_file_fires_a_path_task() {
    let _fixture = take("triggers");
    let spool = Path::new("/tmp/bgapp-run-fixture-spool");
    let _ = std::fs::remove_dir_all(spool);
    let run = start("triggers", &["--task", "spool"]);
    // The supervisor creates the watched directory, as the package does.
    assert!(spool.is_dir());
    assert_eq!(run.count("Started spool"), 0, "{}", run.text());
    let tmp = std::env::temp_dir().join(format!("bgapp-run-drop-{}", std::process::id()));
    std::fs::write(&tmp, "data\n").unwrap();
    std::fs::rename(&tmp, spool.join("drop.txt")).unwrap();
    run.wait_for("Started spool (path, pid", LINE);
    run.wait_for("[spool] spool fired for /tmp/bgapp-run-fixture-spool", LINE);
    run.wait_for("[spool] spool processed drop.txt", LINE);
    run.wait_for("Exited spool with status 0 (finished)", LINE);
    assert!(!spool.join("drop.txt").exists());
    run.stop();
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().append(true).open(path).unwrap()
}

/// With its output not a terminal (so colour is stripped), and stdout and
/// stderr in one file, every line of every stream arrives whole, its
/// prefix included: one `write(2)` per line.
#[test]
fn lines_of_both_streams_never_mix_in_one_file() {
    let _fixture = take("triggers");
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = cargo_bgapp("triggers");
    cmd.args(["run", "--task", "chatter"])
        .stdin(std::process::Stdio::null())
        .stdout(append(file.path()))
        .stderr(append(file.path()));
    /// Ends the run however the test ends.
    struct Interrupt(std::process::Child);
    impl Drop for Interrupt {
        fn drop(&mut self) {
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
    let mut child = Interrupt(cmd.spawn().unwrap());
    let read = || std::fs::read_to_string(file.path()).unwrap_or_default();
    let start = Instant::now();
    while !read().contains("chatter done") {
        assert!(
            start.elapsed() < FIRST_LINE,
            "no `chatter done`:\n{}",
            read()
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the run ended:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) };
    assert!(child.0.wait().unwrap().success(), "{}", read());
    let text = read();
    let mut counted = 0;
    for line in text
        .lines()
        .filter(|l| l.contains("chatter") && l.contains("line"))
    {
        let rest = line.strip_prefix("[chatter] ");
        let ok = rest.is_some_and(|r| {
            let words: Vec<&str> = r.split(' ').collect();
            matches!(words.as_slice(), ["chatter", "out" | "err", "line", n] if n.parse::<u32>().is_ok())
        });
        assert!(ok, "a mixed line: {line:?}");
        counted += 1;
    }
    assert_eq!(counted, 6000, "lines went missing");
}
