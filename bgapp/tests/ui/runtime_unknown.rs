#[bgapp::background_task(runtime = "single_thread")]
async fn main(_task: bgapp::TaskInstance) {}
