//! {{name}}: see README.md.
//!
//! A timer task in the shape of a background fetch: every {{interval}} the
//! timer starts it, it checks its source for new data, reports new data,
//! no data or failed, and exits until the next time. The result shows in
//! `systemctl status` and in the exit status.
//!
//! The source is a local file, `{{source}}` (or the task's first
//! argument); replace `check` with your own fetch.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bgapp::{FetchResult, TaskInstance};
use serde::{Deserialize, Serialize};

/// The file checked for new data, unless the task is given another.
const SOURCE: &str = "{{source}}";

/// What the last check saw, kept in the task's state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    modified: SystemTime,
    len: u64,
}

#[bgapp::background_task(trigger = timer(every = "{{interval}}"), time_limit = "1m")]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    let source = task
        .args()
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SOURCE));
    let last: Option<Seen> = task.state().load()?;
    let result = tokio::select! {
        result = check(&source, last.as_ref()) => result,
        stop = task.cancelled() => {
            tracing::warn!("stopped ({}) before the check finished", stop.reason());
            return Ok(());
        }
    };
    match result {
        Ok(Some((seen, lines))) => {
            tracing::info!("new data in `{}`: {lines} lines", source.display());
            task.state().save(&seen)?;
            task.report(FetchResult::NewData);
        }
        Ok(None) => task.report(FetchResult::NoData),
        Err(error) => {
            tracing::error!("failed to check `{}`: {error}", source.display());
            task.report(FetchResult::Failed);
        }
    }
    Ok(())
}

/// Looks at `source`: its new state and line count if it changed since
/// `last`, `None` if it did not (or does not exist yet).
async fn check(source: &Path, last: Option<&Seen>) -> std::io::Result<Option<(Seen, usize)>> {
    let metadata = match tokio::fs::metadata(source).await {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!("`{}` does not exist yet", source.display());
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let seen = Seen {
        modified: metadata.modified()?,
        len: metadata.len(),
    };
    if last == Some(&seen) {
        return Ok(None);
    }
    let text = tokio::fs::read_to_string(source).await?;
    Ok(Some((seen, text.lines().count())))
}

#[cfg(test)]
mod tests {
    use bgapp::exit::{FAILURE, NO_DATA, SUCCESS as NEW_DATA};
    use bgapp::testing::TestDriver;

    use super::main_task;

    #[tokio::test]
    async fn reports_new_data_only_when_the_source_changes() {
        let driver = TestDriver::new("{{name}}");
        let source = driver.path().join("source.txt");
        let driver = driver.fire_timer().args([source.display().to_string()]);

        let outcome = driver.run(main_task).await;
        assert_eq!(outcome.exit_code(), NO_DATA, "no source yet");

        std::fs::write(&source, "one\ntwo\n").unwrap();
        let outcome = driver.run(main_task).await;
        assert_eq!(outcome.exit_code(), NEW_DATA);
        assert_eq!(outcome.status(), Some("last fetch: new data"));

        let outcome = driver.run(main_task).await;
        assert_eq!(outcome.exit_code(), NO_DATA, "nothing changed");

        std::fs::write(&source, "one\ntwo\nthree\n").unwrap();
        let outcome = driver.run(main_task).await;
        assert_eq!(outcome.exit_code(), NEW_DATA);
    }

    #[tokio::test]
    async fn reports_failure_when_the_source_cannot_be_read() {
        let driver = TestDriver::new("{{name}}");
        // A directory cannot be read as text.
        let source = driver.path().join("a-directory");
        std::fs::create_dir_all(&source).unwrap();
        let outcome = driver
            .fire_timer()
            .args([source.display().to_string()])
            .run(main_task)
            .await;
        assert_eq!(outcome.exit_code(), FAILURE);
        assert_eq!(outcome.status(), Some("last fetch: failed"));
    }
}
