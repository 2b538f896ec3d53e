#[bgapp::background_task(trigger = timr(every = "15m"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
