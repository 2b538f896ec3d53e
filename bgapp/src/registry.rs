//! The table of tasks linked into the binary. Each `#[background_task]`
//! adds one entry (through linkme's distributed slice), so no annotated
//! task can be missed, wherever it is declared.

use bgapp_manifest::TaskManifest;

use crate::lifecycle::TaskFuture;
use crate::TaskInstance;

#[linkme::distributed_slice]
pub static TASKS: [TaskEntry];

/// One task: its manifest record (the bytes the packager reads from the
/// file), the same manifest as code, and the function that starts it.
pub struct TaskEntry {
    pub manifest: &'static [u8],
    pub load: fn() -> TaskManifest,
    pub run: fn(TaskInstance) -> TaskFuture,
    /// The tokio runtime the process entry builds for the task.
    pub runtime: Runtime,
    /// `log = "app"`: the app installs its own `tracing` subscriber.
    pub app_log: bool,
}

/// The attribute's `runtime` and `worker_threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// tokio's multi-thread runtime, with this many workers (tokio's
    /// default, one per core, when `None`).
    MultiThread(Option<usize>),
    /// Everything on the main thread.
    CurrentThread,
}

/// The tasks of this binary, decoded and checked.
pub(crate) fn load() -> Result<Vec<(TaskManifest, &'static TaskEntry)>, String> {
    let mut tasks = Vec::with_capacity(TASKS.len());
    for entry in TASKS.iter() {
        let manifest = (entry.load)();
        // The record and the code come from one value in the macro.
        debug_assert_eq!(
            TaskManifest::from_record(entry.manifest).ok().as_ref(),
            Some(&manifest)
        );
        tasks.push((manifest, entry));
    }
    tasks.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for pair in tasks.windows(2) {
        if pair[0].0.name == pair[1].0.name {
            return Err(format!(
                "two tasks are named `{}` (functions `{}` and `{}`); give one of them another `name = \"...\"`",
                pair[0].0.name, pair[0].0.function, pair[1].0.function
            ));
        }
    }
    Ok(tasks)
}
