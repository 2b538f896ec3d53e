#[bgapp::background_task(restart = "sometimes")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
