#[bgapp::background_task(name = "nightly upload")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
