//! `cargo bgapp manifest`: build if needed, read the tasks from the binary,
//! print them as JSON on stdout.
//!
//! The output is one JSON object:
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
//! the binary. Only binaries with at least one task are listed. The same
//! shape, with `path` the installed path and `units` added per binary, is
//! shipped in bundles as `bgapp-manifest.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use bgapp_manifest::TaskManifest;
use serde::{Deserialize, Serialize};

use crate::binary::Binary;
use crate::build::{Built, Project};
use crate::cli::ManifestArgs;
use crate::shell::Shell;
use crate::triple::describe_machine;

/// The document `cargo bgapp manifest` prints.
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

pub fn run(args: ManifestArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let project = Project::resolve(&args.build)?;
    let built = if args.no_build {
        project.existing()?
    } else {
        project.build(&args.build, shell)?
    };
    let binaries = load_tasks(&project, built, args.build.bin.is_some())?;
    let doc = ManifestDoc {
        package: project.name().to_string(),
        version: project.package.version.to_string(),
        target: project.target.triple.clone(),
        binaries: binaries
            .into_iter()
            .map(|(name, bin)| BinaryDoc {
                name,
                path: bin.path,
                target: project.target.triple.clone(),
                tasks: bin.tasks,
                units: BTreeMap::new(),
            })
            .collect(),
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}

/// Reads the built binaries and keeps those with tasks, checking that they
/// were built for the project's target and that task names are unique.
///
/// With `explicit_bin`, a binary without tasks is an error; otherwise
/// binaries without tasks (helpers, tools) are left out, and it is an
/// error only when none has a task.
pub fn load_tasks(
    project: &Project,
    built: Vec<Built>,
    explicit_bin: bool,
) -> anyhow::Result<Vec<(String, Binary)>> {
    let mut with_tasks = Vec::new();
    let mut without = Vec::new();
    for b in built {
        let bin = Binary::read(&b.path)?;
        if !project.target.accepts(&bin.machine) {
            bail!(
                "`{}` is built for {}, but target `{}` is {}\n\n\
                 help: build it for that target (`--target {}`), or drop `--no-build`",
                b.path.display(),
                describe_machine(&bin.machine),
                project.target.triple,
                describe_machine(&project.target.machine),
                project.target.triple,
            );
        }
        if bin.tasks.is_empty() {
            if explicit_bin {
                bail!(
                    "binary `{}` of package `{}` has no task\n\n\
                     help: mark an async fn with `#[bgapp::background_task]`",
                    b.name,
                    project.name()
                );
            }
            without.push(b.name);
        } else {
            with_tasks.push((b.name, bin));
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
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (bin_name, bin) in &with_tasks {
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
    Ok(with_tasks)
}
