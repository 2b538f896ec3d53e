//! The adoption fixtures, `tests/fixtures/adopt/plain` (an exporter written
//! the way upstream daemons are: clap, axum, `log` and `tracing`, a child
//! process per request) and `tests/fixtures/adopt/bgapp` (the same daemon
//! adopted with bgapp; their `diff -r` is README's adoption guide). The
//! adopted one keeps the plain one's command line (`-p PORT`, `--version`,
//! a bad flag exits 2), leaves no run record for runs that are not runs,
//! answers a request in flight at SIGTERM whole (its child process lives
//! on, as under `KillMode=mixed`), writes `log` and `tracing` lines with
//! journald priorities, and runs under `cargo bgapp run`.
//!
//! The adopted fixture builds into the target directory the other fixture
//! tests use (`<target>/tmp/bgapp-fixtures`), so bgapp compiles once; the
//! plain one into a directory of its own there (its package has the same
//! name). One test at a time builds and runs them (a lock), since the
//! `cargo bgapp run` test builds a copy of the adopted one under the same
//! package name.

#[path = "support/run.rs"]
mod harness;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Long enough for a first build of a fixture on a loaded machine.
const BUILD: Duration = Duration::from_secs(900);
const LINE: Duration = Duration::from_secs(60);
const APP: &str = "adopt-exporter";

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn fixtures_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgapp-fixtures")
}

fn fixture(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/adopt")
        .join(which)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

#[track_caller]
fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds a fixture (`--locked`: its lock file is committed) into
/// `target`, and returns its binary.
fn build(dir: &Path, target: &Path) -> PathBuf {
    let output = cargo()
        .args(["build", "--locked", "-q"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    check(&output, &format!("cargo build in {}", dir.display()));
    target.join("debug").join(APP)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A state directory of the test's own, empty.
fn state_dir(name: &str) -> PathBuf {
    let dir = fixtures_target().join("adopt-state").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary to its end with `args`, stdin closed.
fn run_to_end(bin: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("BGAPP_STATE_DIR", state)
        .env_remove("BGAPP_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .output()
        .expect("the fixture runs")
}

fn record(state: &Path) -> Option<String> {
    std::fs::read_to_string(state.join(format!("{APP}.run"))).ok()
}

/// `GET path` on its own connection; the whole response.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(LINE))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// A daemon started by hand, its stderr in a file whose device and inode
/// are given as `JOURNAL_STREAM`, as systemd does for a unit whose stderr
/// is the journal: the runtime then writes `<N>` priority prefixes.
struct Daemon {
    child: Child,
    stderr: PathBuf,
}

impl Daemon {
    fn start(bin: &Path, state: &Path, args: &[&str]) -> Daemon {
        let stderr = state.join("stderr");
        let file = std::fs::File::create(&stderr).unwrap();
        let meta = file.metadata().unwrap();
        let child = Command::new(bin)
            .args(args)
            .env("BGAPP_STATE_DIR", state)
            .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
            .env_remove("BGAPP_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the fixture runs");
        Daemon { child, stderr }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `needle` in its stderr; fails at once if it exited.
    #[track_caller]
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + LINE;
        loop {
            if self.text().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited ({status}) without `{needle}`:\n{}", self.text());
            }
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&self) {
        // SAFETY: kill(2) of the child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    #[track_caller]
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + LINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "did not exit:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_adopted_daemon_keeps_the_plain_ones_command_line() {
    let _one = one_at_a_time();
    let plain = build(&fixture("plain"), &fixtures_target().join("adopt-plain"));
    let adopted = build(&fixture("bgapp"), &fixtures_target());
    let state = state_dir("command-line");
    let version = run_to_end(&plain, &state, &["--version"]);
    check(&version, "plain --version");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        "adopt-exporter 0.3.1\n"
    );
    for (args, code) in [
        (&["--version"][..], 0),
        (&["--help"][..], 0),
        (&["-h"][..], 0),
        (&["--no-such-flag"][..], 2),
        (&["-p", "http"][..], 2),
    ] {
        let before = run_to_end(&plain, &state, args);
        let after = run_to_end(&adopted, &state, args);
        assert_eq!(after.status.code(), Some(code), "{args:?}: {after:?}");
        assert_eq!(before.status.code(), after.status.code(), "{args:?}");
        assert_eq!(before.stdout, after.stdout, "{args:?}: the same output");
        assert_eq!(before.stderr, after.stderr, "{args:?}: the same errors");
        assert_eq!(record(&state), None, "{args:?} is not a run: no run record");
    }
    // bgapp's own flag cannot collide with the daemon's.
    let list = run_to_end(&adopted, &state, &["--bgapp-list"]);
    check(&list, "--bgapp-list");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        format!("{APP}\tsocket\n")
    );
    assert_eq!(record(&state), None);
}

#[test]
fn the_adopted_daemon_serves_on_its_port_and_finishes_a_request_at_sigterm() {
    let _one = one_at_a_time();
    let bin = build(&fixture("bgapp"), &fixtures_target());
    let state = state_dir("serve");
    let port = free_port();
    let port_arg = port.to_string();
    // `-v`, the daemon's own flag, turns on its debug lines.
    let mut daemon = Daemon::start(&bin, &state, &["-p", &port_arg, "-v"]);
    daemon.wait_for(&format!("<6>listening on 127.0.0.1:{port}"));
    let health = http_get(port, "/health").unwrap();
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");

    // SIGTERM to the main process alone (systemd's KillMode=mixed) while
    // a request's child process runs: the request is answered whole.
    let request = std::thread::spawn(move || http_get(port, "/metrics"));
    daemon.wait_for("<7>running the probe");
    daemon.terminate();
    let answer = request.join().unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\ndata\n"), "{answer}");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.text());
    let text = daemon.text();
    for line in [
        "<6>task `adopt-exporter` started (activation: manual, previous execution: not-running)",
        "<6>task `adopt-exporter` stopping (stop-requested)",
        "<6>task `adopt-exporter` exited with status 0 (finished)",
    ] {
        assert!(text.contains(line), "`{line}` not in:\n{text}");
    }
    let stopped = record(&state).expect("a run is recorded");
    assert!(stopped.contains("exit=stopped\n"), "{stopped}");

    // A bad flag after it: exit 2, and the record still says how the last
    // run ended (the next start does not report a crash).
    let refused = run_to_end(&bin, &state, &["--port"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("started"));
    assert_eq!(record(&state).as_deref(), Some(stopped.as_str()));

    // A failing probe: the `log` crate's warning at priority 4.
    let mut daemon = Daemon::start(&bin, &state, &["-p", &port_arg, "--probe", "exit 3"]);
    daemon.wait_for("<6>listening on");
    let answer = http_get(port, "/metrics").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    daemon.wait_for("<4>the probe failed: exit status: 3");
    assert!(
        !daemon.text().contains("<7>"),
        "no debug lines without -v:\n{}",
        daemon.text()
    );
    assert!(
        daemon.text().contains("previous execution: closed-by-user"),
        "{}",
        daemon.text()
    );
    daemon.terminate();
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.text());
}

#[test]
fn the_adopted_daemon_runs_under_cargo_bgapp_run() {
    let _one = one_at_a_time();
    // A copy with a socket on a free port: the attribute's `listen` is the
    // address `cargo bgapp run` listens on.
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopt-run");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("src")).unwrap();
    let port = free_port();
    let source = std::fs::read_to_string(fixture("bgapp/src/main.rs")).unwrap();
    let listen = "listen = \"127.0.0.1:9586\"";
    assert!(source.contains(listen), "the fixture listens on 9586");
    let source = source.replace(listen, &format!("listen = \"127.0.0.1:{port}\""));
    std::fs::write(copy.join("src/main.rs"), source).unwrap();
    let manifest = std::fs::read_to_string(fixture("bgapp/Cargo.toml")).unwrap();
    let bgapp = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("bgapp");
    let manifest = manifest.replace("../../../../../bgapp", &bgapp.display().to_string());
    std::fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(fixture("bgapp/Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    let _ = std::fs::remove_dir_all(fixtures_target().join("bgapp/state").join(APP));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"));
    cmd.args(["bgapp", "run"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("BGAPP_LOG");
    let mut run = harness::Run::spawn(
        cmd,
        "cargo bgapp run (adopt)",
        &format!("Running {APP}: {APP} ("),
        BUILD,
    );
    let answer = http_get(port, "/metrics")
        .unwrap_or_else(|e| panic!("no answer ({e}); output:\n{}", run.text()));
    assert!(
        answer.ends_with("\r\n\r\ndata\n"),
        "{answer}\n{}",
        run.text()
    );
    run.wait_for(&format!("Started {APP} (socket, pid "), LINE);
    run.wait_for(
        &format!("[{APP}]  INFO listening on 127.0.0.1:{port}"),
        LINE,
    );
    run.interrupt();
    let (status, text) = run.wait_exit(LINE);
    assert_eq!(status.code(), Some(0), "{status}; output:\n{text}");
    assert!(text.contains("Finished every task stopped"), "{text}");
}
