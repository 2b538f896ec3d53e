#[bgapp::background_task]
struct Uploader;

fn main() {}
