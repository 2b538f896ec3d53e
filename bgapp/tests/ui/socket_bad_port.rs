#[bgapp::background_task(trigger = socket(listen = "70000"))]
async fn server(_task: bgapp::TaskInstance) {}

fn main() {}
