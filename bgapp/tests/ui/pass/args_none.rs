// `args = "none"` and `args = "task"`: both build; the process entry
// answers for the first (tests/own_args.rs runs it).

#[bgapp::background_task(name = "quiet", args = "none")]
async fn quiet(_task: bgapp::TaskInstance) {}

#[bgapp::background_task(name = "loud", args = "task")]
async fn loud(task: bgapp::TaskInstance) {
    let _ = task.args();
}

fn main() {}
