struct Uploader;

impl Uploader {
    #[bgapp::background_task]
    async fn run(self) {}
}

fn main() {}
