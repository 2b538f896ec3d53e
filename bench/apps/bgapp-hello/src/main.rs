//! The benchmark's bgapp side: one boot task that waits for a stop request
//! and finishes at once (a cooperative task).

#[bgapp::background_task]
async fn main(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    tracing::info!("hello");
    task.cancelled().await;
    Ok(())
}
