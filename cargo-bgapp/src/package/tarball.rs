//! The `.tar.gz`: the bundle's files under one top folder, with
//! `install.sh`, `uninstall.sh` and a `SHA256SUMS` of every file.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::archive::{gzip, write_tar, BundleFile};
use super::Plan;

pub fn build(plan: &Plan) -> anyhow::Result<Vec<u8>> {
    let extra = [
        BundleFile::new("install.sh", 0o755, plan.scripts.install_sh.clone()),
        BundleFile::new("uninstall.sh", 0o755, plan.scripts.uninstall_sh.clone()),
    ];
    let mut files: Vec<&BundleFile> = plan.files.iter().chain(extra.iter()).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut sums = String::new();
    for f in &files {
        let _ = writeln!(sums, "{:x}  {}", Sha256::digest(&f.data), f.path);
    }
    let sums = BundleFile::new("SHA256SUMS", 0o644, sums);
    files.push(&sums);
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let top = format!("{}/", plan.tar_top());
    let payload: usize = files.iter().map(|f| f.data.len()).sum();
    // As for the .deb: a big payload is compressed fast rather than small.
    let level = if payload <= super::deb::LARGE_PAYLOAD {
        6
    } else {
        3
    };
    let gz = write_tar(gzip(Vec::new(), level), &top, &files, plan.mtime)?;
    Ok(gz.finish()?)
}
