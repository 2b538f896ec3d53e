#[bgapp::background_task(watchdog = "50ms")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
