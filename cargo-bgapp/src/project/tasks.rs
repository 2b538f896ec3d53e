//! The tasks of a project's built binaries, and the document that lists
//! them: what `cargo bgapp manifest` prints and what bundles ship as
//! `bgapp-manifest.json`.
//!
//! Layer: project. The document is one JSON object:
//!
//! ```json
//! {
//!   "package": "hello",
//!   "version": "0.1.0",
//!   "target": "x86_64-unknown-linux-gnu",
//!   "binaries": [
//!     {
//!       "name": "hello",
//!       "path": "/work/hello/target/release/hello",
//!       "target": "x86_64-unknown-linux-gnu",
//!       "tasks": [ { "format": 1, "name": "hello", "trigger": { "kind": "boot" }, ... } ]
//!     }
//!   ]
//! }
//! ```
//!
//! Each task is a `bgapp_manifest::TaskManifest` exactly as compiled into
//! the binary. Only binaries with at least one task are listed. In bundles,
//! `path` is the installed path and each binary also has `units`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use bgapp_manifest::TaskManifest;
use serde::{Deserialize, Serialize};

use super::arch::describe_machine;
use super::binary::Binary;
use super::{Built, Project};

/// The task manifest of a package: its binaries and their tasks.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestDoc {
    pub package: String,
    pub version: String,
    pub target: String,
    pub binaries: Vec<BinaryDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BinaryDoc {
    pub name: String,
    pub path: PathBuf,
    pub target: String,
    pub tasks: Vec<TaskManifest>,
    /// Task name -> the units generated for it; only in bundles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, Vec<String>>,
}

/// Reads the built binaries and keeps those with tasks, checking that they
/// were built for the project's target and that task names are unique.
///
/// With `--bin`, a binary without tasks is an error; otherwise binaries
/// without tasks (helpers, tools) are left out, and it is an error only
/// when none has a task.
pub fn load_tasks(project: &Project, built: Vec<Built>) -> anyhow::Result<Vec<(String, Binary)>> {
    let mut with_tasks = Vec::new();
    let mut without = Vec::new();
    for b in built {
        let bin = Binary::read(&b.path)?;
        check_machine(project, &b, &bin)?;
        if !bin.tasks.is_empty() {
            with_tasks.push((b.name, bin));
        } else if project.explicit_bin {
            bail!(
                "binary `{}` of package `{}` has no task\n\n\
                 help: mark an async fn with `#[bgapp::background_task]`",
                b.name,
                project.name()
            );
        } else {
            without.push(b.name);
        }
    }
    if with_tasks.is_empty() {
        bail!(
            "package `{}` has no task: none of its binaries ({}) holds a `#[bgapp::background_task]`\n\n\
             help: mark an async fn with `#[bgapp::background_task]`",
            project.name(),
            without.join(", ")
        );
    }
    check_unique_names(&with_tasks)?;
    Ok(with_tasks)
}

fn check_machine(project: &Project, built: &Built, bin: &Binary) -> anyhow::Result<()> {
    if project.target.accepts(&bin.machine) {
        return Ok(());
    }
    bail!(
        "`{}` is built for {}, but target `{}` is {}\n\n\
         help: build it for that target (`--target {}`), or drop `--no-build`",
        built.path.display(),
        describe_machine(&bin.machine),
        project.target.triple,
        describe_machine(&project.target.machine),
        project.target.triple,
    )
}

/// Task names become unit names: two binaries may not share one.
fn check_unique_names(binaries: &[(String, Binary)]) -> anyhow::Result<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (bin_name, bin) in binaries {
        for task in &bin.tasks {
            if let Some(first) = seen.insert(&task.name, bin_name) {
                bail!(
                    "two tasks are named `{}` (in binary `{first}` and in binary `{bin_name}`)\n\n\
                     help: give one of them another `name = \"...\"`; task names become unit names",
                    task.name
                );
            }
        }
    }
    Ok(())
}
