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
//! A second task, `crashy`, is path-triggered and panics at every start
//! while its flag file exists: its crash loop must end `failed`.

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

/// Whether `file` was there; removes it.
async fn take(file: &Path) -> bool {
    tokio::fs::remove_file(file).await.is_ok()
}
