#[bgapp::background_task]
async extern "C" fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
