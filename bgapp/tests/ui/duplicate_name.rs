#[bgapp::background_task(trigger = timer(every = "15m"))]
async fn uploader(_task: bgapp::TaskInstance) {}

#[bgapp::background_task(name = "uploader", trigger = manual)]
async fn upload_now(_task: bgapp::TaskInstance) {}

fn main() {}
