// `crate = "..."` lets a crate that re-exports bgapp use the attribute
// without depending on bgapp under that name.

mod framework {
    pub use bgapp as runtime;
}

use framework::runtime::{background_task, TaskInstance};

#[background_task(crate = "crate::framework::runtime", trigger = manual)]
async fn main(_task: TaskInstance) -> std::io::Result<()> {
    Ok(())
}
