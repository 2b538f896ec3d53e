#[bgapp::background_task]
async fn uploader(_task: bgapp::TaskInstance)
where
    String: Clone,
{
}

fn main() {}
