#[bgapp::background_task(worker_threads = "2")]
async fn main(_task: bgapp::TaskInstance) {}
