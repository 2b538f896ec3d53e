#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> Option<()> {
    None
}

fn main() {}
