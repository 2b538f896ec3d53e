#[bgapp::background_task(trigger = timer(every = "15m", every = "1h"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
