#[bgapp::background_task(ready = "explicit", start_timeout = 300)]
async fn main(_task: bgapp::TaskInstance) {}
