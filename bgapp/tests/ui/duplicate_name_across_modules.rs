mod upload {
    #[bgapp::background_task(name = "uploader", trigger = manual)]
    pub async fn run(_task: bgapp::TaskInstance) {}
}

mod retry {
    #[bgapp::background_task(name = "uploader", trigger = manual)]
    pub async fn run(_task: bgapp::TaskInstance) {}
}

fn main() {}
