#[bgapp::background_task]
async unsafe fn uploader(_task: bgapp::TaskInstance) {}

fn main() {}
