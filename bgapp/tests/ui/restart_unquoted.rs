#[bgapp::background_task(restart = always)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
