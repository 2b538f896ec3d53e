//! {{name}}: see README.md.
//!
//! A path task: systemd starts it when `{{spool_dir}}` holds files. It
//! processes each file (here: counts its lines), removes it, and exits when
//! the directory is empty, so that the next file starts it again. A file it
//! cannot process is moved to `failed/` in the task's state directory
//! (`/var/lib/{{name}}/failed` when installed) for a person to look at. One
//! bad file never stops the others.
//!
//! Producers write a file elsewhere on the same file system and rename it
//! into the spool directory when it is complete, so that the task never
//! sees half a file.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bgapp::TaskInstance;

// `args = "none"`: bgapp answers `--help` and `--version`.
#[bgapp::background_task(
    trigger = path(not_empty = "{{spool_dir}}"),
    time_limit = "10m",
    args = "none"
)]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    let spool = task
        .trigger_path()
        .expect("a path task has a trigger path")
        .to_path_buf();
    let failed_dir = failed_dir(&task);
    let mut processed = 0;
    let mut failed = 0;
    // Files that could neither be removed nor set aside: they stay in the
    // spool directory, and this run does not look at them again.
    let mut stuck: Vec<PathBuf> = Vec::new();
    // Files may arrive while the task runs: look again until none is left.
    loop {
        let mut files = spooled_files(&spool).await?;
        files.retain(|f| !stuck.contains(f));
        if files.is_empty() {
            break;
        }
        for file in files {
            if task.is_cancelled() {
                // What is left starts the task again later.
                tracing::info!("stopped after {processed} files");
                return Ok(());
            }
            match handle(&file, &failed_dir).await {
                Ok(Handled::Processed) => processed += 1,
                Ok(Handled::SetAside) => failed += 1,
                Err(error) => {
                    tracing::error!("`{}` stays in the spool directory: {error}", file.display());
                    stuck.push(file);
                }
            }
            task.set_status(format!("{processed} files processed, {failed} failed"));
        }
    }
    tracing::info!("spool directory empty: {processed} files processed, {failed} failed");
    if !stuck.is_empty() {
        // The directory is not empty, so systemd would start the task again
        // at once: fail instead, for a person to look (`systemctl status`).
        anyhow::bail!(
            "{} files could be neither processed nor set aside; see the errors above",
            stuck.len()
        );
    }
    Ok(())
}

/// What became of a file.
enum Handled {
    /// Processed and removed.
    Processed,
    /// Not processed, and moved to the failed files.
    SetAside,
}

/// Processes one file and removes it, or sets it aside when it cannot be
/// processed; an error means it is still in the spool directory.
async fn handle(file: &Path, failed_dir: &Path) -> std::io::Result<Handled> {
    match process(file).await {
        Ok(lines) => {
            tracing::info!("processed `{}`: {lines} lines", file.display());
            tokio::fs::remove_file(file).await?;
            Ok(Handled::Processed)
        }
        Err(error) => {
            tracing::error!("failed to process `{}`: {error}", file.display());
            set_aside(failed_dir, file).await?;
            Ok(Handled::SetAside)
        }
    }
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
            match tokio::fs::copy(file, &to).await {
                Ok(_) => {}
                // A file the task may not read cannot be copied either (a
                // rename needs no read access, a copy does): a note of it
                // takes its place among the failed files.
                Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                    note_unreadable(file, &to, &error).await?;
                }
                Err(error) => return Err(error),
            }
            tokio::fs::remove_file(file).await
        }
        result => result,
    }
}

/// Writes `<to>.unreadable`: which file it was, its owner, mode and size.
async fn note_unreadable(file: &Path, to: &Path, error: &std::io::Error) -> std::io::Result<()> {
    let meta = tokio::fs::symlink_metadata(file).await?;
    let note = format!(
        "`{}` could not be read ({error}): owner uid {}, gid {}, mode {:o}, {} bytes; it was removed from the spool directory\n",
        file.display(),
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777,
        meta.len(),
    );
    let mut path = to.as_os_str().to_owned();
    path.push(".unreadable");
    tokio::fs::write(PathBuf::from(path), note).await?;
    tracing::error!(
        "cannot read `{}` to set it aside: removed it, with a note in the failed files",
        file.display()
    );
    Ok(())
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

    /// A file that can be neither processed nor set aside stays in the
    /// spool directory, and the files after it are processed all the same.
    #[tokio::test]
    async fn one_bad_file_does_not_stop_the_others() {
        let driver = TestDriver::new("{{name}}");
        let spool = driver.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        std::fs::write(spool.join("a.bin"), [0xff, 0xfe]).unwrap(); // not text
        std::fs::write(spool.join("b.txt"), "one\n").unwrap();
        // Where failed files go is taken by a file: `a.bin` cannot go there.
        std::fs::write(driver.path().join("failed"), "").unwrap();

        let spool_path = spool.display().to_string();
        let driver = driver.configure(|manifest| {
            if let Trigger::Path { path, .. } = &mut manifest.trigger {
                *path = spool_path;
            }
        });
        let outcome = driver.run(main_task).await;
        assert_ne!(outcome.exit_code(), 0, "a file stays in the spool");
        assert_eq!(outcome.status(), Some("1 files processed, 0 failed"));
        assert!(!spool.join("b.txt").exists(), "the next file is processed");
        assert!(spool.join("a.bin").is_file(), "the bad file stays");
    }
}
