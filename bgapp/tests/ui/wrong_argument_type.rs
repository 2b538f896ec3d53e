#[bgapp::background_task]
async fn uploader(_task: String) {}

fn main() {}
