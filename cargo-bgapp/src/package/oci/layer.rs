//! One image layer: a reproducible tar (entries sorted by path, parents
//! first, fixed owners, modes and mtime, no user or group names) and its
//! gzip (no name, no time), with the two digests OCI wants: the
//! uncompressed tar's (`diff_id`, in the config) and the blob's (in the
//! manifest).

use std::collections::BTreeMap;
use std::io::{self, Write as _};

use sha2::{Digest, Sha256};

use super::Blob;
use crate::package::archive::gzip;

/// What one path of the layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One entry of a layer: a path relative to `/` (`usr/bin/hello`), what it
/// is, its mode and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Entry {
    pub fn file(path: impl Into<String>, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File(data.into()),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    pub fn dir(path: impl Into<String>, mode: u32, uid: u64, gid: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::Dir,
            mode,
            uid,
            gid,
        }
    }

    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }
}

/// A built layer: the compressed blob and the uncompressed tar's digest.
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

/// The layer's entries in tar order: every parent directory made explicit
/// (root-owned, 0755, unless given), sorted by path so a directory comes
/// before what it holds. Two entries at one path are an error.
pub fn entries(given: Vec<Entry>) -> io::Result<Vec<Entry>> {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    for e in given {
        let path = e.path.trim_matches('/').to_string();
        if by_path.contains_key(&path) {
            return Err(io::Error::other(format!(
                "two files at `/{path}` in one image layer"
            )));
        }
        by_path.insert(path.clone(), Entry { path, ..e });
    }
    let parents: Vec<String> = by_path
        .keys()
        .flat_map(|p| {
            let mut out = Vec::new();
            let mut rest = p.as_str();
            while let Some((parent, _)) = rest.rsplit_once('/') {
                out.push(parent.to_string());
                rest = parent;
            }
            out
        })
        .collect();
    for parent in parents {
        by_path
            .entry(parent.clone())
            .or_insert_with(|| Entry::dir(parent, 0o755, 0, 0));
    }
    // Sorted as paths, component by component, so `usr/lib` comes before
    // `usr/lib-x` and after `usr`'s other children in byte order.
    let mut out: Vec<Entry> = by_path.into_values().collect();
    out.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    Ok(out)
}

/// Writes the entries as a tar, then gzips it.
pub fn build(given: Vec<Entry>, mtime: u64, level: u32) -> io::Result<Layer> {
    build_cached(given, mtime, level, None)
}

/// [`build`], reusing the gzip of an equal tar from `cache` (a directory
/// of blobs named by the tar's digest, the level and cargo-bgapp's
/// version, so the bytes are those this version would write): the system
/// layer is the same from one build of an app to the next, and its
/// compression is most of the work. A cached blob is used only if it
/// decompresses to the same tar.
pub fn build_cached(
    given: Vec<Entry>,
    mtime: u64,
    level: u32,
    cache: Option<&std::path::Path>,
) -> io::Result<Layer> {
    let entries = entries(given)?;
    let mut tar = tar::Builder::new(Vec::new());
    for e in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(mtime);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mode(e.mode);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, format!("{}/", e.path), &[][..])?;
            }
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, &e.path, data.as_slice())?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &e.path, target)?;
            }
        }
    }
    let bytes = tar.into_inner()?;
    let hex = format!("{:x}", Sha256::digest(&bytes));
    let diff_id = format!("sha256:{hex}");
    let cached = cache.map(|dir| {
        dir.join(format!(
            "{hex}-{level}-{}.tar.gz",
            env!("CARGO_PKG_VERSION")
        ))
    });
    if let Some(data) = cached.as_deref().and_then(|p| std::fs::read(p).ok()) {
        let mut tar = Vec::with_capacity(bytes.len());
        let same = std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(data.as_slice()),
            &mut tar,
        )
        .is_ok()
            && tar == bytes;
        if same {
            return Ok(Layer {
                blob: Blob::new(super::media::LAYER, data),
                diff_id,
            });
        }
    }
    let mut gz = gzip(Vec::with_capacity(bytes.len() / 2), level);
    gz.write_all(&bytes)?;
    let data = gz.finish()?;
    if let Some(path) = &cached {
        // A cache: failing to fill it costs only time next build.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(path))
            .and_then(|()| std::fs::write(&tmp, &data))
            .and_then(|()| std::fs::rename(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(Layer {
        blob: Blob::new(super::media::LAYER, data),
        diff_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(layer: &Layer) -> Vec<(String, u64, u32, u64)> {
        let gz = flate2::read::GzDecoder::new(layer.blob.data.as_slice());
        let mut archive = tar::Archive::new(gz);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.uid().unwrap(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn parents_first_owners_and_times_fixed() {
        let layer = build(
            vec![
                Entry::file("usr/bin/hello", 0o755, b"x".to_vec()),
                Entry::dir("var/lib/hello", 0o700, 65532, 65532),
                Entry::symlink("lib", "usr/lib"),
                Entry::file("usr/lib-x/a", 0o644, b"y".to_vec()),
                Entry::file("usr/lib/b", 0o644, b"z".to_vec()),
            ],
            7,
            6,
        )
        .unwrap();
        let listed = listing(&layer);
        let names: Vec<&str> = listed.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "lib",
                "usr/",
                "usr/bin/",
                "usr/bin/hello",
                "usr/lib/",
                "usr/lib/b",
                "usr/lib-x/",
                "usr/lib-x/a",
                "var/",
                "var/lib/",
                "var/lib/hello/"
            ]
        );
        assert!(listed.iter().all(|l| l.3 == 7));
        let state = listed.iter().find(|l| l.0 == "var/lib/hello/").unwrap();
        assert_eq!((state.1, state.2), (65532, 0o700));
        // The gzip header carries no time and no name (RFC 1952: MTIME 0, no FNAME).
        assert_eq!(&layer.blob.data[3..8], &[0, 0, 0, 0, 0]);
    }

    #[test]
    fn same_input_same_digests() {
        let make = || build(vec![Entry::file("a/b", 0o644, b"data".to_vec())], 1, 9).unwrap();
        let (a, b) = (make(), make());
        assert_eq!(a.diff_id, b.diff_id);
        assert_eq!(a.blob.digest, b.blob.digest);
    }

    /// A cached blob is reused only when it unpacks to the same tar: a
    /// corrupt or stale one is replaced by a fresh compression.
    #[test]
    fn the_cache_gives_the_same_blob_and_survives_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let make = || {
            build_cached(
                vec![Entry::file("a/b", 0o644, vec![7u8; 10_000])],
                1,
                6,
                Some(dir.path()),
            )
            .unwrap()
        };
        let fresh = make();
        let cached = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(std::fs::read(&cached).unwrap(), fresh.blob.data);
        assert_eq!(make().blob.digest, fresh.blob.digest);
        std::fs::write(&cached, b"not gzip").unwrap();
        assert_eq!(make().blob.digest, fresh.blob.digest);
        assert_eq!(std::fs::read(&cached).unwrap(), fresh.blob.data);
    }

    #[test]
    fn refuses_two_entries_at_one_path() {
        let err = entries(vec![
            Entry::file("etc/passwd", 0o644, b"a".to_vec()),
            Entry::file("/etc/passwd", 0o644, b"b".to_vec()),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "two files at `/etc/passwd` in one image layer"
        );
    }
}
