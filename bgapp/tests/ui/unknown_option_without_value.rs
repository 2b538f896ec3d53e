#[bgapp::background_task(retry)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
