#[bgapp::background_task(stop_timeout = "5s", name = "uploader", stop_timeout = "10s")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
