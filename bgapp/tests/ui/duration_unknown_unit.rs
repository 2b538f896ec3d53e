#[bgapp::background_task(stop_timeout = "5x")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
