#[bgapp::background_task(trigger = timer(every = "15m"))]
async fn uploader(_task: bgapp::TaskInstance) {}

#[bgapp::background_task(name = "uploader", trigger = manual)]
//~^ ERROR[E0428] `__bgapp_task_named_uploader` is defined multiple times
async fn upload_now(_task: bgapp::TaskInstance) {}

fn main() {}
