#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> i32 {
//~^ ERROR[E0277] a background task must return `()` or `Result<(), E>` where `E: Display`, not `i32`
    0
}

fn main() {}
