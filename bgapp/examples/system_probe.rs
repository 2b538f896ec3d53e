//! Reports what the system does to a task: logs each sleep, wake and stop
//! and keeps the list in its saved state. The system-bus tests
//! (`tests/system_bus.rs`) and the end-to-end check run it.
//!
//! Run it with `cargo run --example system_probe`; its state is in
//! `$BGAPP_STATE_DIR` (or the usual state directory) as `probe.state`.

use bgapp::LifecycleEvent;
use tokio::time::Instant;

#[bgapp::background_task(name = "probe", stop_timeout = "2s")]
async fn main(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    let mut events = task.events();
    let control = std::env::var_os("BGAPP_CONTROL_FD").is_some();
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
                LifecycleEvent::Suspending { deadline } => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    format!("suspending {}ms", left.as_millis())
                }
                LifecycleEvent::Resuming => "resuming".to_string(),
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
