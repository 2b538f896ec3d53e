#[derive(Debug)]
struct UploadError;

#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> Result<(), UploadError> {
    Err(UploadError)
}

fn main() {}
