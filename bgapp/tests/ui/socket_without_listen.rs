#[bgapp::background_task(trigger = socket)]
async fn server(_task: bgapp::TaskInstance) {}

fn main() {}
