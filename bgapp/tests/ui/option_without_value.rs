#[bgapp::background_task(name)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
