#[bgapp::background_task(trigger = timer(every = "1.5s"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
