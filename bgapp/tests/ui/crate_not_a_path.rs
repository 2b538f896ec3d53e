#[bgapp::background_task(crate = "my app::bgapp")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
