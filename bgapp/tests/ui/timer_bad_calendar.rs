#[bgapp::background_task(trigger = timer(calendar = "*-13-01"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
