#[bgapp::background_task(runtime = "current_thread", worker_threads = 2)]
async fn main(_task: bgapp::TaskInstance) {}
