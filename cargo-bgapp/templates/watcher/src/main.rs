//! {{name}}: see README.md.
//!
//! A path task: systemd starts it when `{{spool_dir}}` holds files. It
//! processes each file (here: counts its lines), removes it, and exits when
//! the directory is empty, so that the next file starts it again. A file it
//! cannot process is moved to `failed/` in the task's state directory
//! (`/var/lib/{{name}}/failed` when installed) for a person to look at.
//!
//! Producers write a file elsewhere on the same file system and rename it
//! into the spool directory when it is complete, so that the task never
//! sees half a file.

use std::path::{Path, PathBuf};

use bgapp::TaskInstance;

#[bgapp::background_task(trigger = path(not_empty = "{{spool_dir}}"), time_limit = "10m")]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    let spool = task
        .trigger_path()
        .expect("a path task has a trigger path")
        .to_path_buf();
    let mut processed = 0;
    let mut failed = 0;
    // Files may arrive while the task runs: look again until none is left.
    loop {
        let files = spooled_files(&spool).await?;
        if files.is_empty() {
            break;
        }
        for file in files {
            if task.is_cancelled() {
                // What is left starts the task again later.
                tracing::info!("stopped after {processed} files");
                return Ok(());
            }
            match process(&file).await {
                Ok(lines) => {
                    tracing::info!("processed `{}`: {lines} lines", file.display());
                    tokio::fs::remove_file(&file).await?;
                    processed += 1;
                }
                Err(error) => {
                    tracing::error!("failed to process `{}`: {error}", file.display());
                    set_aside(&failed_dir(&task), &file).await?;
                    failed += 1;
                }
            }
            task.set_status(format!("{processed} files processed, {failed} failed"));
        }
    }
    tracing::info!("spool directory empty: {processed} files processed, {failed} failed");
    Ok(())
}

/// The files waiting in `spool`, oldest name first.
async fn spooled_files(spool: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut entries = tokio::fs::read_dir(spool).await?;
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_type().await?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The work on one file: replace with your own.
async fn process(file: &Path) -> std::io::Result<usize> {
    let text = tokio::fs::read_to_string(file).await?;
    Ok(text.lines().count())
}

/// Where files that could not be processed go: beside the task's saved
/// state, the one directory the service may always write to.
fn failed_dir(task: &TaskInstance) -> PathBuf {
    let state_file = task.state().path();
    state_file.parent().unwrap_or(Path::new(".")).join("failed")
}

/// Moves a file that failed out of the spool directory, so that it does not
/// start the task again and again.
async fn set_aside(failed_dir: &Path, file: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(failed_dir).await?;
    let name = file.file_name().expect("a spooled file has a name");
    let to = failed_dir.join(name);
    match tokio::fs::rename(file, &to).await {
        // The spool and state directories are separate mounts under the
        // service's sandbox, even on one file system: copy, then remove.
        Err(error) if error.kind() == std::io::ErrorKind::CrossesDevices => {
            tokio::fs::copy(file, &to).await?;
            tokio::fs::remove_file(file).await
        }
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use bgapp::Trigger;
    use bgapp::testing::TestDriver;

    use super::main_task;

    #[tokio::test]
    async fn processes_and_removes_spooled_files() {
        let driver = TestDriver::new("{{name}}");
        // A spool directory of the test's own instead of `{{spool_dir}}`.
        let spool = driver.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        std::fs::write(spool.join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(spool.join("b.txt"), "three\n").unwrap();
        std::fs::write(spool.join("c.bin"), [0xff, 0xfe]).unwrap(); // not text

        let state_dir = driver.path().to_path_buf();
        let spool_path = spool.display().to_string();
        let driver = driver.configure(|manifest| {
            if let Trigger::Path { path, .. } = &mut manifest.trigger {
                *path = spool_path;
            }
        });
        let outcome = driver.run(main_task).await;
        assert_eq!(outcome.exit_code(), 0);
        assert_eq!(outcome.status(), Some("2 files processed, 1 failed"));

        assert_eq!(
            std::fs::read_dir(&spool).unwrap().count(),
            0,
            "the spool directory is empty"
        );
        assert!(state_dir.join("failed").join("c.bin").is_file());
    }
}
