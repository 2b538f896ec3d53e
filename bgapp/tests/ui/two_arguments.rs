#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance, _retries: u32) {}

fn main() {}
