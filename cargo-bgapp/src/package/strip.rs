//! Stripping symbols and debug information before a binary is packaged, as
//! cargo-deb does: Debian wants stripped binaries (lintian's
//! `unstripped-binary-or-object` is an error), and a release profile keeps
//! the symbol table unless it says `strip = true`.
//!
//! GNU `strip` does the work: the target's own (`aarch64-linux-gnu-strip`)
//! for a cross-compiled binary, the plain one for this machine's
//! architecture. The task section is allocated data, which strip keeps;
//! the result is read back to make sure.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};

use crate::project::arch::Arch;
use crate::project::binary::Binary;

fn runs(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Strips `bin` in memory, using `scratch` (a writable directory) for the
/// tool's output. Returns a reason when no strip tool for `deb_arch` is
/// installed, for the caller to warn about.
pub fn strip(bin: &mut Binary, deb_arch: &str, scratch: &Path) -> anyhow::Result<Option<String>> {
    let mut candidates = Vec::new();
    if let Some(arch) = Arch::by_deb(deb_arch) {
        candidates.push(format!("{}-strip", arch.gnu_type));
    }
    if Arch::host().is_some_and(|host| host.deb == deb_arch) {
        candidates.push("strip".to_string());
    }
    let Some(tool) = candidates.iter().find(|t| runs(t)) else {
        return Ok(Some(format!(
            "no `{}` is installed",
            candidates.first().map_or("strip", String::as_str)
        )));
    };
    let name = bin
        .path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let out = scratch.join(format!(".{name}.{}.stripped", std::process::id()));
    let status = Command::new(tool)
        .arg("--strip-unneeded")
        .arg("-o")
        .arg(&out)
        .arg(&bin.path)
        .status()
        .with_context(|| format!("failed to run `{tool}`"));
    let data = status.and_then(|status| {
        if !status.success() {
            bail!("`{tool}` failed on `{}` ({status})", bin.path.display());
        }
        std::fs::read(&out).with_context(|| format!("failed to read `{}`", out.display()))
    });
    let _ = std::fs::remove_file(&out);
    let stripped = Binary::parse(&bin.path, data?)?;
    if stripped.tasks != bin.tasks {
        bail!("`{tool}` lost the task section of `{}`", bin.path.display());
    }
    *bin = stripped;
    Ok(None)
}
