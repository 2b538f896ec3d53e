#[bgapp::background_task]
async fn uploader() {}

fn main() {}
