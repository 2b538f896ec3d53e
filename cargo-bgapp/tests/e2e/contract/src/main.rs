//! The end-to-end suite's app for what the templates do not show: the
//! watchdog and the exit-status contract, on a real systemd. A boot task
//! with a 2 s watchdog that beats every 200 ms until told otherwise by a
//! file an operator drops into its state directory:
//!
//! - `stall`: stop beating but keep listening for the stop, so the
//!   runtime must stop it (exit status 1) before systemd's watchdog fires;
//! - `freeze`: block the thread the runtime runs on, so that nothing pings
//!   and systemd's watchdog must kill it;
//! - `permanent`: fail with `bgapp::Permanent` (exit status 4), which the
//!   units must never restart.
//!
//! Each file is removed when read, so the next run starts healthy.
//!
//! Three more tasks crash at every start while their flag file exists, one
//! per trigger kind, and their crash loops must end `failed`: `crashy`
//! (path-triggered by its flag), `crashy-timer` (every 2 s) and
//! `crashy-socket` (a Unix socket; it never accepts, so a queued
//! connection keeps triggering it).

use std::path::Path;
use std::time::Duration;

use bgapp::TaskInstance;

#[bgapp::background_task(watchdog = "2s", stop_timeout = "3s")]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    let dir = task
        .state()
        .path()
        .parent()
        .expect("the state file is in a directory")
        .to_path_buf();
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let mut stalled = false;
    loop {
        tokio::select! {
            _ = task.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        if take(&dir.join("permanent")).await {
            return Err(bgapp::Permanent::new("told to fail for good").into());
        }
        if take(&dir.join("freeze")).await {
            tracing::warn!("freezing: blocking the runtime's thread");
            std::thread::sleep(Duration::from_secs(600));
        }
        if take(&dir.join("stall")).await {
            tracing::warn!("stalling: no more heartbeats");
            stalled = true;
        }
        if !stalled {
            task.heartbeat();
        }
    }
}

/// Started while `/run/e2e-contract/crash` exists, and crashes every time.
#[bgapp::background_task(trigger = path(exists = "/run/e2e-contract/crash"))]
async fn crashy(_task: TaskInstance) {
    panic!("crashy: crashing on purpose");
}

/// Runs every 2 s; crashes while `/run/e2e-contract/crash-timer` exists.
#[bgapp::background_task(name = "crashy-timer", trigger = timer(every = "2s"))]
async fn crashy_timer(_task: TaskInstance) {
    if Path::new("/run/e2e-contract/crash-timer").exists() {
        panic!("crashy-timer: crashing on purpose");
    }
}

/// Started by a connection; crashes while `/run/e2e-contract/crash-socket`
/// exists, else takes the connection and ends.
#[bgapp::background_task(
    name = "crashy-socket",
    trigger = socket(listen = "/run/e2e-contract-socket/crashy.sock")
)]
async fn crashy_socket(task: TaskInstance) -> anyhow::Result<()> {
    if Path::new("/run/e2e-contract/crash-socket").exists() {
        panic!("crashy-socket: crashing on purpose");
    }
    for listener in task.listeners()? {
        if let bgapp::Listener::Unix(listener) = listener {
            // Whatever is queued now; the socket unit starts it again for
            // the next.
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(100), listener.accept()).await
            {}
        }
    }
    Ok(())
}

/// Whether `file` was there; removes it.
async fn take(file: &Path) -> bool {
    tokio::fs::remove_file(file).await.is_ok()
}
