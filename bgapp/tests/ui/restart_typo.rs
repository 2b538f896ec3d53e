#[bgapp::background_task(restart = "on_failure")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
