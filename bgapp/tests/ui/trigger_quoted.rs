#[bgapp::background_task(trigger = "boot")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
