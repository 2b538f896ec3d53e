#[bgapp::background_task(trigger = timer(evry = "15m"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
