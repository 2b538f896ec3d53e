//! Tasks that a library crate defines, read from its `.rlib` (an `ar`
//! archive of object files) as they are from a binary: the records in the
//! `bgapp_manifest` sections of its object files.
//!
//! A library's tasks reach a binary only when the binary names the crate
//! (`use jobs as _;` is enough): rustc does not link a crate the code never
//! names, and with it go its tasks, from `--list`, the manifest and the
//! units. Comparing what the libraries of a build define with what its
//! binaries hold finds such tasks, so that none is missed without a word.
//!
//! Layer: project. Only the archive's symbol index, and in the object
//! files that define a task's symbol (`__bgapp_task.<name>`) the ELF
//! headers, the section table and the `bgapp_manifest` sections, are read,
//! through a cache over the file, so that the large libraries of a build
//! (tokio's) cost little.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bgapp_manifest::{decode_records, TaskManifest, SECTION, TASK_SYMBOL_PREFIX};
use object::elf::{FileHeader32, FileHeader64};
use object::read::archive::{ArchiveFile, ArchiveMember, ArchiveOffset};
use object::read::elf::{FileHeader, SectionHeader as _};
use object::{Endianness, FileKind, ReadCache, ReadRef};

/// A library target of the build and the `.rlib` it was built to.
#[derive(Debug, Clone)]
pub struct Library {
    /// The crate's name, as code names it (`my_lib`).
    pub crate_name: String,
    pub path: PathBuf,
}

/// The task records in the object files of the `.rlib` at `path`.
pub fn read_rlib(path: &Path) -> anyhow::Result<Vec<TaskManifest>> {
    let file = File::open(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let cache = ReadCache::new(file);
    let malformed = || format!("`{}` is not a readable `.rlib`", path.display());
    let archive = ArchiveFile::parse(&cache).with_context(malformed)?;
    let mut tasks = Vec::new();
    for member in task_members(&archive).with_context(malformed)? {
        if !member.name().ends_with(b".o") {
            continue;
        }
        let (offset, size) = member.file_range();
        let data = cache.range(offset, size);
        let found = match FileKind::parse(data) {
            Ok(FileKind::Elf32) => records::<FileHeader32<Endianness>, _>(data),
            Ok(FileKind::Elf64) => records::<FileHeader64<Endianness>, _>(data),
            // LLVM bitcode (`-C linker-plugin-lto`) and other formats hold
            // no section to read.
            _ => continue,
        };
        tasks.extend(found.with_context(|| {
            format!(
                "`{}` holds a task record that cannot be read (member `{}`)",
                path.display(),
                String::from_utf8_lossy(member.name())
            )
        })?);
    }
    Ok(tasks)
}

/// The members that define a task's record symbol, found in the archive's
/// symbol index (most libraries have none); every member if the archive
/// has no index.
fn task_members<'data, R: ReadRef<'data>>(
    archive: &ArchiveFile<'data, R>,
) -> object::read::Result<Vec<ArchiveMember<'data>>> {
    let Some(symbols) = archive.symbols()? else {
        return archive.members().collect();
    };
    let mut offsets = Vec::new();
    for symbol in symbols {
        let symbol = symbol?;
        if symbol.name().starts_with(TASK_SYMBOL_PREFIX.as_bytes())
            && !offsets.contains(&symbol.offset().0)
        {
            offsets.push(symbol.offset().0);
        }
    }
    offsets
        .into_iter()
        .map(|o| archive.member(ArchiveOffset(o)))
        .collect()
}

/// The records of every `bgapp_manifest` section of one object file: a
/// relocatable file has one per codegen unit that defines tasks, and may
/// have several.
fn records<'data, Elf, R>(data: R) -> anyhow::Result<Vec<TaskManifest>>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut tasks = Vec::new();
    for section in sections.iter() {
        if sections.section_name(endian, section)? == SECTION.as_bytes() {
            tasks.extend(decode_records(section.data(endian, data)?)?);
        }
    }
    Ok(tasks)
}
