//! The `.deb`: an `ar` archive of `debian-binary`, `control.tar.gz` (control
//! fields, md5sums, conffiles, maintainer scripts) and `data.tar.xz` (the
//! files), all with fixed owners, modes and times.
//!
//! A payload over [`LARGE_PAYLOAD`] goes into `data.tar.gz` at a fast gzip
//! level instead: xz would take tens of seconds on it, and even its fastest
//! preset takes about three times as long for a fifth less size. dpkg
//! reads both.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context as _;
use md5::{Digest, Md5};

use super::ar::ArWriter;
use super::archive::{gzip, write_tar, BundleFile};
use super::Plan;

/// Payloads up to this size get xz's default preset; larger ones fast
/// gzip, so that a big binary still packages in a couple of seconds.
pub const LARGE_PAYLOAD: usize = 24 << 20;

pub fn build(plan: &Plan) -> anyhow::Result<Vec<u8>> {
    build_with(plan, data_tar(plan)?)
}

/// The `.deb` with its files in `data.tar.gz` at gzip's default level,
/// whatever their size: for `deploy`, which sends it over the network at
/// once. On the hello app, about a fifth of xz's CPU time for a quarter
/// more bytes (see README, deploy benchmark).
pub fn build_fast(plan: &Plan) -> anyhow::Result<Vec<u8>> {
    let files: Vec<&BundleFile> = plan.files.iter().collect();
    let gz = write_tar(gzip(Vec::new(), 6), "./", &files, plan.mtime)
        .context("failed to write `data.tar.gz`")?;
    let gz = gz.finish().context("failed to compress `data.tar.gz`")?;
    build_with(plan, ("data.tar.gz", gz))
}

fn build_with(plan: &Plan, (data_name, data): (&str, Vec<u8>)) -> anyhow::Result<Vec<u8>> {
    let control = control_file(plan)?;
    let control_files = control_files(plan, control);
    let control_refs: Vec<&BundleFile> = control_files.iter().collect();
    let control_tar = {
        let gz = write_tar(gzip(Vec::new(), 9), "./", &control_refs, plan.mtime)?;
        gz.finish()?
    };

    let mut out = Vec::with_capacity(data.len() + control_tar.len() + 512);
    let mut ar = ArWriter::new(&mut out, plan.mtime)?;
    ar.append("debian-binary", b"2.0\n")?;
    ar.append("control.tar.gz", &control_tar)?;
    ar.append(data_name, &data)?;
    ar.finish().flush()?;
    Ok(out)
}

/// The files as `data.tar.xz`, or `data.tar.gz` when they are large.
fn data_tar(plan: &Plan) -> anyhow::Result<(&'static str, Vec<u8>)> {
    let files: Vec<&BundleFile> = plan.files.iter().collect();
    let payload: usize = plan.files.iter().map(|f| f.data.len()).sum();
    if payload > LARGE_PAYLOAD {
        let gz = write_tar(gzip(Vec::new(), 3), "./", &files, plan.mtime)
            .context("failed to write `data.tar.gz`")?;
        let gz = gz.finish().context("failed to compress `data.tar.gz`")?;
        Ok(("data.tar.gz", gz))
    } else {
        let xz = liblzma::write::XzEncoder::new_stream(Vec::new(), xz_stream(&plan.deb_arch)?);
        let xz =
            write_tar(xz, "./", &files, plan.mtime).context("failed to write `data.tar.xz`")?;
        let xz = xz.finish().context("failed to compress `data.tar.xz`")?;
        Ok(("data.tar.xz", xz))
    }
}

/// `control`, `md5sums` (of every file but the conffiles), the maintainer
/// scripts and `conffiles`, sorted by name.
fn control_files(plan: &Plan, control: String) -> Vec<BundleFile> {
    let mut md5sums = String::new();
    let mut conffiles = String::new();
    for f in &plan.files {
        if f.conffile {
            let _ = writeln!(conffiles, "/{}", f.path);
        } else {
            let _ = writeln!(md5sums, "{:x}  {}", Md5::digest(&f.data), f.path);
        }
    }
    let scripts = &plan.scripts;
    let mut files = vec![
        BundleFile::new("control", 0o644, control),
        BundleFile::new("md5sums", 0o644, md5sums),
        BundleFile::new("postinst", 0o755, scripts.postinst.clone()),
        BundleFile::new("postrm", 0o755, scripts.postrm.clone()),
        BundleFile::new("prerm", 0o755, scripts.prerm.clone()),
    ];
    if !conffiles.is_empty() {
        files.push(BundleFile::new("conffiles", 0o644, conffiles));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// xz at preset 6 with a binary-tree match finder of depth 2 and a shorter
/// nice length: as small as `xz -6` on Rust binaries, and a fifth faster.
/// On x86 the branch/call filter (BCJ) first makes call targets relative,
/// which compresses better; every liblzma since 5.0 decodes it. One block,
/// one thread, so the bytes never depend on the machine.
fn xz_stream(deb_arch: &str) -> anyhow::Result<liblzma::stream::Stream> {
    use liblzma::stream::{Check, Filters, LzmaOptions, MatchFinder, Stream};
    let mut lzma = LzmaOptions::new_preset(6).context("failed to set up the xz encoder")?;
    lzma.match_finder(MatchFinder::BinaryTree2).nice_len(24);
    let mut filters = Filters::new();
    if matches!(deb_arch, "amd64" | "i386" | "x32") {
        filters.x86();
    }
    filters.lzma2(&lzma);
    Stream::new_stream_encoder(&filters, Check::Crc64).context("failed to set up the xz encoder")
}

/// The `control` file.
pub fn control_file(plan: &Plan) -> anyhow::Result<String> {
    let maintainer = plan.maintainer.as_ref().map_err(|e| e.clone())?;
    let mut dirs = BTreeSet::new();
    for f in &plan.files {
        let mut p = f.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            dirs.insert(parent);
            p = parent;
        }
    }
    // As dpkg-gencontrol counts: each file rounded up to 1 KiB, 1 per directory.
    let installed_kib: u64 = plan
        .files
        .iter()
        .map(|f| (f.data.len() as u64).div_ceil(1024))
        .sum::<u64>()
        + dirs.len() as u64;

    let mut s = String::new();
    let _ = writeln!(s, "Package: {}", plan.deb_name);
    let _ = writeln!(s, "Version: {}", plan.deb_version);
    let _ = writeln!(s, "Architecture: {}", plan.deb_arch);
    let _ = writeln!(s, "Maintainer: {maintainer}");
    let _ = writeln!(s, "Installed-Size: {installed_kib}");
    if !plan.depends.is_empty() {
        let _ = writeln!(s, "Depends: {}", plan.depends.join(", "));
    }
    let _ = writeln!(s, "Section: {}", plan.section);
    let _ = writeln!(s, "Priority: {}", plan.priority);
    if let Some(h) = &plan.homepage {
        let _ = writeln!(s, "Homepage: {h}");
    }
    s.push_str(&super::debian::description_field(
        &plan.summary,
        &plan.long_description,
    ));
    Ok(s)
}
