#[bgapp::background_task(ready = "explicitly")]
async fn main(_task: bgapp::TaskInstance) {}
