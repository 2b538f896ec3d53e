//! Running a task in a test, without systemd: the `TestDriver`, in the
//! spirit of WorkManager's `TestDriver`.
//!
//! ```no_run
//! # async fn main_task(task: bgapp::TaskInstance) -> anyhow::Result<()> { Ok(()) }
//! # async fn t() {
//! use bgapp::testing::TestDriver;
//! use bgapp::CancellationReason;
//! use std::time::Duration;
//!
//! let driver = TestDriver::new("hello");
//! let handle = driver.handle();
//! tokio::spawn(async move {
//!     tokio::time::sleep(Duration::from_millis(50)).await;
//!     handle.stop(CancellationReason::SystemShutdown);
//! });
//! let outcome = driver.run(main_task).await;
//! assert_eq!(outcome.exit_code(), 0);
//! # }
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgapp_manifest::{TaskManifest, Trigger, DEFAULT_STOP_TIMEOUT, FORMAT_VERSION};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::activation::Activation;
use crate::execution::ExitReason;
use crate::lifecycle::{self, Control, Setup, TaskFn};
use crate::notify::Notifier;
use crate::outcome::TaskReturn;
use crate::state::StateStore;
use crate::{CancellationReason, ExecutionState, TaskInstance};

/// Runs a task function in-process, with its own state directory, and lets
/// a test deliver lifecycle events. Several runs of one driver share the
/// state directory, so the second run sees how the first ended.
pub struct TestDriver {
    manifest: TaskManifest,
    activation: Activation,
    state_dir: PathBuf,
    owns_dir: bool,
    args: Vec<String>,
    control: Arc<Mutex<Option<mpsc::UnboundedSender<Control>>>>,
    pending: Arc<Mutex<Vec<Control>>>,
}

/// Sends lifecycle events to the driver's current run. Cheap to clone and
/// `Send`, so a spawned task can hold it. Events sent before the run starts
/// are delivered when it starts.
#[derive(Clone)]
pub struct TestHandle {
    control: Arc<Mutex<Option<mpsc::UnboundedSender<Control>>>>,
    pending: Arc<Mutex<Vec<Control>>>,
}

impl TestHandle {
    fn send(&self, c: Control) {
        let sent = match &*self.control.lock().unwrap() {
            Some(tx) => tx.send(c).is_ok(),
            None => false,
        };
        if !sent {
            self.pending.lock().unwrap().push(c);
        }
    }

    /// Asks the task to stop, with its `stop_timeout` as the deadline.
    pub fn stop(&self, reason: CancellationReason) {
        self.send(Control::Stop(reason, None));
    }

    /// Asks the task to stop with a deadline of `within`.
    pub fn stop_within(&self, reason: CancellationReason, within: Duration) {
        self.send(Control::Stop(reason, Some(within)));
    }

    /// Ctrl-C: once stops like an operator, twice ends at once.
    pub fn interrupt(&self) {
        self.send(Control::Interrupt);
    }

    /// The system is about to sleep; the task must be ready within `within`.
    pub fn sleep(&self, within: Duration) {
        self.send(Control::Sleep(Instant::now() + within));
    }

    /// The system woke up.
    pub fn resume(&self) {
        self.send(Control::Resume);
    }
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

impl TestDriver {
    /// A driver for the task named `name`: its manifest is the one compiled
    /// into this binary by `#[background_task]`, or defaults (a boot task)
    /// when no task has that name.
    pub fn new(name: &str) -> TestDriver {
        let manifest = crate::registry::load()
            .ok()
            .and_then(|tasks| {
                tasks
                    .into_iter()
                    .find(|(m, _)| m.name == name)
                    .map(|(m, _)| m)
            })
            .unwrap_or_else(|| TaskManifest {
                format: FORMAT_VERSION,
                name: name.to_string(),
                function: name.replace('-', "_"),
                package: "test".to_string(),
                description: None,
                trigger: Trigger::Boot,
                restart: Trigger::Boot.default_restart(),
                stop_timeout_ms: DEFAULT_STOP_TIMEOUT.as_millis() as u64,
                time_limit_ms: None,
                watchdog_ms: None,
                ready: Default::default(),
                start_timeout_ms: None,
                args: Default::default(),
            });
        Self::with_manifest(manifest)
    }

    /// A driver for a task described by `manifest`.
    pub fn with_manifest(manifest: TaskManifest) -> TestDriver {
        let dir = std::env::temp_dir().join(format!(
            "bgapp-test-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let activation = match manifest.trigger {
            Trigger::Boot => Activation::Boot,
            _ => Activation::Manual,
        };
        TestDriver {
            manifest,
            activation,
            state_dir: dir,
            owns_dir: true,
            args: Vec::new(),
            control: Arc::default(),
            pending: Arc::default(),
        }
    }

    /// Keeps state in `dir` (not removed when the driver is dropped).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self.owns_dir = false;
        self
    }

    /// Changes the manifest, for example the `stop_timeout` or `time_limit`.
    pub fn configure(mut self, f: impl FnOnce(&mut TaskManifest)) -> Self {
        f(&mut self.manifest);
        self
    }

    /// Sets why the next runs start.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Makes the next runs start as if their timer fired now.
    pub fn fire_timer(self) -> Self {
        self.activation(Activation::Timer {
            fired_at: Some(std::time::SystemTime::now()),
        })
    }

    /// Arguments the task sees in `TaskInstance::args`.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// A handle to deliver stop, sleep and resume to the runs.
    pub fn handle(&self) -> TestHandle {
        TestHandle {
            control: self.control.clone(),
            pending: self.pending.clone(),
        }
    }

    /// The task's state directory.
    pub fn path(&self) -> &Path {
        &self.state_dir
    }

    /// Runs the task function once, to its end, as the process entry runs
    /// a task: with this driver's state directory, a recording notifier,
    /// and the handle's events in place of signals and the system.
    pub async fn run<F, Fut, R>(&self, task: F) -> TestOutcome
    where
        F: FnOnce(TaskInstance) -> Fut,
        Fut: Future<Output = R> + 'static,
        R: TaskReturn,
    {
        let notes = Arc::new(Mutex::new(Vec::new()));
        let setup = Setup {
            manifest: self.manifest.clone(),
            state_dir: self.state_dir.clone(),
            notifier: Notifier::Recorder(notes.clone()),
            activation: self.activation.clone(),
            fds: Vec::new(),
            argv: std::iter::once(self.manifest.name.clone())
                .chain(self.args.iter().cloned())
                .collect(),
            // As systemd and `cargo bgapp run` pass it.
            watchdog: self.manifest.watchdog(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        for c in self.pending.lock().unwrap().drain(..) {
            let _ = tx.send(c);
        }
        *self.control.lock().unwrap() = Some(tx);
        let task: TaskFn<'_> = Box::new(move |instance| {
            let fut = task(instance);
            Box::pin(async move { fut.await.into_returned() })
        });
        let finished = lifecycle::run(setup, task, rx, None).await;
        *self.control.lock().unwrap() = None;
        let notifications = notes.lock().unwrap().clone();
        TestOutcome {
            code: finished.ended.code,
            exit: finished.ended.exit,
            previous: finished.previous,
            notifications,
            store: finished.store,
        }
    }
}

impl Drop for TestDriver {
    fn drop(&mut self) {
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// How a test run ended.
pub struct TestOutcome {
    code: u8,
    exit: ExitReason,
    previous: ExecutionState,
    notifications: Vec<String>,
    store: StateStore,
}

impl TestOutcome {
    /// The exit status the process would have had.
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// How the run ended.
    pub fn exit_reason(&self) -> &ExitReason {
        &self.exit
    }

    /// The previous execution state this run was started with.
    pub fn previous_execution_state(&self) -> ExecutionState {
        self.previous
    }

    /// Every `sd_notify` message sent, in order (`READY=1`, `STATUS=...`).
    pub fn notifications(&self) -> &[String] {
        &self.notifications
    }

    /// The last `STATUS=` line.
    pub fn status(&self) -> Option<&str> {
        self.notifications
            .iter()
            .rev()
            .find_map(|n| n.strip_prefix("STATUS="))
    }

    /// The state on disk after the run, whoever saved it.
    pub fn saved_state<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.store
            .load_after_crash()
            .expect("read the saved state")
            .map(|(v, _)| v)
    }
}
