#[bgapp::background_task(args)]
async fn main(_task: bgapp::TaskInstance) {}
