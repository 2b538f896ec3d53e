#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> Option<()> {
//~^ ERROR[E0277] a background task must return `()` or `Result<(), E>` where `E: Display`, not `Option<()>`
    None
}

fn main() {}
