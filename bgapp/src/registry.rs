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
    /// Builds the tokio runtime the process entry runs the task on. A
    /// function rather than a value, so that a binary links only the
    /// runtime flavors its tasks ask for.
    pub runtime: fn() -> std::io::Result<tokio::runtime::Runtime>,
    /// `log = "app"`: the app installs its own `tracing` subscriber.
    pub app_log: bool,
    /// The package's version, for `--version` when bgapp answers it
    /// (`args = "none"`, [`bgapp_manifest::Arguments::None`]); `None` when
    /// not built by cargo.
    pub version: Option<&'static str>,
}

/// The multi-thread runtime, tokio's default worker count: the default.
pub fn multi_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// The multi-thread runtime with `n` workers (`worker_threads = n`).
pub fn multi_thread_with(n: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .build()
}

/// Everything on the main thread (`runtime = "current_thread"`).
pub fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
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
