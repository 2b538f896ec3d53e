//! [`Plan::apply`]: writing a plan that [`plan`](super::plan()) has
//! checked, and running `git init`.
//!
//! Layer: scaffold.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use super::{io, Action, GitInit, Mode, Plan, ScaffoldError};

impl Plan {
    /// Writes the plan. In `new`, a failure removes the new directory.
    /// Returns warnings about what could not be done but is not needed.
    pub fn apply(&self) -> Result<Vec<String>, ScaffoldError> {
        let created_dir = !self.dir.exists();
        let result = self.write_files();
        if result.is_err() && created_dir && self.mode == Mode::New {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let warnings = result?;
        if let Some(edit) = &self.workspace {
            std::fs::write(&edit.manifest_path, &edit.contents)
                .map_err(io("write", &edit.manifest_path))?;
        }
        Ok(warnings)
    }

    fn write_files(&self) -> Result<Vec<String>, ScaffoldError> {
        let mut warnings = Vec::new();
        std::fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        match (self.git_init, git_init(&self.dir, self.git_init)) {
            (_, Ok(())) => {}
            (GitInit::IfInstalled, Err(GitError::NotInstalled(_))) => {
                warnings.push("git is not installed: no repository was created".to_string());
            }
            (_, Err(GitError::NotInstalled(e))) => {
                return Err(ScaffoldError::Git {
                    path: self.dir.clone(),
                    message: format!("{e}; is git installed? (`--vcs none` creates no repository)"),
                });
            }
            (_, Err(GitError::Failed(message))) => {
                return Err(ScaffoldError::Git {
                    path: self.dir.clone(),
                    message,
                });
            }
        }
        for file in &self.files {
            let path = self.dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
            }
            match file.action {
                Action::Create => {
                    let mut out = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map_err(io("create", &path))?;
                    out.write_all(file.contents.as_bytes())
                        .map_err(io("write", &path))?;
                }
                Action::Merge => {
                    std::fs::write(&path, &file.contents).map_err(io("write", &path))?
                }
            }
        }
        Ok(warnings)
    }
}

enum GitError {
    NotInstalled(std::io::Error),
    Failed(String),
}

fn git_init(dir: &Path, mode: GitInit) -> Result<(), GitError> {
    if mode == GitInit::No {
        return Ok(());
    }
    let output = Command::new("git")
        .arg("init")
        .arg("--quiet")
        .arg(dir)
        .output()
        .map_err(GitError::NotInstalled)?;
    if !output.status.success() {
        return Err(GitError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(())
}
