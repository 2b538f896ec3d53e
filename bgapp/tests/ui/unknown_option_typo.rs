#[bgapp::background_task(retart = "on-failure")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
