#[bgapp::background_task(worker_threads = 0)]
async fn main(_task: bgapp::TaskInstance) {}
