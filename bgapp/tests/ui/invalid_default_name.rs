#[bgapp::background_task]
async fn größe(_task: bgapp::TaskInstance) {}

fn main() {}
