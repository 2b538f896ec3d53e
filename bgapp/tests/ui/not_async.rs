#[bgapp::background_task]
fn main(_task: bgapp::TaskInstance) {}
