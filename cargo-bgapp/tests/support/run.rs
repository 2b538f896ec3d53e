//! A `cargo bgapp run` driven by a test: started in a process group of its
//! own (a terminal's Ctrl-C reaches the supervisor alone), its stdout and
//! stderr collected together, waits for lines with a timeout that fail at
//! once when the run has ended, and a teardown that leaves nothing behind.
//! Shared by `run.rs` and `run_templates.rs`.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The output collected so far, and how many of the two streams ended.
struct Collected {
    text: String,
    closed: usize,
}

/// The collected output, even after a panic while it was held.
fn lock(output: &Mutex<Collected>) -> MutexGuard<'_, Collected> {
    output.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Run {
    child: Child,
    output: Arc<(Mutex<Collected>, Condvar)>,
    /// Said when something fails: what was run.
    what: String,
}

impl Run {
    /// Starts `cmd` (a `cargo bgapp run ...`), then waits up to
    /// `first_line` (a build may come first) for `ready` in its output.
    #[track_caller]
    pub fn spawn(mut cmd: Command, what: &str, ready: &str, first_line: Duration) -> Run {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl(2) is async-signal-safe. Should this test process
        // die without running `Drop` (an abort), the run gets a Ctrl-C and
        // stops its tasks.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("cargo-bgapp runs");
        let output = Arc::new((
            Mutex::new(Collected {
                text: String::new(),
                closed: 0,
            }),
            Condvar::new(),
        ));
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for stream in streams {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    lock(&output.0)
                        .text
                        .push_str(&String::from_utf8_lossy(&line));
                    output.1.notify_all();
                    line.clear();
                }
                lock(&output.0).closed += 1;
                output.1.notify_all();
            });
        }
        let run = Run {
            child,
            output,
            what: what.to_string(),
        };
        run.wait_for(ready, first_line);
        run
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn text(&self) -> String {
        lock(&self.output.0).text.clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// Waits until `done` holds for the output so far, or the run has
    /// ended, or `timeout` has passed; returns whether `done` held.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut out = lock(&self.output.0);
        loop {
            if done(&out.text) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || out.closed == 2 {
                return false;
            }
            out = self
                .output
                .1
                .wait_timeout(out, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until `needle` has appeared `times` times; fails at once if
    /// the run ended before.
    #[track_caller]
    pub fn wait_for_n(&self, needle: &str, times: usize, timeout: Duration) {
        let started = Instant::now();
        if !self.wait_until(timeout, |text| text.matches(needle).count() >= times) {
            let why = if started.elapsed() >= timeout {
                format!("did not appear in {timeout:?}")
            } else {
                "did not appear before the run exited".to_string()
            };
            panic!("`{needle}` (x{times}) {why}; output:\n{}", self.text());
        }
    }

    #[track_caller]
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        self.wait_for_n(needle, 1, timeout);
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Ctrl-C, as a terminal delivers it to the supervisor alone.
    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    /// Waits for the exit; returns its status and the whole output.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the run") {
                // The readers take the last lines, up to the end of both
                // streams (which a task could still hold: not for long).
                let end = Instant::now() + Duration::from_secs(5);
                let mut out = lock(&self.output.0);
                while out.closed < 2 {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    out = self
                        .output
                        .1
                        .wait_timeout(out, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                return (status, out.text.clone());
            }
            if Instant::now() > deadline {
                panic!(
                    "`{}` did not exit in {timeout:?}; output:\n{}",
                    self.what,
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the run if it still runs: two Ctrl-C (the supervisor kills
    /// its tasks' process groups), then SIGKILL to the run's process group
    /// (a build in progress).
    pub fn end(&mut self) {
        if self.child.try_wait().is_ok_and(|s| s.is_none()) {
            // The second Ctrl-C once the first was taken: two sent at once
            // may arrive as one. With no task to stop, the run just ends.
            const TAKEN: &str = "(Ctrl-C again to kill at once)";
            let before = self.count(TAKEN);
            self.interrupt();
            self.wait_until(Duration::from_secs(5), |text| {
                text.matches(TAKEN).count() > before
            });
            self.interrupt();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.child.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: kill(2) of the process group we created.
            unsafe {
                libc::kill(-self.pid(), libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
    }
}

impl Drop for Run {
    /// A failed test leaves nothing behind.
    fn drop(&mut self) {
        self.end();
    }
}
