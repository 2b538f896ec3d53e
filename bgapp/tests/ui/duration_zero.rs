#[bgapp::background_task(stop_timeout = "0s")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
