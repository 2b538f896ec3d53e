#[bgapp::background_task(trigger = boot(delay = "5s"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
