#[bgapp::background_task(trigger = path(changed = "/etc/../tmp/x"))]
async fn watcher(_task: bgapp::TaskInstance) {}

fn main() {}
