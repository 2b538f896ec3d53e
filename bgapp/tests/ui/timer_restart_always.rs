#[bgapp::background_task(trigger = timer(every = "15m"), restart = "always")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
