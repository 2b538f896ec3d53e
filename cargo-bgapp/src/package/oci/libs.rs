//! The shared libraries an image needs: the binary's `DT_NEEDED`, and
//! theirs, found for the image's architecture (this machine's libraries
//! for a native build, the cross sysroot `/usr/<gnu-type>` Debian's cross
//! toolchains install for another), plus the dynamic loader the binary
//! names (`PT_INTERP`). A static binary needs none.
//!
//! In the image a native build's libraries keep the directory they were
//! found in, a cross build's go to `/usr/lib/<gnu-type>/` (where the loader
//! of Debian's glibc looks without a cache), and the loader to the path it
//! is asked for; all under `/usr`, with `/lib` and `/lib64` symlinks into
//! it, as on a merged-/usr system.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use object::read::elf::{FileHeader, ProgramHeader as _};
use object::{Endianness, FileKind};

use super::layer::Entry;
use crate::project::binary::Binary;

/// Where the libraries for one architecture are on this machine.
pub struct Sysroot {
    /// The directory the loader's absolute path is relative to: `/` for a
    /// native build, `/usr/<gnu-type>` for a cross one.
    pub root: PathBuf,
    /// The directories searched, in order.
    pub dirs: Vec<PathBuf>,
    /// `x86_64-linux-gnu`, ...
    pub gnu_type: String,
    /// Whether this is the cross sysroot (for messages).
    pub cross: bool,
}

impl Sysroot {
    /// This machine's libraries when `native`, else the cross sysroot.
    pub fn new(gnu_type: &str, native: bool) -> Sysroot {
        if native {
            let dirs = [
                format!("/lib/{gnu_type}"),
                format!("/usr/lib/{gnu_type}"),
                "/lib64".to_string(),
                "/usr/lib64".to_string(),
                "/lib".to_string(),
                "/usr/lib".to_string(),
            ];
            Sysroot {
                root: PathBuf::from("/"),
                dirs: dirs.into_iter().map(PathBuf::from).collect(),
                gnu_type: gnu_type.to_string(),
                cross: false,
            }
        } else {
            let root = PathBuf::from(format!("/usr/{gnu_type}"));
            Sysroot {
                dirs: vec![root.join("lib"), root.join("lib64")],
                root,
                gnu_type: gnu_type.to_string(),
                cross: true,
            }
        }
    }
}

/// The loader and every library `binary` needs, transitively, as layer
/// entries; empty for a static binary.
pub fn resolve(binary: &Binary, name: &str, sysroot: &Sysroot) -> anyhow::Result<Vec<Entry>> {
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    if let Some(interp) = interpreter(&binary.data)? {
        let host = sysroot.root.join(interp.trim_start_matches('/'));
        let data = std::fs::read(&host).with_context(|| {
            format!(
                "`{name}` asks for the dynamic loader `{interp}`, and `{}` cannot be read{}",
                host.display(),
                install_hint(sysroot)
            )
        })?;
        out.insert(
            image_path(&interp),
            Entry::file(image_path(&interp), 0o755, data),
        );
    }
    libraries(&binary.needed, binary.machine, name, sysroot, &mut out)?;
    Ok(out.into_values().collect())
}

/// Adds `needed` and what they need to `out`, each once.
fn libraries(
    needed: &[String],
    machine: crate::project::binary::Machine,
    name: &str,
    sysroot: &Sysroot,
    out: &mut BTreeMap<String, Entry>,
) -> anyhow::Result<()> {
    let mut queue: VecDeque<(String, String)> = needed
        .iter()
        .map(|n| (n.clone(), name.to_string()))
        .collect();
    let mut seen: Vec<String> = Vec::new();
    while let Some((lib, by)) = queue.pop_front() {
        if seen.contains(&lib) {
            continue;
        }
        seen.push(lib.clone());
        let Some(found) = sysroot
            .dirs
            .iter()
            .map(|d| d.join(&lib))
            .find(|p| p.is_file())
        else {
            let dirs: Vec<String> = sysroot
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            bail!(
                "`{lib}`, needed by `{by}`, is in none of {}{}",
                dirs.join(", "),
                install_hint(sysroot)
            );
        };
        let data = std::fs::read(&found)
            .with_context(|| format!("failed to read `{}`", found.display()))?;
        let read = Binary::parse(&found, data)
            .with_context(|| format!("failed to read `{}`, needed by `{by}`", found.display()))?;
        if read.machine != machine {
            bail!(
                "`{}`, needed by `{by}`, is for another architecture than `{name}`{}",
                found.display(),
                install_hint(sysroot)
            );
        }
        queue.extend(read.needed.iter().map(|n| (n.clone(), lib.clone())));
        // Where the loader looks: for a native build the directory the
        // library was found in (a multiarch directory on Debian, `/lib64`
        // on others), under `/usr`; for a cross one Debian's multiarch
        // directory, where the cross loader looks.
        let path = if sysroot.cross {
            format!("usr/lib/{}/{lib}", sysroot.gnu_type)
        } else {
            image_path(&found.to_string_lossy())
        };
        // The loader may also be a `DT_NEEDED` of libc; it is already there.
        if out.values().any(|e| e.path.ends_with(&format!("/{lib}"))) {
            continue;
        }
        out.insert(path.clone(), Entry::file(path, 0o755, read.data));
    }
    Ok(())
}

fn install_hint(sysroot: &Sysroot) -> String {
    if sysroot.cross {
        format!(
            "\n\nhelp: install Debian's cross libraries (`apt-get install gcc-{}`), or link statically",
            sysroot.gnu_type
        )
    } else {
        "\n\nhelp: install the library's package, or link statically".to_string()
    }
}

/// Where a path of the target system goes in the image: under `/usr`, as
/// `/lib` and `/lib64` are symlinks there.
fn image_path(path: &str) -> String {
    let path = path.trim_start_matches('/');
    for top in ["lib/", "lib64/", "lib32/"] {
        if path.starts_with(top) {
            return format!("usr/{path}");
        }
    }
    path.to_string()
}

/// The symlinks of a merged-/usr system the loader's path goes through.
pub fn merged_usr_links(entries: &[Entry]) -> Vec<Entry> {
    ["lib", "lib64", "lib32"]
        .into_iter()
        .filter(|top| {
            entries
                .iter()
                .any(|e| e.path.starts_with(&format!("usr/{top}/")))
        })
        .map(|top| Entry::symlink(top, format!("usr/{top}")))
        .collect()
}

/// The binary's `PT_INTERP`, if it has one.
pub fn interpreter(data: &[u8]) -> anyhow::Result<Option<String>> {
    match FileKind::parse(data)? {
        FileKind::Elf32 => interp::<object::elf::FileHeader32<Endianness>>(data),
        FileKind::Elf64 => interp::<object::elf::FileHeader64<Endianness>>(data),
        _ => bail!("not an ELF file"),
    }
}

fn interp<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> anyhow::Result<Option<String>> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    for ph in header.program_headers(endian, data)? {
        if let Some(bytes) = ph.interpreter(endian, data)? {
            return Ok(Some(String::from_utf8_lossy(bytes).into_owned()));
        }
    }
    Ok(None)
}

/// Whether the image's libraries come from this machine: the target is
/// this machine's architecture.
pub fn is_native(deb_arch: &str) -> bool {
    crate::project::arch::Arch::host().is_some_and(|a| a.deb == deb_arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_paths_go_under_usr() {
        assert_eq!(
            image_path("/lib64/ld-linux-x86-64.so.2"),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            image_path("/lib/ld-linux-aarch64.so.1"),
            "usr/lib/ld-linux-aarch64.so.1"
        );
        assert_eq!(image_path("/usr/lib/ld.so"), "usr/lib/ld.so");
    }

    /// This test binary is dynamic on glibc: its loader and libc resolve
    /// from this machine, each once.
    #[test]
    fn resolves_this_test_binary() {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let bin = Binary::read(&exe).unwrap();
        let gnu = crate::project::arch::Arch::host().unwrap().gnu_type;
        let entries = resolve(&bin, "test", &Sysroot::new(gnu, true)).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert!(
            paths.contains(&format!("usr/lib/{gnu}/libc.so.6").as_str()),
            "{paths:?}"
        );
        let interp = interpreter(&bin.data).unwrap().unwrap();
        assert!(paths.contains(&image_path(&interp).as_str()), "{paths:?}");
        let mut dedup = paths.clone();
        dedup.dedup();
        assert_eq!(dedup, paths);
    }

    #[test]
    fn a_missing_library_is_named_with_who_needs_it() {
        let exe = std::env::current_exe().unwrap();
        let bin = Binary::read(&exe).unwrap();
        let sysroot = Sysroot {
            root: PathBuf::from("/nonexistent"),
            dirs: vec![PathBuf::from("/nonexistent/lib")],
            gnu_type: "x86_64-linux-gnu".into(),
            cross: true,
        };
        let needed = ["libnothere.so.9".to_string()];
        let err = libraries(&needed, bin.machine, "app", &sysroot, &mut BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`libnothere.so.9`, needed by `app`, is in none of /nonexistent/lib"),
            "{err}"
        );
        assert!(
            err.contains("apt-get install gcc-x86_64-linux-gnu"),
            "{err}"
        );
    }
}
