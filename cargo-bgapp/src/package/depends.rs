//! `Depends:` from the shared libraries the binary needs (`DT_NEEDED`),
//! read from the ELF file so that a cross-compiled binary gets the right
//! list too.
//!
//! glibc's and libgcc's libraries are known, with the minimum version taken
//! from the highest symbol version the binary needs (what
//! `dpkg-shlibdeps` would find). Any other library is looked up with
//! `dpkg-query -S` when the package is for this machine's architecture, or
//! taken from `[package.metadata.bgapp.libraries]`; a library that cannot
//! be mapped is an error, never a silently missing dependency.

use std::collections::BTreeMap;
use std::process::Command;

use crate::project::binary::Binary;

/// The parts of glibc that Debian ships in `libc6`.
const GLIBC: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libanl.so.1",
    "libmvec.so.1",
    "libc_malloc_debug.so.0",
];

#[derive(Debug, thiserror::Error)]
pub enum DependsError {
    #[error(
        "cannot tell which Debian package provides `{lib}`, needed by `{bin}`{why}\n\n\
         help: name it in `Cargo.toml`:\n\n    [package.metadata.bgapp.libraries]\n    \"{lib}\" = \"<package> (>= <version>)\""
    )]
    Unknown {
        lib: String,
        bin: String,
        why: String,
    },
}

/// Computes the dependencies of `binaries`, sorted and deduplicated.
///
/// `host_arch` gives this machine's Debian architecture when `dpkg` is
/// there; it is called only for a library bgapp cannot map itself, and
/// `dpkg-query` is asked only when it matches `arch`.
pub fn depends(
    binaries: &[&Binary],
    libraries: &BTreeMap<String, String>,
    arch: &str,
    host_arch_fn: impl Fn() -> Option<String>,
) -> Result<Vec<String>, DependsError> {
    let host_arch = std::cell::OnceCell::new();
    let host_arch = || host_arch.get_or_init(&host_arch_fn).as_deref();
    // Package name -> the full entry; glibc and libgcc are added at the end
    // with the highest version any binary needs.
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut glibc: Option<Option<Vec<u32>>> = None;
    let mut gcc: Option<Option<Vec<u32>>> = None;
    for bin in binaries {
        for lib in &bin.needed {
            if let Some(dep) = libraries.get(lib) {
                let name = dep
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                out.insert(name, dep.clone());
            } else if GLIBC.contains(&lib.as_str())
                || lib.starts_with("ld-linux")
                || lib.starts_with("ld64.so")
            {
                let v = bin.max_version(GLIBC, "GLIBC_");
                glibc = Some(glibc.flatten().max(v));
            } else if lib == "libgcc_s.so.1" {
                let v = bin.max_version(&["libgcc_s.so.1"], "GCC_");
                gcc = Some(gcc.flatten().max(v));
            } else if lib == "libstdc++.so.6" {
                out.insert("libstdc++6".into(), "libstdc++6".into());
            } else {
                let pkg = installed_package(lib, bin, arch, host_arch())?;
                out.insert(pkg.clone(), pkg);
            }
        }
    }
    if let Some(v) = glibc {
        out.insert("libc6".into(), versioned("libc6", v));
    }
    if let Some(v) = gcc {
        out.insert("libgcc-s1".into(), versioned("libgcc-s1", v));
    }
    Ok(out.into_values().collect())
}

/// The package of this machine that ships `lib`, when the package is for
/// this machine's architecture `host`; else an error that says why not.
fn installed_package(
    lib: &str,
    bin: &Binary,
    arch: &str,
    host: Option<&str>,
) -> Result<String, DependsError> {
    let found = match host {
        Some(h) if h == arch => dpkg_query(lib, arch),
        _ => None,
    };
    found.ok_or_else(|| {
        let why = match host {
            Some(h) if h == arch => ": `dpkg-query -S` finds no package with it".to_string(),
            Some(h) => format!(" (this machine is `{h}`, the package is for `{arch}`)"),
            None => " (`dpkg-query` is not available here)".to_string(),
        };
        DependsError::Unknown {
            lib: lib.to_string(),
            bin: bin
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            why,
        }
    })
}

fn versioned(package: &str, version: Option<Vec<u32>>) -> String {
    match version {
        Some(v) => {
            let v: Vec<String> = v.iter().map(|n| n.to_string()).collect();
            format!("{package} (>= {})", v.join("."))
        }
        None => package.to_string(),
    }
}

/// The installed package that ships `lib` for `arch`, via `dpkg-query -S`.
fn dpkg_query(lib: &str, arch: &str) -> Option<String> {
    let output = Command::new("dpkg-query")
        .arg("-S")
        .arg(format!("*/{lib}"))
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // Lines look like `zlib1g:amd64: /usr/lib/x86_64-linux-gnu/libz.so.1`.
    text.lines().find_map(|line| {
        let (pkgs, _) = line.split_once(": ")?;
        pkgs.split(", ").find_map(|p| match p.split_once(':') {
            Some((name, a)) if a == arch => Some(name.to_string()),
            None => Some(p.to_string()),
            _ => None,
        })
    })
}

/// This machine's Debian architecture, if it has dpkg.
pub fn host_arch() -> Option<String> {
    let output = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::binary::Machine;
    use std::path::PathBuf;

    fn amd64() -> Option<String> {
        Some("amd64".into())
    }

    fn bin(needed: &[&str], versions: &[(&str, &[&str])]) -> Binary {
        Binary {
            path: PathBuf::from("/t/app"),
            data: Vec::new(),
            machine: Machine {
                e_machine: object::elf::EM_AARCH64,
                is_64: true,
                big_endian: false,
            },
            dynamic: true,
            needed: needed.iter().map(|s| s.to_string()).collect(),
            versions: versions
                .iter()
                .map(|(l, v)| (l.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            tasks: Vec::new(),
            unstripped: false,
        }
    }

    #[test]
    fn maps_a_rust_binary() {
        let b = bin(
            &[
                "libgcc_s.so.1",
                "libm.so.6",
                "libc.so.6",
                "ld-linux-aarch64.so.1",
            ],
            &[
                ("libc.so.6", &["GLIBC_2.17", "GLIBC_2.34", "GLIBC_2.9"]),
                ("libm.so.6", &["GLIBC_2.29"]),
                ("libgcc_s.so.1", &["GCC_3.0", "GCC_4.2.0"]),
            ],
        );
        let d = depends(&[&b], &BTreeMap::new(), "arm64", amd64).unwrap();
        assert_eq!(d, ["libc6 (>= 2.34)", "libgcc-s1 (>= 4.2.0)"]);
    }

    #[test]
    fn unknown_library_of_a_foreign_arch_is_an_error() {
        let b = bin(&["libfoo.so.1", "libc.so.6"], &[]);
        let err = depends(&[&b], &BTreeMap::new(), "arm64", amd64).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot tell which Debian package provides `libfoo.so.1`"),
            "{msg}"
        );
        let libs = BTreeMap::from([("libfoo.so.1".to_string(), "libfoo1 (>= 1.2)".to_string())]);
        let d = depends(&[&b], &libs, "arm64", amd64).unwrap();
        assert_eq!(d, ["libc6", "libfoo1 (>= 1.2)"]);
    }

    #[test]
    fn static_binary_has_none() {
        let b = bin(&[], &[]);
        assert!(depends(&[&b], &BTreeMap::new(), "amd64", || None)
            .unwrap()
            .is_empty());
    }
}
