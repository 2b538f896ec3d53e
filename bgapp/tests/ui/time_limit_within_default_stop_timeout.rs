#[bgapp::background_task(trigger = timer(every = "15m"), time_limit = "3s")]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
