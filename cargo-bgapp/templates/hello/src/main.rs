//! {{name}}: see README.md.
//!
//! A boot task: systemd starts it when the device boots and restarts it
//! when it exits or crashes. It holds a deferral while it works, says it is
//! alive every ten seconds, and keeps a counter in its saved state, which
//! it saves when it is asked to stop.

use std::time::Duration;

use bgapp::{ExecutionState, TaskInstance};
use serde::{Deserialize, Serialize};

/// How often the task logs a heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// What the app remembers between runs, in its state directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// How many times the app has started.
    runs: u64,
    /// Heartbeats over all runs.
    heartbeats: u64,
}

// `args = "none"`: the app takes no arguments, so bgapp answers
// `--help` and `--version` and refuses anything else (exit 2).
#[bgapp::background_task(stop_timeout = "5s", args = "none")]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    // The process lives until the deferral is completed, even if this
    // function returned earlier (for example after spawning the work).
    let deferral = task.deferral();

    // The app is not told why it was started: the previous execution state
    // says how the last run ended, and so whether to trust what it saved.
    let previous = task.previous_execution_state();
    let mut saved: Saved = match previous {
        ExecutionState::Crashed => {
            // Saved by a run that crashed: whole, but perhaps mid-update.
            // A counter is fine to keep; other data may need checking.
            task.state()
                .load_after_crash()?
                .map(|(saved, _)| saved)
                .unwrap_or_default()
        }
        _ => task.state().load()?.unwrap_or_default(),
    };
    saved.runs += 1;
    tracing::info!("run {} of `{}`, after {previous}", saved.runs, task.name());
    task.set_status(format!("running (run {})", saved.runs));

    let mut cancelled = std::pin::pin!(task.cancelled());
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.tick().await; // The first tick is immediate.
    let stop = loop {
        tokio::select! {
            stop = &mut cancelled => break stop,
            _ = ticks.tick() => {
                saved.heartbeats += 1;
                task.heartbeat();
                tracing::info!("heartbeat {}", saved.heartbeats);
            }
        }
    };

    // Stopping: save before the deadline, then let the process end.
    tracing::info!(
        "stopping ({}), {:?} left to save",
        stop.reason(),
        stop.remaining()
    );
    task.state().save(&saved)?;
    deferral.complete();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bgapp::testing::TestDriver;
    use bgapp::{CancellationReason, ExecutionState};

    use super::{Saved, main_task};

    #[tokio::test]
    async fn counts_runs_and_saves_when_stopped() {
        let driver = TestDriver::new("{{name}}");
        let handle = driver.handle();

        for run in 1..=2 {
            let stopper = handle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                stopper.stop(CancellationReason::SystemShutdown);
            });
            let outcome = driver.run(main_task).await;
            assert_eq!(outcome.exit_code(), 0);
            let expected_previous = if run == 1 {
                ExecutionState::NotRunning
            } else {
                ExecutionState::Terminated
            };
            assert_eq!(outcome.previous_execution_state(), expected_previous);
            let saved: Saved = outcome.saved_state().expect("the task saved its state");
            assert_eq!(saved.runs, run);
            let status = format!("STATUS=running (run {run})");
            assert!(
                outcome.notifications().contains(&status),
                "{:?}",
                outcome.notifications()
            );
        }
    }
}
