#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> &'static str {
    "done"
}

fn main() {}
