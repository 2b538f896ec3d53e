#[bgapp::background_task(trigger = timer)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
