#[bgapp::background_task(time_limit = "10m")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
