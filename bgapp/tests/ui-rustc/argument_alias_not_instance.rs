type Count = u32;

#[bgapp::background_task]
async fn uploader(_task: Count) {}
//~^ ERROR[E0277] expected `bgapp::TaskInstance`, found `u32`

fn main() {}
