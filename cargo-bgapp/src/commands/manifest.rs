//! `cargo bgapp manifest`: build if needed, read the tasks from the binary,
//! print them as JSON on stdout (the document of `project/tasks.rs`).
//!
//! Layer: commands.

use std::collections::BTreeMap;
use std::process::ExitCode;

use crate::cli::ManifestArgs;
use crate::project::tasks::{load_tasks, BinaryDoc, ManifestDoc};
use crate::project::Project;
use crate::shell::Shell;

pub fn run(args: ManifestArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if args.build.target.len() > 1 {
        anyhow::bail!("`cargo bgapp manifest` reads one binary; give `--target` once");
    }
    let project = Project::resolve(&args.build.selection())?;
    let built = if args.no_build {
        project.existing()?
    } else {
        project.build(shell)?
    };
    let loaded = load_tasks(&project, built)?;
    super::note_without_tasks(&loaded, "it is not listed", shell);
    let binaries = loaded.binaries;
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
