//! Two tasks in one binary, dispatched by name: `two_tasks uploader` or
//! `two_tasks cleaner`.

#[bgapp::background_task(trigger = timer(every = "15m"), description = "Uploads readings")]
async fn uploader(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    task.report(bgapp::FetchResult::NoData);
    Ok(())
}

#[bgapp::background_task(trigger = manual, stop_timeout = "1s")]
async fn cleaner(task: bgapp::TaskInstance) {
    let stop = task.cancelled().await;
    tracing::info!("cleaner stopping: {}", stop.reason());
}

fn main() -> std::process::ExitCode {
    bgapp::run()
}
