//! What the packager learns from a built executable without running it:
//! the tasks in its `bgapp_manifest` section, the machine it was built for,
//! and the shared libraries (with symbol versions) it needs at run time.
//!
//! Everything is read from the ELF headers, so a cross-compiled binary is
//! read exactly like a native one.
//!
//! Layer: project; the packager (`package/`) reads these fields.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bgapp_manifest::{decode_records, TaskManifest, SECTION};
use object::elf::{FileHeader32, FileHeader64, DT_NEEDED, PT_INTERP};
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _};
use object::{Endianness, FileKind};

/// Why a file could not be read as a bgapp binary.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("`{0}` is not an ELF executable; bgapp packages Linux binaries")]
    NotElf(PathBuf),
    #[error("`{path}` is a malformed ELF file: {source}")]
    Malformed {
        path: PathBuf,
        source: object::read::Error,
    },
    #[error("`{path}` holds a task record that cannot be read: {source}")]
    Record {
        path: PathBuf,
        source: bgapp_manifest::DecodeError,
    },
}

/// The machine an ELF file was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// `e_machine`, one of `object::elf::EM_*`.
    pub e_machine: u16,
    pub is_64: bool,
    pub big_endian: bool,
}

/// A built executable, read.
#[derive(Debug)]
pub struct Binary {
    pub path: PathBuf,
    /// The file's bytes, kept so that packaging reads the file once.
    pub data: Vec<u8>,
    pub machine: Machine,
    /// Whether it asks for a dynamic loader (`PT_INTERP`).
    pub dynamic: bool,
    /// `DT_NEEDED`, in file order.
    pub needed: Vec<String>,
    /// Symbol versions it needs, per library (`libc.so.6` -> `GLIBC_2.34`, ...).
    pub versions: BTreeMap<String, Vec<String>>,
    /// The task records, in section order.
    pub tasks: Vec<TaskManifest>,
    /// Whether it still has a symbol table or debug information.
    pub unstripped: bool,
}

impl Binary {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Binary> {
        let data =
            std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
        Ok(Binary::parse(path, data)?)
    }

    /// Reads a binary from its bytes; `path` is only used in messages.
    pub fn parse(path: &Path, data: Vec<u8>) -> Result<Binary, BinaryError> {
        let malformed = |source| BinaryError::Malformed {
            path: path.to_path_buf(),
            source,
        };
        let kind = FileKind::parse(&*data).map_err(|_| BinaryError::NotElf(path.to_path_buf()))?;
        let parts = match kind {
            FileKind::Elf32 => read_elf::<FileHeader32<Endianness>>(&data).map_err(malformed)?,
            FileKind::Elf64 => read_elf::<FileHeader64<Endianness>>(&data).map_err(malformed)?,
            _ => return Err(BinaryError::NotElf(path.to_path_buf())),
        };
        let tasks = match &parts.section {
            Some(range) => {
                decode_records(&data[range.clone()]).map_err(|source| BinaryError::Record {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            None => Vec::new(),
        };
        Ok(Binary {
            path: path.to_path_buf(),
            machine: parts.machine,
            dynamic: parts.dynamic,
            needed: parts.needed,
            versions: parts.versions,
            tasks,
            unstripped: parts.unstripped,
            data,
        })
    }

    /// The highest `PREFIX_x.y[.z]` version needed from any of `libs`.
    pub fn max_version(&self, libs: &[&str], prefix: &str) -> Option<Vec<u32>> {
        self.versions
            .iter()
            .filter(|(lib, _)| libs.contains(&lib.as_str()))
            .flat_map(|(_, versions)| versions.iter())
            .filter_map(|v| parse_version(v.strip_prefix(prefix)?))
            .max()
    }
}

/// `"2.34"` -> `[2, 34]`; `None` for anything that is not dotted numbers.
fn parse_version(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|p| p.parse().ok()).collect()
}

struct ElfParts {
    machine: Machine,
    dynamic: bool,
    needed: Vec<String>,
    versions: BTreeMap<String, Vec<String>>,
    section: Option<std::ops::Range<usize>>,
    unstripped: bool,
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> object::read::Result<ElfParts> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let machine = Machine {
        e_machine: header.e_machine(endian),
        is_64: header.is_type_64(),
        big_endian: endian == Endianness::Big,
    };
    let dynamic = header
        .program_headers(endian, data)?
        .iter()
        .any(|ph| ph.p_type(endian) == PT_INTERP);
    let sections = header.sections(endian, data)?;

    let mut needed = Vec::new();
    if let Some((entries, strings_index)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, strings_index)?;
        for entry in entries {
            if entry.d_tag(endian).into() == u64::from(DT_NEEDED) {
                let name = entry.string(endian, strings)?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }

    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some((mut needs, strings_index)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, strings_index)?;
        while let Some((need, mut aux)) = needs.next()? {
            let file = String::from_utf8_lossy(need.file(endian, strings)?).into_owned();
            let list = versions.entry(file).or_default();
            while let Some(a) = aux.next()? {
                list.push(String::from_utf8_lossy(a.name(endian, strings)?).into_owned());
            }
        }
    }

    let unstripped = sections.iter().any(|s| {
        s.sh_type(endian) == object::elf::SHT_SYMTAB
            || sections
                .section_name(endian, s)
                .is_ok_and(|n| n.starts_with(b".debug_"))
    });

    let section = match sections.section_by_name(endian, SECTION.as_bytes()) {
        Some((_, section)) => {
            let bytes = section.data(endian, data)?;
            // `data` borrows from `data`; turn it back into a range so the
            // caller can keep the owned buffer.
            let start = bytes.as_ptr() as usize - data.as_ptr() as usize;
            Some(start..start + bytes.len())
        }
        None => None,
    };

    Ok(ElfParts {
        machine,
        dynamic,
        needed,
        versions,
        section,
        unstripped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary() {
        // The test executable itself is a dynamically linked ELF for the host.
        let exe = std::env::current_exe().unwrap();
        let bin = Binary::read(&exe).unwrap();
        assert!(bin.tasks.is_empty());
        // Test binaries keep their symbols.
        assert!(bin.unstripped);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(bin.dynamic);
            assert!(
                bin.needed.iter().any(|n| n == "libc.so.6"),
                "{:?}",
                bin.needed
            );
            assert!(bin.max_version(&["libc.so.6"], "GLIBC_").is_some());
        }
        assert_eq!(bin.machine.is_64, cfg!(target_pointer_width = "64"));
    }

    #[test]
    fn refuses_non_elf() {
        let err = Binary::parse(Path::new("x.txt"), b"hello".to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`x.txt` is not an ELF executable; bgapp packages Linux binaries"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("2.34").unwrap() > parse_version("2.9").unwrap());
        assert_eq!(parse_version("2.2.5"), Some(vec![2, 2, 5]));
        assert_eq!(parse_version("PRIVATE"), None);
    }
}
