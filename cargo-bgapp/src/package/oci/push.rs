//! `--push REGISTRY/REPO[:TAG]`: uploads the written oci-archive with
//! `skopeo copy --all --preserve-digests`, so the registry holds exactly
//! the bytes (and digest) bgapp wrote, a multi-arch index whole.
//!
//! skopeo is containers/image, the registry client podman and buildah use:
//! it reads the credentials a user already has (`REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`),
//! handles token auth, cross-repository mounts and retries. Rust's OCI
//! clients would add ~100 crates (an HTTP and TLS stack) to cargo-bgapp for
//! one option. Plain HTTP (and unverified TLS) is allowed only for a
//! registry on loopback, or with `--insecure-registry`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};

/// Where `--push` sends the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `127.0.0.1:5000/hello`: the registry and repository.
    pub repository: String,
    pub tag: Option<String>,
    /// Plain HTTP and unverified TLS allowed.
    pub insecure: bool,
}

impl Destination {
    /// Parses `REGISTRY/REPO[:TAG]`; the registry is the first component
    /// when it has a `.` or `:`, or is `localhost`, else Docker Hub.
    pub fn parse(text: &str, insecure_registry: bool) -> anyhow::Result<Destination> {
        let help = "help: write `--push REGISTRY/REPOSITORY[:TAG]`, like `--push ghcr.io/me/hello:0.1.0` or `--push 127.0.0.1:5000/hello`";
        let text = text.strip_prefix("docker://").unwrap_or(text);
        if text.contains('@') {
            bail!("`--push {text}` names a digest; a pushed image gets its digest from its content\n\n{help}");
        }
        let (repository, tag) = match text.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (text, None),
        };
        let (host, path) = match repository.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => (h, p),
            _ => ("docker.io", repository),
        };
        let path_ok = !path.is_empty()
            && path.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if !path_ok {
            bail!("`--push {text}`: `{path}` is not a repository name (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)\n\n{help}");
        }
        if let Some(t) = &tag {
            let ok = t.len() <= 128
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                bail!("`--push {text}`: `{t}` is not a tag (letters, digits, `.`, `_`, `-`, at most 128)\n\n{help}");
            }
        }
        Ok(Destination {
            repository: format!("{host}/{path}"),
            tag,
            insecure: insecure_registry || is_loopback(host),
        })
    }

    /// `REGISTRY/REPO:TAG`, the tag defaulting to `version`.
    pub fn shown(&self, version: &str) -> String {
        let version = super::image_tag(version);
        format!(
            "{}:{}",
            self.repository,
            self.tag.as_deref().unwrap_or(&version)
        )
    }
}

/// `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Pushes the oci-archive `file`; returns the digest the registry has.
pub fn push(file: &Path, dest: &Destination, version: &str) -> anyhow::Result<String> {
    let target = dest.shown(version);
    let digest_file = file.with_extension("digest.tmp");
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "--preserve-digests", "--quiet"])
        .arg(format!("--dest-tls-verify={}", !dest.insecure))
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci-archive:{}", file.display()))
        .arg(format!("docker://{target}"));
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`--push` uploads with `skopeo`, which is not installed\n\n\
             help: install it (`apt-get install skopeo`), or push `{}` with a tool of your own",
            file.display()
        ),
        Err(e) => return Err(e).context("failed to run `skopeo`"),
    };
    let digest = std::fs::read_to_string(&digest_file).unwrap_or_default();
    let _ = std::fs::remove_file(&digest_file);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut help =
            String::from("help: log in with `skopeo login` (or `podman login`, `docker login`)");
        if !dest.insecure {
            help.push_str(", or add `--insecure-registry` for a registry that speaks plain HTTP");
        }
        bail!("failed to push to `{target}`: {}\n\n{help}", stderr.trim());
    }
    Ok(digest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destination::parse("127.0.0.1:5000/hello", false).unwrap();
        assert_eq!(d.repository, "127.0.0.1:5000/hello");
        assert_eq!(d.tag, None);
        assert!(d.insecure, "loopback may speak plain HTTP");
        assert_eq!(d.shown("0.1.0+b1"), "127.0.0.1:5000/hello:0.1.0_b1");
        let d = Destination::parse("ghcr.io/me/hello:v1", false).unwrap();
        assert_eq!(
            (d.repository.as_str(), d.tag.as_deref(), d.insecure),
            ("ghcr.io/me/hello", Some("v1"), false)
        );
        let d = Destination::parse("registry.lan:5000/hello", true).unwrap();
        assert!(d.insecure);
        assert!(
            !Destination::parse("registry.lan:5000/hello", false)
                .unwrap()
                .insecure
        );
        assert!(Destination::parse("[::1]:5000/x", false).unwrap().insecure);
        assert!(Destination::parse("localhost/x", false).unwrap().insecure);
        assert_eq!(
            Destination::parse("me/hello", false).unwrap().repository,
            "docker.io/me/hello"
        );
        for bad in ["ghcr.io/Me/x", "ghcr.io/", "x@sha256:00", "ghcr.io/x:-bad"] {
            let err = Destination::parse(bad, false).unwrap_err().to_string();
            assert!(err.starts_with(&format!("`--push {bad}`")), "{err}");
            assert!(
                err.contains("help: write `--push REGISTRY/REPOSITORY[:TAG]`"),
                "{err}"
            );
        }
    }
}
