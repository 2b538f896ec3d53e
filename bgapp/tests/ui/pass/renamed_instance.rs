use bgapp::TaskInstance as Ti;

type Instance = bgapp::TaskInstance;

#[bgapp::background_task(trigger = manual)]
async fn renamed(_task: Ti) {}

#[bgapp::background_task(trigger = manual)]
async fn aliased(_task: Instance) {}

// A raw identifier names the task without its `r#`.
#[bgapp::background_task(trigger = manual)]
async fn r#type(_task: bgapp::TaskInstance) {}

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).is_some() {
        return bgapp::run();
    }
    let tasks = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .output()
        .unwrap();
    let list = String::from_utf8(tasks.stdout).unwrap();
    for name in ["renamed", "aliased", "type"] {
        assert!(list.lines().any(|l| l.starts_with(&format!("{name}\t"))), "{list}");
    }
    std::process::ExitCode::SUCCESS
}
