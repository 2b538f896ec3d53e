//! OCI images, built by bgapp itself from the built binary: no Docker, no
//! buildah, no base image.
//!
//! One image per binary, two layers: the system (the shared libraries and
//! loader the binary needs for its architecture, `/etc/passwd` and
//! `/etc/group` with the app's numeric non-root user, `/tmp`, and
//! `/var/lib/<package>` owned by the user), then the app (the stripped
//! binary and the task manifest), so a rebuild of the app changes only the
//! second. Everything is reproducible: fixed mtimes (the bundles'
//! `SOURCE_DATE_EPOCH`), owners and order, gzip without name or time, JSON
//! with sorted keys; the same binary gives the same digest.
//!
//! [`archive`] writes an oci-archive (what `podman load`, `skopeo` and k3s's
//! image directory read), [`write_layout`] an OCI image layout directory.

pub mod layer;
pub mod libs;
pub mod push;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use bgapp_manifest::TaskManifest;
use layer::Entry;

/// The numeric user and group the app runs as in the image (the one
/// distroless and ko use for `nonroot`), so that Kubernetes'
/// `runAsNonRoot` can check it without reading `/etc/passwd`.
pub const APP_UID: u32 = 65532;

/// The value of `BGAPP_ENGINE` in every image: the runtime then knows it
/// runs under a container engine, not systemd.
pub const ENGINE: &str = bgapp_manifest::env::ENGINE_OCI;

/// The annotation `podman load` names an image by.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd's import (`ctr images import`, k3s's images
/// directory) names an image by, ahead of [`REF_NAME`].
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The label holding the binary's task manifest (JSON).
pub const MANIFEST_LABEL: &str = "dev.bgapp.manifest";

/// OCI media types.
pub mod media {
    pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
}

/// Content-addressed bytes.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: &'static str,
    /// `sha256:<hex>`.
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &'static str, data: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: format!("sha256:{:x}", Sha256::digest(&data)),
            data,
        }
    }

    fn json(media_type: &'static str, value: &Value) -> Blob {
        // serde_json's maps are sorted by key: equal values, equal bytes.
        Blob::new(
            media_type,
            serde_json::to_vec(value).expect("JSON values serialize"),
        )
    }

    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.data.len() })
    }
}

/// An OCI platform: `architecture` and `variant` for a Debian architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Debian's name, for file names.
    pub deb: &'static str,
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
}

impl Platform {
    /// The OCI names (Go's `GOARCH`) of a Debian architecture.
    pub fn for_deb(deb: &str) -> anyhow::Result<Platform> {
        let (architecture, variant, deb) = match deb {
            "amd64" => ("amd64", None, "amd64"),
            "arm64" => ("arm64", Some("v8"), "arm64"),
            "armhf" => ("arm", Some("v7"), "armhf"),
            "armel" => ("arm", Some("v5"), "armel"),
            "i386" => ("386", None, "i386"),
            "ppc64el" => ("ppc64le", None, "ppc64el"),
            "ppc64" => ("ppc64", None, "ppc64"),
            "s390x" => ("s390x", None, "s390x"),
            "riscv64" => ("riscv64", None, "riscv64"),
            "loong64" => ("loong64", None, "loong64"),
            "mips64el" => ("mips64le", None, "mips64el"),
            "mipsel" => ("mipsle", None, "mipsel"),
            other => bail!("no OCI platform is known for the Debian architecture `{other}`"),
        };
        Ok(Platform {
            deb,
            architecture,
            variant,
        })
    }

    fn json(&self) -> Value {
        let mut p = json!({ "architecture": self.architecture, "os": "linux" });
        if let Some(v) = self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

/// What one image is made of.
pub struct ImageSpec<'a> {
    /// The package: `/var/lib/<package>`, the labels.
    pub package: &'a str,
    pub version: &'a str,
    /// The binary's name: `/usr/bin/<bin>`.
    pub bin: &'a str,
    /// The stripped binary.
    pub data: &'a [u8],
    pub tasks: &'a [TaskManifest],
    /// The default task's `args` (`[package.metadata.bgapp]`): `Cmd` is
    /// the task's name and then these, as its unit's `ExecStart=`.
    pub args: Vec<String>,
    /// The user's name in `/etc/passwd`.
    pub user: &'a str,
    pub platform: Platform,
    /// The loader and shared libraries, from [`libs::resolve`].
    pub libraries: Vec<Entry>,
    /// `org.opencontainers.image.*` labels other than those set here.
    pub labels: BTreeMap<String, String>,
    /// The name `podman load` gives it: `<package>:<tag>` ([`image_tag`]).
    pub ref_name: String,
    /// The name containerd's import (k3s) gives it: the image the
    /// Kubernetes workloads run, as containerd normalizes it
    /// ([`workload_image`], [`containerd_name`]).
    pub containerd_name: String,
    pub mtime: u64,
    /// Files added to the app layer (the task manifest document, the copyright).
    pub extra: Vec<Entry>,
    /// Where compressed system layers are kept between builds.
    pub cache: Option<std::path::PathBuf>,
}

/// A built image.
pub struct Image {
    pub platform: Platform,
    pub layers: Vec<Blob>,
    pub config: Blob,
    pub manifest: Blob,
    pub ref_name: String,
    pub containerd_name: String,
    pub annotations: BTreeMap<String, String>,
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: u64) -> String {
    let c = bgapp_manifest::CivilTime::from_unix_utc(i64::try_from(t).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The task the image runs when given no arguments: the one on `main`,
/// else the only one, else the first boot task, else the first.
pub fn default_task(tasks: &[TaskManifest]) -> Option<&TaskManifest> {
    tasks
        .iter()
        .find(|t| t.function == "main")
        .or(if tasks.len() == 1 {
            tasks.first()
        } else {
            None
        })
        .or_else(|| {
            tasks
                .iter()
                .find(|t| matches!(t.trigger, bgapp_manifest::Trigger::Boot))
        })
        .or(tasks.first())
}

impl ImageSpec<'_> {
    /// Builds the layers, the config and the manifest.
    pub fn build(self) -> anyhow::Result<Image> {
        let uid = u64::from(APP_UID);
        let state = format!("var/lib/{}", self.package);
        let created = rfc3339(self.mtime);
        let passwd = format!(
            "root:x:0:0:root:/root:/usr/sbin/nologin\n{user}:x:{APP_UID}:{APP_UID}:{package}:/{state}:/usr/sbin/nologin\n",
            user = self.user,
            package = self.package,
        );
        let group = format!("root:x:0:\n{}:x:{APP_UID}:\n", self.user);

        let mut system = vec![
            Entry::file("etc/passwd", 0o644, passwd),
            Entry::file("etc/group", 0o644, group),
            Entry::dir("tmp", 0o1777, 0, 0),
            Entry::dir(&state, 0o700, uid, uid),
        ];
        let links = libs::merged_usr_links(&self.libraries);
        system.extend(self.libraries);
        system.extend(links);
        let mut app = vec![Entry::file(
            format!("usr/bin/{}", self.bin),
            0o755,
            self.data,
        )];
        app.extend(self.extra);

        // The app layer (re-pushed at every change) gzip -6, as the tarball
        // (-9 took 3x the time of the whole build for 3% less); the system
        // layer (shared libraries, which compress badly; cached and pushed
        // once) -3: half -6's time for 5% more. Large layers fast, as the .deb.
        let level = |entries: &[Entry]| {
            let size: usize = entries
                .iter()
                .map(|e| match &e.kind {
                    layer::Kind::File(d) => d.len(),
                    _ => 0,
                })
                .sum();
            if size <= crate::package::deb::LARGE_PAYLOAD {
                6
            } else {
                3
            }
        };
        let (system_level, app_level) = (level(&system).min(3), level(&app));
        let (system, app) = std::thread::scope(|s| {
            let cache = self.cache.as_deref();
            let sys = s.spawn(move || layer::build_cached(system, self.mtime, system_level, cache));
            let app = layer::build(app, self.mtime, app_level);
            (sys.join().expect("layer thread"), app)
        });
        let (system, app) = (system?, app?);

        let task = default_task(self.tasks).context("the binary has no task")?;
        let tasks_json = serde_json::to_string(self.tasks)?;
        let mut labels = self.labels.clone();
        labels.insert("org.opencontainers.image.created".into(), created.clone());
        labels.insert(
            "org.opencontainers.image.version".into(),
            self.version.into(),
        );
        labels
            .entry("org.opencontainers.image.title".into())
            .or_insert_with(|| self.package.to_string());
        let mut config_labels = labels.clone();
        config_labels.insert(MANIFEST_LABEL.into(), tasks_json);
        let user = format!("{APP_UID}:{APP_UID}");
        let by = format!("cargo-bgapp {}", env!("CARGO_PKG_VERSION"));
        let mut config = json!({
            "created": created,
            "author": by,
            "architecture": self.platform.architecture,
            "os": "linux",
            "config": {
                "User": user,
                "Env": [
                    "PATH=/usr/bin",
                    format!("{}=/{state}", bgapp_manifest::env::STATE_DIRECTORY),
                    format!("{}={ENGINE}", bgapp_manifest::env::ENGINE),
                ],
                "Entrypoint": [format!("/usr/bin/{}", self.bin)],
                "Cmd": std::iter::once(&task.name).chain(&self.args).collect::<Vec<_>>(),
                "WorkingDir": "/",
                "StopSignal": "SIGTERM",
                "Volumes": { "/tmp": {}, format!("/{state}"): {} },
                "Labels": config_labels,
            },
            "rootfs": { "type": "layers", "diff_ids": [system.diff_id, app.diff_id] },
            "history": [
                { "created": created, "created_by": format!("{by}: shared libraries, user {APP_UID}, /tmp, /{state}") },
                { "created": created, "created_by": format!("{by}: /usr/bin/{}", self.bin) },
            ],
        });
        if let Some(v) = self.platform.variant {
            config["variant"] = json!(v);
        }
        let config = Blob::json(media::CONFIG, &config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "config": config.descriptor(),
            "layers": [system.blob.descriptor(), app.blob.descriptor()],
            "annotations": labels,
        });
        Ok(Image {
            platform: self.platform,
            manifest: Blob::json(media::MANIFEST, &manifest),
            config,
            layers: vec![system.blob, app.blob],
            ref_name: self.ref_name,
            containerd_name: self.containerd_name,
            annotations: labels,
        })
    }
}

/// What an archive or layout holds: one image, or an index of several
/// platforms' images under one name.
#[derive(Debug)]
pub struct Output {
    /// Every blob, each once.
    pub blobs: BTreeMap<String, Blob>,
    /// The top descriptor (a manifest, or an image index).
    pub top: Blob,
    pub ref_name: String,
    pub containerd_name: String,
}

impl Output {
    /// One image, or an image index when there are several (one per
    /// platform: two images for one platform are an error).
    pub fn new(images: Vec<Image>) -> anyhow::Result<Output> {
        let Some(first) = images.first() else {
            bail!("no image to write");
        };
        let ref_name = first.ref_name.clone();
        let containerd_name = first.containerd_name.clone();
        let mut annotations = first.annotations.clone();
        let mut blobs = BTreeMap::new();
        for (i, image) in images.iter().enumerate() {
            if images[..i].iter().any(|o| o.platform == image.platform) {
                bail!(
                    "two images for the platform `{}`: give each `--target` once",
                    image.platform.architecture
                );
            }
            for b in image.layers.iter().chain([&image.config, &image.manifest]) {
                blobs.insert(b.digest.clone(), b.clone());
            }
        }
        let top = if images.len() == 1 {
            first.manifest.clone()
        } else {
            let manifests: Vec<Value> = images
                .iter()
                .map(|i| {
                    let mut d = i.manifest.descriptor();
                    d["platform"] = i.platform.json();
                    d
                })
                .collect();
            // Labels of one platform (its created time, version) hold for all.
            annotations.retain(|k, _| k.starts_with("org.opencontainers.image."));
            let index = json!({
                "schemaVersion": 2,
                "mediaType": media::INDEX,
                "manifests": manifests,
                "annotations": annotations,
            });
            let index = Blob::json(media::INDEX, &index);
            blobs.insert(index.digest.clone(), index.clone());
            index
        };
        Ok(Output {
            blobs,
            top,
            ref_name,
            containerd_name,
        })
    }

    /// The top descriptor as `index.json` lists it, named for `podman
    /// load` and containerd.
    fn named_descriptor(&self) -> Value {
        let mut d = self.top.descriptor();
        d["annotations"] = json!({
            REF_NAME: self.ref_name,
            CONTAINERD_NAME: self.containerd_name,
        });
        d
    }

    /// `index.json` of an archive or a new layout.
    pub fn index_json(&self, keep: Vec<Value>) -> Vec<u8> {
        let mut manifests = keep;
        manifests.push(self.named_descriptor());
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::INDEX,
            "manifests": manifests,
        });
        let mut bytes = serde_json::to_vec(&index).expect("JSON values serialize");
        bytes.push(b'\n');
        bytes
    }

    /// The digest of the top descriptor: what a registry will show.
    pub fn digest(&self) -> &str {
        &self.top.digest
    }
}

/// An image tag for a package version: SemVer's build metadata (`+`) is not
/// allowed in a tag, so `1.0.0+git.1` is tagged `1.0.0_git.1`.
pub fn image_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// The image a Kubernetes workload of binary `bin` runs, `REPO:TAG`: the
/// repository is `[package.metadata.bgapp.kubernetes] image` (with
/// `-<bin>` for a binary not named like the package) or the image's name.
pub fn workload_image(
    package: &str,
    bin: &str,
    binaries: usize,
    version: &str,
    repository: Option<&str>,
) -> String {
    let name = image_name(package, bin, binaries);
    let repo = match repository {
        Some(r) if name == package.to_lowercase() => r.to_string(),
        Some(r) => format!("{r}-{bin}"),
        None => name,
    };
    format!("{repo}:{}", image_tag(version))
}

/// `hello:0.1.0` as containerd (k3s) names it: `docker.io/library/hello:0.1.0`.
pub fn containerd_name(name: &str) -> String {
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    }
}

const LAYOUT: &[u8] = b"{\"imageLayoutVersion\":\"1.0.0\"}\n";

/// The oci-archive: a tar of an OCI image layout (`oci-layout`,
/// `index.json`, `blobs/sha256/<hex>`), sorted, with fixed times and owners.
pub fn archive(output: &Output, mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut entries = vec![
        Entry::file("oci-layout", 0o644, LAYOUT.to_vec()),
        Entry::file("index.json", 0o644, output.index_json(Vec::new())),
    ];
    for blob in output.blobs.values() {
        let hex = blob.digest.trim_start_matches("sha256:");
        entries.push(Entry::file(
            format!("blobs/sha256/{hex}"),
            0o644,
            blob.data.clone(),
        ));
    }
    let entries = layer::entries(entries)?;
    let mut tar = tar::Builder::new(Vec::new());
    for e in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(e.mode);
        match &e.kind {
            layer::Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, &e.path, data.as_slice())?;
            }
            _ => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, format!("{}/", e.path), &[][..])?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

/// Checks, writing nothing, that `--oci-layout DIR` is an OCI image
/// layout, an empty directory or a path that does not exist yet.
pub fn check_layout(dir: &Path) -> anyhow::Result<()> {
    let shown = dir.display();
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("`--oci-layout` `{shown}` is a file, not a directory\n\nhelp: name a directory, or a path that does not exist yet");
    }
    let has_layout = dir.join("oci-layout").is_file();
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read `{shown}`"))?
        .next()
        .is_none();
    if !has_layout && !empty {
        bail!("`--oci-layout` `{shown}` is a directory that is not an OCI image layout (no `oci-layout` file)\n\nhelp: name an empty directory, an existing layout, or a path that does not exist yet");
    }
    Ok(())
}

/// Writes (or adds to) an OCI image layout directory: the blobs, then
/// `index.json`, which keeps the entries of other names and replaces the
/// one of this name. Blobs already there are left as they are (their
/// name is their digest).
pub fn write_layout(dir: &Path, output: &Output) -> anyhow::Result<()> {
    check_layout(dir)?;
    let index_path = dir.join("index.json");
    let mut keep = Vec::new();
    if index_path.is_file() {
        let text = std::fs::read(&index_path)
            .with_context(|| format!("failed to read `{}`", index_path.display()))?;
        let index: Value = serde_json::from_slice(&text)
            .with_context(|| format!("`{}` is not JSON", index_path.display()))?;
        if let Some(list) = index["manifests"].as_array() {
            keep = list
                .iter()
                .filter(|d| d["annotations"][REF_NAME] != json!(output.ref_name))
                .cloned()
                .collect();
        }
    }
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("failed to create `{}`", blobs.display()))?;
    for blob in output.blobs.values() {
        let path = blobs.join(blob.digest.trim_start_matches("sha256:"));
        if !path.is_file() {
            write_new(&path, &blob.data)?;
        }
    }
    write_new(&dir.join("oci-layout"), LAYOUT)?;
    write_new(&index_path, &output.index_json(keep))
}

/// Writes a file through a temporary one renamed into place.
fn write_new(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data).with_context(|| format!("failed to write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to write `{}`", path.display()))
}

/// The images of a package's binaries for one target: one per binary, named
/// `<package>` (or `<package>-<bin>` for a binary not named like it).
pub fn images(
    project: &crate::project::Project,
    config: &crate::package::config::Config,
    user: &str,
    binaries: &[(String, crate::project::binary::Binary)],
    mtime: u64,
) -> anyhow::Result<Vec<(String, Image)>> {
    let package = project.package.name.as_str();
    let version = project.package.version.to_string();
    let target = &project.target;
    let arch = crate::project::arch::Arch::by_deb(target.deb_arch)
        .with_context(|| format!("no architecture is known for `{}`", target.triple))?;
    let platform = Platform::for_deb(target.deb_arch)?;
    let sysroot = libs::Sysroot::new(arch.gnu_type, libs::is_native(target.deb_arch));
    let p = &project.package;
    let mut labels = BTreeMap::new();
    let mut label = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{key}"), v.to_string());
        }
    };
    label("description", p.description.as_deref());
    label("source", p.repository.as_deref());
    label("url", p.homepage.as_deref());
    label("licenses", p.license.as_deref());
    label("authors", p.authors.first().map(String::as_str));
    let mut out = Vec::new();
    for (bin, binary) in binaries {
        let name = image_name(package, bin, binaries.len());
        let libraries = libs::resolve(binary, bin, &sysroot)?;
        let mut labels = labels.clone();
        labels.insert("org.opencontainers.image.title".into(), name.clone());
        let args = match default_task(&binary.tasks) {
            Some(t) => {
                let args = config.task(&t.name).args.unwrap_or_default();
                anyhow::ensure!(
                    args.is_empty() || t.args != bgapp_manifest::Arguments::None,
                    "{}",
                    crate::package::k8s::K8sError::ArgsForNoArgs(t.name.clone())
                );
                args
            }
            None => Vec::new(),
        };
        let image = ImageSpec {
            package,
            version: &version,
            bin,
            data: &binary.data,
            tasks: &binary.tasks,
            args,
            user,
            platform: platform.clone(),
            libraries,
            labels,
            ref_name: format!("{name}:{}", image_tag(&version)),
            containerd_name: containerd_name(&workload_image(
                package,
                bin,
                binaries.len(),
                &version,
                config.kubernetes.image.as_deref(),
            )),
            mtime,
            extra: Vec::new(),
            cache: Some(project.target_dir.join("bgapp").join("oci-cache")),
        }
        .build()?;
        out.push((name, image));
    }
    Ok(out)
}

/// What of `[package.metadata.bgapp]` the images do not carry, and how to
/// give it to the engine: only the default task's `args` are in `Cmd`; the
/// environment file, credentials, groups, read-only paths and the socket's
/// `listen` address are the device's, which a container does not see.
pub fn warnings(
    config: &crate::package::config::Config,
    binaries: &[(String, crate::project::binary::Binary)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (_, binary) in binaries {
        let default = default_task(&binary.tasks).map(|t| t.name.as_str());
        for task in &binary.tasks {
            out.extend(task_warnings(task, default, &config.task(&task.name)));
        }
    }
    out
}

/// A word for a command line in a message: as written when `sh` takes it
/// so, else quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        crate::package::quote::sh(word)
    }
}

fn task_warnings(
    task: &TaskManifest,
    default: Option<&str>,
    c: &crate::package::config::TaskConfig,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut warn = |what: String| out.push(format!("task `{}`: {what}", task.name));
    if let Some(args) = c
        .args
        .as_ref()
        .filter(|_| Some(task.name.as_str()) != default)
    {
        warn(format!(
            "its `args` are not in the image, whose `Cmd` runs the default task `{}`: give them after the task's name (`podman run IMAGE {} {}`)",
            default.unwrap_or_default(),
            task.name,
            args.iter()
                .map(|a| shell_word(a))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    if let Some(file) = &c.environment_file {
        warn(format!(
            "its `environment-file` (`{file}`) is not read in the container: give it to the engine (`podman run --env-file {}`)",
            file.trim_start_matches('-'),
        ));
    }
    if !c.credentials.is_empty() {
        warn(format!(
            "its `credentials` ({}) are not in the container: mount them in a directory and set `CREDENTIALS_DIRECTORY` to it (`-v DIR:/run/credentials:ro -e CREDENTIALS_DIRECTORY=/run/credentials`)",
            c.credentials.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
        ));
    }
    if !c.supplementary_groups.is_empty() {
        warn(format!(
            "its `supplementary-groups` ({}) are not in the container: the image has only the app's group; add a gid with `podman run --group-add GID`",
            c.supplementary_groups.join(", "),
        ));
    }
    if !c.read_only_paths.is_empty() {
        warn(format!(
            "its `read-only-paths` ({}) are not in the container, whose root is the image, read-only: mount what it reads (`-v PATH:PATH:ro`)",
            c.read_only_paths.join(", "),
        ));
    }
    if let (Some(listen), bgapp_manifest::Trigger::Socket { listen: attribute }) =
        (&c.listen, &task.trigger)
    {
        use bgapp_manifest::ListenAddress;
        let port = |l: &str| match ListenAddress::parse(l) {
            Ok(ListenAddress::Port(p)) => Some(p),
            Ok(ListenAddress::Inet(a)) => Some(a.port()),
            _ => None,
        };
        let publish = match (port(attribute), ListenAddress::parse(listen)) {
            (Some(inner), Ok(ListenAddress::Port(p))) => {
                format!(": publish it as `-p {p}:{inner}`")
            }
            (Some(inner), Ok(ListenAddress::Inet(a))) => {
                format!(": publish it as `-p {}:{inner}`", a)
            }
            _ => String::new(),
        };
        warn(format!(
            "its `listen` (`{listen}`) is not the container's address: the runtime binds the attribute's (`{attribute}`) in the container{publish}",
        ));
    }
    out
}

/// `<package>`, or `<package>-<bin>` for one of several binaries not named
/// like the package.
pub fn image_name(package: &str, bin: &str, binaries: usize) -> String {
    let name = if bin == package || binaries == 1 {
        package.to_string()
    } else {
        format!("{package}-{bin}")
    };
    // A repository name is lowercase (distribution-spec).
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, function: &str, trigger: bgapp_manifest::Trigger) -> TaskManifest {
        TaskManifest {
            format: bgapp_manifest::FORMAT_VERSION,
            name: name.into(),
            function: function.into(),
            package: "hello".into(),
            description: None,
            trigger,
            restart: bgapp_manifest::Restart::Always,
            stop_timeout_ms: 5000,
            time_limit_ms: None,
            watchdog_ms: None,
            ready: Default::default(),
            start_timeout_ms: None,
            args: Default::default(),
        }
    }

    fn spec<'a>(tasks: &'a [TaskManifest], platform: Platform) -> ImageSpec<'a> {
        ImageSpec {
            package: "hello",
            version: "0.1.0",
            bin: "hello",
            data: b"\x7fELF...",
            tasks,
            args: Vec::new(),
            user: "hello",
            platform,
            libraries: vec![Entry::file(
                "usr/lib64/ld-linux-x86-64.so.2",
                0o755,
                b"ld".to_vec(),
            )],
            labels: BTreeMap::new(),
            ref_name: "hello:0.1.0".into(),
            containerd_name: "docker.io/library/hello:0.1.0".into(),
            mtime: 1_577_836_800,
            extra: Vec::new(),
            cache: None,
        }
    }

    #[test]
    fn config_says_how_to_run() {
        let tasks = [task("hello", "main", bgapp_manifest::Trigger::Boot)];
        let image = spec(&tasks, Platform::for_deb("amd64").unwrap())
            .build()
            .unwrap();
        let config: Value = serde_json::from_slice(&image.config.data).unwrap();
        let c = &config["config"];
        assert_eq!(c["Entrypoint"], json!(["/usr/bin/hello"]));
        assert_eq!(c["Cmd"], json!(["hello"]));
        assert_eq!(c["User"], json!("65532:65532"));
        assert_eq!(c["StopSignal"], json!("SIGTERM"));
        assert!(c["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("STATE_DIRECTORY=/var/lib/hello")));
        assert!(c["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("BGAPP_ENGINE=oci")));
        assert_eq!(c["Volumes"], json!({ "/tmp": {}, "/var/lib/hello": {} }));
        assert_eq!(config["created"], json!("2020-01-01T00:00:00Z"));
        assert!(config["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["created"] == config["created"]));
        let manifest: Vec<TaskManifest> =
            serde_json::from_str(c["Labels"][MANIFEST_LABEL].as_str().unwrap()).unwrap();
        assert_eq!(manifest, tasks);
        // The loader sits under /usr, reached through the merged-/usr link.
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }

    /// The default task's `args` follow its name in `Cmd`, as in its
    /// unit's `ExecStart=`: `podman run IMAGE` runs what the unit runs.
    #[test]
    fn cmd_has_the_default_tasks_args() {
        let tasks = [task("hello", "main", bgapp_manifest::Trigger::Boot)];
        let mut s = spec(&tasks, Platform::for_deb("amd64").unwrap());
        s.args = vec!["--label".into(), "site a".into()];
        let config: Value = serde_json::from_slice(&s.build().unwrap().config.data).unwrap();
        assert_eq!(
            config["config"]["Cmd"],
            json!(["hello", "--label", "site a"])
        );
    }

    /// What the image cannot carry is a warning that says how to give it to
    /// the engine, never dropped silently.
    #[test]
    fn what_the_image_does_not_carry_is_a_warning() {
        use crate::package::config::TaskConfig;
        let web = task(
            "web",
            "web",
            bgapp_manifest::Trigger::Socket {
                listen: "127.0.0.1:9586".into(),
            },
        );
        let c = TaskConfig {
            args: Some(vec!["--label".into(), "site a".into()]),
            environment_file: Some("-/etc/default/web".into()),
            credentials: BTreeMap::from([("token".into(), "/etc/web/token".into())]),
            supplementary_groups: vec!["wgread".into()],
            read_only_paths: vec!["/etc/wireguard".into()],
            listen: Some("0.0.0.0:9600".into()),
            ..TaskConfig::default()
        };
        // The default task's args are in `Cmd`: no warning for them.
        let w = task_warnings(&web, Some("web"), &c);
        assert_eq!(w.len(), 5, "{w:#?}");
        assert!(
            w.iter().all(|w| w.starts_with("task `web`: its `")),
            "{w:#?}"
        );
        let has = |w: &[String], s: &str| assert!(w.iter().any(|w| w.contains(s)), "{s}: {w:#?}");
        has(&w, "`environment-file` (`-/etc/default/web`) is not read in the container: give it to the engine (`podman run --env-file /etc/default/web`)");
        has(&w, "`credentials` (token) are not in the container");
        has(
            &w,
            "`supplementary-groups` (wgread) are not in the container",
        );
        has(
            &w,
            "`read-only-paths` (/etc/wireguard) are not in the container",
        );
        has(&w, "its `listen` (`0.0.0.0:9600`) is not the container's address: the runtime binds the attribute's (`127.0.0.1:9586`) in the container: publish it as `-p 0.0.0.0:9600:9586`");
        // Another task's are not.
        let w = task_warnings(&web, Some("main"), &c);
        has(&w, "its `args` are not in the image, whose `Cmd` runs the default task `main`: give them after the task's name (`podman run IMAGE web --label 'site a'`)");
        assert!(task_warnings(&web, Some("web"), &TaskConfig::default()).is_empty());
    }

    #[test]
    fn default_task_is_main_then_only_then_boot() {
        use bgapp_manifest::{Schedule, Trigger};
        let timer = Trigger::Timer {
            schedule: Schedule::Every(std::time::Duration::from_secs(60)),
        };
        let t = [task("a", "a", timer.clone()), task("b", "b", Trigger::Boot)];
        assert_eq!(default_task(&t).unwrap().name, "b");
        let t = [
            task("a", "a", timer.clone()),
            task("m", "main", timer.clone()),
        ];
        assert_eq!(default_task(&t).unwrap().name, "m");
        let t = [task("a", "a", timer)];
        assert_eq!(default_task(&t).unwrap().name, "a");
    }

    #[test]
    fn reproducible_and_indexed_per_platform() {
        let tasks = [task("hello", "main", bgapp_manifest::Trigger::Boot)];
        let build = |deb| {
            spec(&tasks, Platform::for_deb(deb).unwrap())
                .build()
                .unwrap()
        };
        let one = Output::new(vec![build("amd64")]).unwrap();
        let again = Output::new(vec![build("amd64")]).unwrap();
        assert_eq!(one.digest(), again.digest());
        assert_eq!(archive(&one, 5).unwrap(), archive(&again, 5).unwrap());
        let multi = Output::new(vec![build("amd64"), build("arm64")]).unwrap();
        assert_eq!(multi.top.media_type, media::INDEX);
        let index: Value = serde_json::from_slice(&multi.top.data).unwrap();
        let platforms: Vec<&Value> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["platform"])
            .collect();
        assert_eq!(
            platforms[1],
            &json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        );
        let err = Output::new(vec![build("amd64"), build("amd64")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "two images for the platform `amd64`: give each `--target` once"
        );
    }

    #[test]
    fn a_layout_must_be_one_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_layout(&dir.path().join("new")).is_ok());
        assert!(check_layout(dir.path()).is_ok());
        std::fs::write(dir.path().join("x"), "").unwrap();
        let err = check_layout(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("is a directory that is not an OCI image layout (no `oci-layout` file)\n\nhelp: name an empty directory, an existing layout, or a path that does not exist yet"), "{err}");
        let err = check_layout(&dir.path().join("x")).unwrap_err().to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
        std::fs::write(dir.path().join("oci-layout"), LAYOUT).unwrap();
        assert!(check_layout(dir.path()).is_ok());
    }

    #[test]
    fn containerd_names() {
        assert_eq!(
            containerd_name("hello:0.1.0"),
            "docker.io/library/hello:0.1.0"
        );
        assert_eq!(containerd_name("me/hello:1"), "docker.io/me/hello:1");
        assert_eq!(
            containerd_name("127.0.0.1:5000/hello:1"),
            "127.0.0.1:5000/hello:1"
        );
        assert_eq!(containerd_name("ghcr.io/me/hello:1"), "ghcr.io/me/hello:1");
    }

    #[test]
    fn workload_images_and_tags() {
        assert_eq!(image_tag("1.0.0"), "1.0.0");
        assert_eq!(image_tag("1.0.0-rc.1+git.5"), "1.0.0-rc.1_git.5");
        assert_eq!(
            workload_image("hello", "hello", 1, "0.1.0", None),
            "hello:0.1.0"
        );
        assert_eq!(
            workload_image("Hello", "hello", 1, "0.1.0+b", Some("ghcr.io/me/hello")),
            "ghcr.io/me/hello:0.1.0_b"
        );
        // A second binary: the repository with `-<bin>`.
        assert_eq!(
            workload_image("kit", "probe", 2, "1.0.0", None),
            "kit-probe:1.0.0"
        );
        assert_eq!(
            workload_image("kit", "probe", 2, "1.0.0", Some("reg.example/kit")),
            "reg.example/kit-probe:1.0.0"
        );
    }
}
