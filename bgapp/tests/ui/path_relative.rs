#[bgapp::background_task(trigger = path(changed = "spool/incoming"))]
async fn importer(_task: bgapp::TaskInstance) {}

fn main() {}
