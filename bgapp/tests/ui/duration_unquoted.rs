#[bgapp::background_task(stop_timeout = 5)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
