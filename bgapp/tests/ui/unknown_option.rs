#[bgapp::background_task(priority = "high")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
