//! The files of a bundle, and a reproducible tar writer for them: entries
//! sorted by path, parent directories made explicit, owner root:root (0/0),
//! fixed modes and one mtime.

use std::collections::BTreeSet;
use std::io::{self, Write};

/// One file in a bundle.
#[derive(Debug)]
pub struct BundleFile {
    /// Relative to the root of the installed system: `usr/bin/hello`.
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
    /// A configuration file dpkg keeps on upgrade if it was changed.
    pub conffile: bool,
}

impl BundleFile {
    /// A file that is not a conffile.
    pub fn new(path: impl Into<String>, mode: u32, data: impl Into<Vec<u8>>) -> BundleFile {
        BundleFile {
            path: path.into(),
            mode,
            data: data.into(),
            conffile: false,
        }
    }
}

/// Writes `files` (sorted, with their parent directories) under `prefix`
/// (`"./"` for a `.deb`, `"hello-0.1.0-x86_64-unknown-linux-gnu/"` for a
/// tarball). `files` must be sorted by path.
pub fn write_tar<W: Write>(
    out: W,
    prefix: &str,
    files: &[&BundleFile],
    mtime: u64,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    if !prefix.is_empty() {
        let h = header(tar::EntryType::Directory, 0o755, 0, mtime);
        append(&mut tar, h, prefix, &[])?;
    }
    for (path, file) in entries(files) {
        let full = format!("{prefix}{path}");
        let h = match file {
            None => header(tar::EntryType::Directory, 0o755, 0, mtime),
            Some(f) => header(tar::EntryType::Regular, f.mode, f.data.len() as u64, mtime),
        };
        append(&mut tar, h, &full, file.map_or(&[][..], |f| &f.data))?;
    }
    tar.into_inner()
}

/// The directories (`usr/`, `usr/bin/`) and files, in path order so that
/// each directory precedes its contents.
fn entries<'a>(files: &[&'a BundleFile]) -> Vec<(String, Option<&'a BundleFile>)> {
    let mut dirs = BTreeSet::new();
    for f in files {
        let mut path = f.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            dirs.insert(parent.to_string());
            path = parent;
        }
    }
    let mut entries: Vec<(String, Option<&BundleFile>)> =
        dirs.into_iter().map(|d| (format!("{d}/"), None)).collect();
    entries.extend(files.iter().map(|f| (f.path.clone(), Some(*f))));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// A header owned by root:root (0/0) with a fixed mtime.
fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    // Both fields are ASCII and short, so these cannot fail.
    h.set_username("root").expect("fits");
    h.set_groupname("root").expect("fits");
    h
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    mut h: tar::Header,
    path: &str,
    data: &[u8],
) -> io::Result<()> {
    let name = &mut h.as_old_mut().name;
    if path.len() <= name.len() {
        // Written as is: the tar crate would drop a leading `./`, which
        // dpkg-deb keeps.
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        tar.append(&h, data)
    } else {
        // A GNU long name; the `./` may go, which dpkg accepts.
        tar.append_data(&mut h, path, data)
    }
}

/// A gzip stream with no name and no timestamp, so equal input gives equal
/// bytes.
pub fn gzip<W: Write>(out: W, level: u32) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::new(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parents_first_with_fixed_metadata() {
        let a = BundleFile::new("usr/bin/hello", 0o755, b"x".to_vec());
        let b = BundleFile::new("usr/share/doc/hello/copyright", 0o644, b"y".to_vec());
        let bytes = write_tar(Vec::new(), "./", &[&a, &b], 42).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let listed: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = listed.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "./",
                "./usr/",
                "./usr/bin/",
                "./usr/bin/hello",
                "./usr/share/",
                "./usr/share/doc/",
                "./usr/share/doc/hello/",
                "./usr/share/doc/hello/copyright"
            ]
        );
        assert!(listed.iter().all(|l| l.2 == 0 && l.3 == 42));
        assert_eq!(listed[3].1, 0o755);
    }
}
