#[bgapp::background_task(description = "")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
