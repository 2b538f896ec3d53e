#[derive(Debug)]
struct UploadError;

#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance) -> Result<(), UploadError> {
//~^ ERROR[E0277] `UploadError`
    Err(UploadError)
}

fn main() {}
