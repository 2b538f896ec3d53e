//! The checked model of one task: what `expand.rs` turns into code.

use bgapp_manifest::TaskManifest;
use proc_macro2::Span;

pub struct Task {
    /// The manifest compiled into the binary.
    pub manifest: TaskManifest,
    /// Where the generated code finds the runtime (`::bgapp` by default).
    pub krate: syn::Path,
    /// Whether the attribute is on `main`, so the macro emits the process
    /// entry and keeps the task callable as `main_task`.
    pub is_main: bool,
    /// Where the task's name came from, for the duplicate-name error.
    pub name_span: Span,
    /// The return type's span, for the `Result<(), E: Display>` check.
    pub output_span: Span,
    /// The tokio runtime the process entry builds for this task.
    pub runtime: Runtime,
    /// `log = "app"`: the app installs its own global subscriber.
    pub app_log: bool,
}

/// `runtime = "..."` and `worker_threads = N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// tokio's multi-thread runtime; `None` for tokio's default count.
    MultiThread(Option<usize>),
    CurrentThread,
}
