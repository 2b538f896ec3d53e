// The attribute on `main`: the binary runs this task, which returns at once.

#[bgapp::background_task(name = "hello", stop_timeout = "2s")]
async fn main(task: bgapp::TaskInstance) {
    assert_eq!(task.name(), "hello");
    assert_eq!(task.manifest().stop_timeout_ms, 2_000);
}

// The function stays callable under the name the expansion gives it.
#[allow(dead_code)]
fn still_callable(task: bgapp::TaskInstance) -> impl std::future::Future<Output = ()> {
    main_task(task)
}
