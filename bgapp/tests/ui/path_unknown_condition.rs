#[bgapp::background_task(trigger = path(created = "/var/spool/incoming"))]
async fn importer(_task: bgapp::TaskInstance) {}

fn main() {}
