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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::bail;
use bgapp_manifest::TaskManifest;
use serde::{Deserialize, Serialize};

use super::arch::describe_machine;
use super::binary::Binary;
use super::library::{read_rlib, Library};
use super::{Build, Built, Project};

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

/// The binaries with tasks, read.
pub struct Loaded {
    pub binaries: Vec<(String, Binary)>,
    /// Binaries of the package without a task, left out (said as a note).
    pub without_tasks: Vec<String>,
}

/// Reads the built binaries and keeps those with tasks, checking that they
/// were built for the project's target, that task names are unique, and
/// that every task the build's libraries define is in a binary.
///
/// With `--bin`, a binary without tasks is an error; otherwise binaries
/// without tasks (helpers, tools) are left out, and it is an error only
/// when none has a task.
pub fn load_tasks(project: &Project, build: Build) -> anyhow::Result<Loaded> {
    let mut with_tasks = Vec::new();
    let mut without = Vec::new();
    for b in build.binaries {
        let bin = Binary::read(&b.path)?;
        check_machine(project, &b, &bin)?;
        if bin.tasks.is_empty() {
            without.push(b.name);
        } else {
            with_tasks.push((b.name, bin));
        }
    }
    if let Some(libraries) = &build.libraries {
        check_library_tasks(project, &with_tasks, &without, libraries)?;
    }
    if let (true, Some(name)) = (project.explicit_bin, without.first()) {
        bail!(
            "binary `{name}` of package `{}` has no task\n\n\
             help: mark an async fn with `#[bgapp::background_task]`",
            project.name()
        );
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
    Ok(Loaded {
        binaries: with_tasks,
        without_tasks: without,
    })
}

/// Every task a library of the build defines must be in one of the
/// binaries: a binary that never names a crate does not link it, and its
/// tasks would be missing from the binary, its manifest and its units
/// without a word.
fn check_library_tasks(
    project: &Project,
    binaries: &[(String, Binary)],
    without: &[String],
    libraries: &[Library],
) -> anyhow::Result<()> {
    // With `--bin`, the package's other binaries may hold them.
    if project.explicit_bin && project.all_bins > 1 {
        return Ok(());
    }
    let present: BTreeSet<(&str, &str)> = binaries
        .iter()
        .flat_map(|(_, b)| b.tasks.iter())
        .map(|t| (t.package.as_str(), t.name.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    for library in libraries {
        if !seen.insert(&library.path) {
            continue;
        }
        let missing: Vec<String> = read_rlib(&library.path)?
            .into_iter()
            .filter(|t| !present.contains(&(t.package.as_str(), t.name.as_str())))
            .map(|t| format!("`{}`", t.name))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let krate = &library.crate_name;
        let mut bins: Vec<&str> = binaries.iter().map(|(n, _)| n.as_str()).collect();
        bins.extend(without.iter().map(String::as_str));
        bins.sort();
        let (tasks, are) = match missing.len() {
            1 => ("task", "is"),
            _ => ("tasks", "are"),
        };
        let (which, it) = match bins.as_slice() {
            [one] => (format!("binary `{one}`"), "the binary never names"),
            _ => (
                format!("any binary of package `{}`", project.name()),
                "no binary names",
            ),
        };
        let sources: Vec<String> = bins
            .iter()
            .filter_map(|b| project.bin_source(b))
            .map(|p| format!("`{}`", p.display()))
            .collect();
        let to = match sources.as_slice() {
            [one] => one.clone(),
            _ => format!("the binary that should run them ({})", sources.join(", ")),
        };
        bail!(
            "{tasks} {} of crate `{krate}` {are} not in {which}: {it} the crate, so it is not linked in\n\n\
             help: add `use {krate} as _;` to {to}\n\n\
             note: a task that a binary should not have can be left out of `{krate}` with a cargo feature",
            missing.join(", ")
        );
    }
    Ok(())
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
