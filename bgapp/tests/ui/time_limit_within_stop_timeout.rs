#[bgapp::background_task(
    trigger = timer(every = "15m"),
    stop_timeout = "30s",
    time_limit = "20s",
)]
async fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
