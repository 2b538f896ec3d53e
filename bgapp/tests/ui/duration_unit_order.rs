#[bgapp::background_task(restart = "on-failure", time_limit = "30m1h")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
