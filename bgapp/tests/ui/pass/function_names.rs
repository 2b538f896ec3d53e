// Task functions may have any name, including the names the expansion
// uses inside: a task called `run` or `task` is still the one that runs.

#[bgapp::background_task(trigger = manual)]
async fn run(_task: bgapp::TaskInstance) {}

#[bgapp::background_task(trigger = manual)]
async fn task(task: bgapp::TaskInstance) -> Result<(), std::fmt::Error> {
    assert_eq!(task.name(), "task");
    Ok(())
}

#[bgapp::background_task(trigger = manual)]
async fn load(_task: bgapp::TaskInstance) {}

fn main() {}
