// Two tasks and a plain `main` that dispatches by name. trybuild runs the
// binary with no arguments; it then runs itself once per task, through the
// real entry, and checks that both were registered.

use std::process::{Command, ExitCode};

#[bgapp::background_task(trigger = timer(every = "15m"), time_limit = "10m")]
async fn uploader(task: bgapp::TaskInstance) -> anyhow::Result<()> {
    assert_eq!(task.name(), "uploader");
    Ok(())
}

// A return type the macro cannot see through: the `TaskReturn` bound checks it.
type CleanResult = Result<(), String>;

#[bgapp::background_task(name = "clean-up", trigger = manual, restart = "never")]
async fn cleaner(task: bgapp::TaskInstance) -> CleanResult {
    assert_eq!(task.name(), "clean-up");
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        return bgapp::run();
    }
    let exe = std::env::current_exe().unwrap();
    let list = Command::new(&exe).arg("--list").output().unwrap();
    assert!(list.status.success());
    assert_eq!(
        String::from_utf8(list.stdout).unwrap(),
        "clean-up\tmanual\nuploader\ttimer\n"
    );
    for name in ["uploader", "clean-up"] {
        let status = Command::new(&exe).arg(name).status().unwrap();
        assert!(status.success(), "task `{name}` ended with {status}");
    }
    ExitCode::SUCCESS
}
