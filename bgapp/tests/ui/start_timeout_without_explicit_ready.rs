#[bgapp::background_task(start_timeout = "5m")]
async fn main(_task: bgapp::TaskInstance) {}
