#[bgapp::background_task]
async fn uploader<T: Default>(_task: bgapp::TaskInstance) {}

fn main() {}
