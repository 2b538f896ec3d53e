#[bgapp::background_task(log = "env_logger")]
async fn main(_task: bgapp::TaskInstance) {}
