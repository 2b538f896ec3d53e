// `runtime`, `worker_threads`, `ready` and `log`: the process entry builds
// the runtime the attribute asks for, and leaves logging to the app.

#[bgapp::background_task(name = "current", runtime = "current_thread", ready = "explicit", log = "app")]
async fn current(task: bgapp::TaskInstance) {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    assert_eq!(flavor, tokio::runtime::RuntimeFlavor::CurrentThread);
    assert_eq!(task.manifest().ready, bgapp::Readiness::Explicit);
    // bgapp installed no subscriber: the app's would be the global one.
    assert!(!tracing::dispatcher::has_been_set());
    task.ready();
}

#[bgapp::background_task(name = "two-workers", worker_threads = 2)]
async fn two_workers(_task: bgapp::TaskInstance) {
    let handle = tokio::runtime::Handle::current();
    assert_eq!(handle.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread);
    assert_eq!(handle.metrics().num_workers(), 2);
}

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).is_some() {
        return bgapp::run();
    }
    // Each task in turn, as its unit would start it.
    for name in ["current", "two-workers"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .arg(name)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "task `{name}`");
    }
    std::process::ExitCode::SUCCESS
}
