//! One boot task on `main`: holds a deferral until it is asked to stop,
//! then saves a counter and completes. Run it with `cargo run --example
//! hello` and stop it with Ctrl-C (or `kill -TERM`).

use std::time::Duration;

#[bgapp::background_task(name = "hello", stop_timeout = "2s")]
async fn main(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    let runs: u64 = task.state().load()?.unwrap_or(0);
    tracing::info!(
        "run {} (previous: {})",
        runs + 1,
        task.previous_execution_state()
    );
    let deferral = task.deferral();
    let worker = task.clone();
    tokio::spawn(async move {
        let stop = worker.cancelled().await;
        tracing::info!("saving before {:?}", stop.remaining());
        worker.state().save(&(runs + 1)).expect("save state");
        deferral.complete();
    });
    // The function returns at once; the deferral keeps the task alive.
    let _ = Duration::ZERO;
    Ok(())
}
