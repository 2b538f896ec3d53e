#[bgapp::background_task(args = "clap")]
async fn main(_task: bgapp::TaskInstance) {}
