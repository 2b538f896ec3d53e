#[bgapp::background_task(trigger = timer(every = "15m", calendar = "daily"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
