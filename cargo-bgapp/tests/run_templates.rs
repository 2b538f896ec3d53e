//! `cargo bgapp run` and `cargo bgapp trigger` on the five templates, as a
//! user runs them: the apps are scaffolded once with `cargo bgapp new` into
//! one workspace (`<target>/tmp/run-templates`), with template variables
//! that keep them off the machine's own ports and directories, and each
//! test runs one of them with `cargo bgapp run -p NAME` from the workspace
//! root.
//!
//! The apps build into the target directory the other tests use for their
//! fixtures (`<target>/tmp/bgapp-fixtures`), so bgapp and tokio compile
//! once. Each app has its own state and run directory there, so the tests
//! run side by side. Every wait is for a line of output or a condition,
//! with a generous timeout, never a fixed sleep; every process a test
//! starts is killed when it ends, and each test checks that no process of
//! its app is left.

#[path = "support/run.rs"]
mod harness;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Long enough for a first build of an app on a loaded machine.
const FIRST_LINE: Duration = Duration::from_secs(600);
const LINE: Duration = Duration::from_secs(60);

const HELLO: &str = "rtpl-hello";
const TIMER: &str = "rtpl-timer";
const SERVER: &str = "rtpl-server";
const WATCHER: &str = "rtpl-watcher";
const HTTP: &str = "rtpl-http";

fn fixtures_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgapp-fixtures")
}

/// Where `cargo bgapp run` keeps an app's state (`BGAPP_STATE_DIR`).
fn state_dir(app: &str) -> PathBuf {
    fixtures_target().join("bgapp/state").join(app)
}

/// The scaffolded workspace and what its apps were given.
struct Apps {
    workspace: PathBuf,
    /// The server's address (`-d port=`).
    server_address: String,
    /// The HTTP service's address (`-d port=`).
    http_address: String,
    /// The watcher's spool directory (`-d spool_dir=`).
    spool: PathBuf,
    /// Where the watcher test writes files before renaming them into the
    /// spool directory (the same file system).
    staging: PathBuf,
    /// The timer's source file (`-d source=`).
    source: PathBuf,
}

/// The four apps, scaffolded and built on first use.
fn apps() -> &'static Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(scaffold)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn cargo_bgapp(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"));
    cmd.arg("bgapp")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("BGAPP_LOG")
        .stdin(Stdio::null());
    cmd
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

fn scaffold() -> Apps {
    let workspace = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-templates");
    if workspace.exists() {
        std::fs::remove_dir_all(&workspace).expect("remove the old workspace");
    }
    let data = workspace.join("data");
    let staging = data.join("staging");
    std::fs::create_dir_all(&staging).expect("create the workspace");
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = []\n",
    )
    .expect("write the workspace manifest");
    let apps = Apps {
        server_address: format!("127.0.0.1:{}", free_port()),
        http_address: format!("127.0.0.1:{}", free_port()),
        spool: data.join("spool"),
        source: data.join("timer-source.txt"),
        staging,
        workspace,
    };

    let new = |name: &str, template: &str, defines: &[String]| {
        let mut cmd = cargo_bgapp(&apps.workspace);
        cmd.args(["new", name, "--template", template, "--vcs", "none", "-q"]);
        for d in defines {
            cmd.args(["-d", d]);
        }
        check(
            &cmd.output().expect("cargo-bgapp runs"),
            &format!("cargo bgapp new {name}"),
        );
    };
    new(HELLO, "hello", &[]);
    new(
        TIMER,
        "timer",
        &[
            "interval=2s".into(),
            format!("source={}", apps.source.display()),
        ],
    );
    new(SERVER, "server", &[format!("port={}", apps.server_address)]);
    new(
        WATCHER,
        "watcher",
        &[format!("spool_dir={}", apps.spool.display())],
    );
    new(HTTP, "http", &[format!("port={}", apps.http_address)]);

    // Build each app once, one after the other, as `cargo bgapp run -p`
    // builds it (one package, so the same features), so that the runs find
    // it built instead of waiting for each other's builds.
    for name in [HELLO, TIMER, SERVER, WATCHER, HTTP] {
        let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "-q", "-p", name])
            .current_dir(&apps.workspace)
            .env("CARGO_TARGET_DIR", fixtures_target())
            .env_remove("CARGO_BUILD_TARGET")
            .stdin(Stdio::null())
            .output()
            .expect("cargo runs");
        check(&output, &format!("cargo build -p {name}"));
    }
    apps
}

/// Clears an app's saved state, so that its test starts from a first run.
fn fresh(app: &str) -> &'static Apps {
    let apps = apps();
    let _ = std::fs::remove_dir_all(state_dir(app));
    apps
}

/// A running `cargo bgapp run -p APP` (see `support/run.rs`), and what
/// this file knows of its app.
struct Run {
    app: &'static str,
    run: harness::Run,
    /// When the supervisor said it runs.
    running_at: Instant,
}

impl std::ops::Deref for Run {
    type Target = harness::Run;
    fn deref(&self) -> &harness::Run {
        &self.run
    }
}

impl std::ops::DerefMut for Run {
    fn deref_mut(&mut self) -> &mut harness::Run {
        &mut self.run
    }
}

impl Run {
    #[track_caller]
    fn start(app: &'static str) -> Run {
        let mut cmd = cargo_bgapp(&apps().workspace);
        cmd.args(["run", "-p", app]);
        let run = harness::Run::spawn(
            cmd,
            &format!("cargo bgapp run -p {app}"),
            &format!("Running {app}: {app} ("),
            FIRST_LINE,
        );
        Run {
            app,
            run,
            running_at: Instant::now(),
        }
    }

    /// The pid in the supervisor's `Started APP (..., pid N)` lines.
    fn task_pids(&self) -> Vec<i32> {
        let marker = format!("Started {} (", self.app);
        self.text()
            .lines()
            .filter_map(|l| l.split(&marker).nth(1))
            .filter_map(|rest| rest.split("pid ").nth(1))
            .filter_map(|p| p.trim_end_matches(')').parse().ok())
            .collect()
    }

    /// Ctrl-C, then the exit, which must be clean: status 0, every task
    /// stopped.
    #[track_caller]
    fn stop(mut self) -> String {
        self.interrupt();
        let (status, text) = self.wait_exit(LINE);
        assert_eq!(status.code(), Some(0), "{status}; output:\n{text}");
        assert!(text.contains("Finished every task stopped"), "{text}");
        text
    }
}

impl Drop for Run {
    /// A failed test leaves nothing behind: the run ended (its tasks with
    /// it), then each task's group still alive killed.
    fn drop(&mut self) {
        self.run.end();
        for pid in self.task_pids() {
            if is_app_process(pid, self.app) {
                // SAFETY: kill(2) of a process group the supervisor created
                // for a task of ours, still running our app's binary.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Whether `pid` is a live process running the binary of `app`.
fn is_app_process(pid: i32, app: &str) -> bool {
    let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
        return false; // Gone, a zombie, or not ours.
    };
    let exe = exe.to_string_lossy();
    let name = exe.rsplit('/').next().unwrap_or("");
    name == app || name == format!("{app} (deleted)")
}

/// Every live process running the binary of `app`.
fn app_processes(app: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| is_app_process(pid, app))
        .collect()
}

/// No process of `app` is left (a killed one may take a moment to go).
#[track_caller]
fn assert_no_process_left(app: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = app_processes(app);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of `{app}` are left: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `(state, ppid, pgrp)` of a process, from `/proc/PID/stat`.
fn proc_stat(pid: i32) -> Option<(String, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.to_string();
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// `cargo bgapp trigger APP ARGS -p APP` from the workspace root; its
/// stderr, which must say it succeeded.
#[track_caller]
fn trigger(app: &str, args: &[&str]) -> String {
    let output = cargo_bgapp(&apps().workspace)
        .args(["trigger", app])
        .args(args)
        .args(["-p", app])
        .output()
        .expect("cargo-bgapp runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "cargo bgapp trigger {app} {args:?} failed ({}):\n{stderr}",
        output.status
    );
    stderr
}

#[test]
fn hello_keeps_its_state_across_runs_and_takes_lifecycle_events() {
    let app = HELLO;
    fresh(app);
    let run = Run::start(app);
    run.wait_for(
        &format!("[{app}]  INFO run 1 of `{app}`, after not-running"),
        LINE,
    );
    run.wait_for(
        &format!("[{app}]  INFO task `{app}` started (activation: boot, previous execution: not-running)"),
        LINE,
    );
    // The task leads a process group of its own, a child of the supervisor.
    let pids = run.task_pids();
    assert_eq!(pids.len(), 1, "{}", run.text());
    assert_eq!(
        app_processes(app),
        pids,
        "the check for processes left sees it"
    );
    let (_, ppid, pgrp) = proc_stat(pids[0]).expect("the task runs");
    assert_eq!(pgrp, pids[0], "the task's process group");
    assert_eq!(ppid, run.pid(), "the task's parent");

    // The system goes to sleep and wakes up: the task hears both and runs on.
    let said = trigger(app, &["--sleep", "--deadline", "2s"]);
    assert!(
        said.contains(&format!("Delivered `sleep 2000` to task `{app}`")),
        "{said}"
    );
    run.wait_for(
        &format!("[{app}]  INFO task `{app}` suspending: the system is about to sleep"),
        LINE,
    );
    let said = trigger(app, &["--resume"]);
    assert!(
        said.contains(&format!("Delivered `resume` to task `{app}`")),
        "{said}"
    );
    run.wait_for(
        &format!("[{app}]  INFO task `{app}` resuming: the system woke up"),
        LINE,
    );
    assert_eq!(run.count(&format!("Started {app}")), 1, "{}", run.text());
    assert_eq!(run.count(&format!("Exited {app}")), 0, "{}", run.text());

    // Ctrl-C: an operator stop with the task's 5s deadline; it saves in
    // time, and the run exits 0.
    let text = run.stop();
    for needle in [
        "Stopping 1 task".to_string(),
        format!("[{app}]  INFO task `{app}` stopping (stop-requested); it has 5s to finish"),
        format!("[{app}]  INFO stopping (stop-requested), "),
        format!("[{app}]  INFO task `{app}` stopped (stop-requested) in time"),
        format!("Stopped {app}: status 0 (finished) after "),
    ] {
        assert!(text.contains(&needle), "`{needle}` not in:\n{text}");
    }
    assert_no_process_left(app);
    assert!(state_dir(app).join(format!("{app}.state.json")).is_file());

    // The state outlives the run: the next start sees the operator's stop.
    let run = Run::start(app);
    run.wait_for(
        &format!("[{app}]  INFO run 2 of `{app}`, after closed-by-user"),
        LINE,
    );
    // A shutdown instead: delivered on the control socket; `trigger`
    // returns once the task has ended.
    let said = trigger(app, &["--stop", "--reason", "shutdown"]);
    assert!(
        said.contains(&format!("Stopped task `{app}`: status 0 (finished)")),
        "{said}\n{}",
        run.text()
    );
    let text = run.text();
    assert!(
        text.contains(&format!("[{app}]  INFO stopping (system-shutdown), ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Stopping {app} (stop system-shutdown)")),
        "{text}"
    );
    // Stopped on purpose: not restarted; Ctrl-C has nothing to stop.
    assert_eq!(run.count(&format!("Started {app}")), 1, "{text}");
    run.stop();
    assert_no_process_left(app);

    let run = Run::start(app);
    run.wait_for(
        &format!("[{app}]  INFO run 3 of `{app}`, after terminated"),
        LINE,
    );
    run.stop();
    assert_no_process_left(app);
}

/// The templates that read no arguments say so (`args = "none"`): run by
/// hand, `app --version` and `app --help` are answered by bgapp and a
/// stray argument is a usage error (exit 2), and none of these is a run
/// (no run record, no "started" line). The timer, which takes an optional
/// source argument, keeps its command line.
#[test]
fn templates_without_arguments_have_bgapp_answer_help_and_version() {
    apps();
    for app in [HELLO, SERVER, WATCHER] {
        let bin = fixtures_target().join("debug").join(app);
        let state = tempfile::tempdir().unwrap();
        // An answer ends at once; a run (the bug) would go on: it is
        // killed at an overall deadline and the test fails on its status.
        let run = |args: &[&str]| {
            let mut child = Command::new(&bin)
                .args(args)
                .env("BGAPP_STATE_DIR", state.path())
                .env_remove("NOTIFY_SOCKET")
                .env_remove("LISTEN_FDS")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the app runs");
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            child.wait_with_output().unwrap()
        };
        let version = run(&["--version"]);
        assert_eq!(version.status.code(), Some(0), "{app}: {version:?}");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("{app} 0.1.0\n")
        );
        let help = run(&["--help"]);
        assert_eq!(help.status.code(), Some(0), "{app}: {help:?}");
        let help_text = String::from_utf8_lossy(&help.stdout);
        assert!(
            help_text.contains(&format!("Usage: {}\n", bin.display())),
            "{app}: {help_text}"
        );
        let stray = run(&["-p", "9586"]);
        assert_eq!(stray.status.code(), Some(2), "{app}: {stray:?}");
        assert_eq!(
            String::from_utf8_lossy(&stray.stderr),
            format!(
                "error: unexpected argument `-p`; task `{app}` takes no arguments (`args = \"none\"`); try `{} --help`\n",
                bin.display()
            )
        );
        for out in [&version, &help, &stray] {
            assert!(
                !String::from_utf8_lossy(&out.stderr).contains("started"),
                "{app}: {out:?}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(state.path()).unwrap().collect();
        assert!(left.is_empty(), "{app}: no run record: {left:?}");
    }
}

#[test]
fn timer_fires_on_schedule_and_on_trigger() {
    let app = TIMER;
    let apps = fresh(app);
    let _ = std::fs::remove_file(&apps.source);
    let run = Run::start(app);
    // `interval=2s`: the first fire after 2s, then 2s after each start.
    let no_data = format!("[{app}]  INFO fetch result: no data");
    run.wait_for_n(&no_data, 2, LINE);
    let within = run.running_at.elapsed();
    let text = run.text();
    assert!(
        text.contains(&format!("`{}` does not exist yet", apps.source.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Exited {app} with status 5 (finished, no new data) after "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Started {app} (timer, pid ")),
        "{text}"
    );
    assert!(!text.contains("restarting"), "{text}");

    // New data, and `trigger` fires the task now. A timer start may have
    // ended just before the write and seen it, or be running at the
    // trigger: then try again, right after the next end of a run.
    let mut found = None;
    for attempt in 1..=5 {
        let ended = run.count(&format!("Exited {app} with "));
        run.wait_for_n(&format!("Exited {app} with "), ended + 1, LINE);
        let lines: String = (0..=attempt).map(|n| format!("line {n}\n")).collect();
        std::fs::write(&apps.source, lines).unwrap();
        let said = trigger(app, &[]);
        let Some(pid) = said
            .split(&format!("Triggered task `{app}`: started (pid "))
            .nth(1)
            .and_then(|rest| rest.split(')').next())
        else {
            assert!(said.contains(": already running"), "{said}");
            continue;
        };
        let started = format!("Started {app} (timer, pid {pid})");
        run.wait_for(&started, LINE);
        // The first result after that start is its own: the next start of
        // the timer is an interval later.
        let deadline = Instant::now() + LINE;
        let result = loop {
            let text = run.text();
            let after = text.split(&started).nth(1).unwrap_or("");
            if let Some(line) = after.lines().find(|l| l.contains("INFO fetch result: ")) {
                break line.to_string();
            }
            assert!(Instant::now() < deadline, "no result of {pid}:\n{text}");
            run.wait_for_n(
                "fetch result: ",
                text.matches("fetch result: ").count() + 1,
                LINE,
            );
        };
        if result.contains("fetch result: new data") {
            found = Some(attempt + 1);
            break;
        }
    }
    let Some(lines) = found else {
        panic!("no triggered start saw the new data:\n{}", run.text());
    };
    run.wait_for(
        &format!(
            "[{app}]  INFO new data in `{}`: {lines} lines",
            apps.source.display()
        ),
        LINE,
    );
    run.wait_for(
        &format!("Exited {app} with status 0 (finished) after "),
        LINE,
    );
    // It saved what it saw: the next timer start finds nothing new.
    let seen = run.count(&no_data);
    run.wait_for_n(&no_data, seen + 1, LINE);
    run.stop();
    assert_no_process_left(app);
    eprintln!("two timer fires {within:?} after the start of the run");
}

#[test]
fn server_is_started_by_a_connection_and_answers_it() {
    let app = SERVER;
    let apps = fresh(app);
    let mut run = Run::start(app);
    // The supervisor listens; nothing runs before a client comes.
    assert_eq!(run.count(&format!("Started {app}")), 0, "{}", run.text());

    let stream = std::net::TcpStream::connect(&apps.server_address).expect("connects");
    stream.set_read_timeout(Some(LINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    for request in ["hello bgapp", "and again"] {
        writeln!(writer, "{request}").unwrap();
        answer.clear();
        reader
            .read_line(&mut answer)
            .unwrap_or_else(|e| panic!("no answer ({e}); output:\n{}", run.text()));
        assert_eq!(answer, format!("{request}\n"), "{}", run.text());
    }
    run.wait_for(&format!("Started {app} (socket, pid "), LINE);
    run.wait_for(
        &format!("[{app}]  INFO listening on {}", apps.server_address),
        LINE,
    );
    assert_eq!(run.count(&format!("Started {app}")), 1, "{}", run.text());
    assert_eq!(run.count(&format!("Exited {app}")), 0, "{}", run.text());

    // Ctrl-C with the connection open: the server closes it and ends.
    run.interrupt();
    answer.clear();
    let n = reader
        .read_line(&mut answer)
        .unwrap_or_else(|e| panic!("not closed ({e}); output:\n{}", run.text()));
    assert_eq!((n, answer.as_str()), (0, ""), "{}", run.text());
    let (status, text) = run.wait_exit(LINE);
    assert_eq!(status.code(), Some(0), "{status}; output:\n{text}");
    for needle in [
        format!("[{app}]  INFO stopping (stop-requested): "),
        format!("Stopped {app}: status 0 (finished) after "),
        "Finished every task stopped".to_string(),
    ] {
        assert!(text.contains(&needle), "`{needle}` not in:\n{text}");
    }
    assert_no_process_left(app);
}

/// `GET path` on a connection of its own (HTTP/1.1, `Connection: close`):
/// the whole response.
fn http_get(address: &str, path: &str) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(LINE))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn http_is_started_by_a_request_and_answers_one_in_flight_at_stop_whole() {
    let app = HTTP;
    let apps = fresh(app);
    let mut cmd = cargo_bgapp(&apps.workspace);
    cmd.args(["run", "-p", app])
        // The service's debug line says when a request is in flight.
        .env("BGAPP_LOG", "info,rtpl_http=debug");
    let mut run = Run {
        app,
        run: harness::Run::spawn(
            cmd,
            &format!("cargo bgapp run -p {app}"),
            &format!("Running {app}: {app} ("),
            FIRST_LINE,
        ),
        running_at: Instant::now(),
    };
    assert_eq!(run.count(&format!("Started {app}")), 0, "{}", run.text());

    let health = http_get(&apps.http_address, "/health")
        .unwrap_or_else(|e| panic!("no answer ({e}); output:\n{}", run.text()));
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    run.wait_for(&format!("Started {app} (socket, pid "), LINE);
    run.wait_for(
        &format!("[{app}]  INFO listening on {}", apps.http_address),
        LINE,
    );

    // Ctrl-C while a request is in flight: it is answered whole, then the
    // service ends cleanly.
    let address = apps.http_address.clone();
    let in_flight = std::thread::spawn(move || http_get(&address, "/work/1500"));
    run.wait_for(&format!("[{app}] DEBUG working 1500 ms"), LINE);
    run.interrupt();
    let answer = in_flight
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("no answer ({e}); output:\n{}", run.text()));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nworked 1500 ms\n"), "{answer}");
    let (status, text) = run.wait_exit(LINE);
    assert_eq!(status.code(), Some(0), "{status}; output:\n{text}");
    for needle in [
        format!("Stopped {app}: status 0 (finished) after "),
        "Finished every task stopped".to_string(),
    ] {
        assert!(text.contains(&needle), "`{needle}` not in:\n{text}");
    }
    assert_no_process_left(app);
}

#[test]
fn watcher_processes_spooled_files_and_sets_failures_aside() {
    let app = WATCHER;
    let apps = fresh(app);
    let _ = std::fs::remove_dir_all(&apps.spool);
    let run = Run::start(app);
    // The supervisor creates the spool directory, as the package does.
    assert!(apps.spool.is_dir());
    assert_eq!(run.count(&format!("Started {app}")), 0, "{}", run.text());

    // A file is written elsewhere and renamed into the spool directory.
    let drop_in = |name: &str, bytes: &[u8]| {
        let staged = apps.staging.join(name);
        std::fs::write(&staged, bytes).unwrap();
        std::fs::rename(&staged, apps.spool.join(name)).unwrap();
    };
    drop_in("report.txt", b"one\ntwo\nthree\n");
    run.wait_for(&format!("Started {app} (path, pid "), LINE);
    run.wait_for(
        &format!(
            "[{app}]  INFO processed `{}`: 3 lines",
            apps.spool.join("report.txt").display()
        ),
        LINE,
    );
    run.wait_for(
        &format!("[{app}]  INFO spool directory empty: 1 files processed, 0 failed"),
        LINE,
    );
    run.wait_for(
        &format!("Exited {app} with status 0 (finished) after "),
        LINE,
    );
    assert!(!apps.spool.join("report.txt").exists(), "{}", run.text());

    // Not text: set aside beside the saved state, out of the spool.
    let bytes = [0xff, 0xfe, 0x00, 0x80];
    drop_in("garbage.bin", &bytes);
    run.wait_for_n(&format!("Started {app} (path, pid "), 2, LINE);
    run.wait_for(
        &format!(
            "[{app}] ERROR failed to process `{}`: ",
            apps.spool.join("garbage.bin").display()
        ),
        LINE,
    );
    run.wait_for(
        &format!("[{app}]  INFO spool directory empty: 0 files processed, 1 failed"),
        LINE,
    );
    run.wait_for_n(
        &format!("Exited {app} with status 0 (finished) after "),
        2,
        LINE,
    );
    let failed = state_dir(app).join("failed/garbage.bin");
    assert_eq!(std::fs::read(&failed).ok().as_deref(), Some(&bytes[..]));
    assert_eq!(
        std::fs::read_dir(&apps.spool).unwrap().count(),
        0,
        "the spool directory is empty"
    );
    // An empty spool does not start it again.
    assert_eq!(run.count(&format!("Started {app}")), 2, "{}", run.text());
    run.stop();
    assert_no_process_left(app);
}
