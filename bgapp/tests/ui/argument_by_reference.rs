#[bgapp::background_task]
async fn uploader(_task: &bgapp::TaskInstance) {}

fn main() {}
