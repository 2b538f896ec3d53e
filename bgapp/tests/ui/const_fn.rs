#[bgapp::background_task]
const async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
