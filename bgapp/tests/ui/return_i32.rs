#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> i32 {
    0
}

fn main() {}
