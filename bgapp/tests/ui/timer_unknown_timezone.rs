#[bgapp::background_task(trigger = timer(calendar = "daily Mars/Olympus"))]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
