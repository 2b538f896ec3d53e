//! `[package.metadata.bgapp]`, parsed strictly: an unknown key is an error
//! that names it, so a typo never silently drops a setting.
//!
//! ```toml
//! [package.metadata.bgapp]
//! maintainer = "Jane Doe <jane@example.com>"   # default: the first of `authors`
//! section = "net"                               # default: "misc"
//! depends = ["curl"]                            # added to what the binary needs
//! libraries = { "libfoo.so.1" = "libfoo1 (>= 1.2)" }  # libraries bgapp cannot map itself
//! user = "hello"                                # the system user; default: the package name
//! strip = false                                 # keep symbols (default: strip them, as Debian wants)
//! assets = [{ source = "config/hello.toml", dest = "/etc/hello/hello.toml", mode = "0644" }]
//! conf-files = ["/etc/hello/hello.toml"]        # files under /etc are conffiles anyway
//!
//! [package.metadata.bgapp.service]              # relaxations for every task
//! network = true
//!
//! [package.metadata.bgapp.tasks.uploader]       # relaxations for one task
//! network = true                                # AF_INET, AF_INET6 and IP traffic
//! devices = ["/dev/ttyUSB0"]                    # DeviceAllow= (rw), PrivateDevices=no
//! capabilities = ["CAP_NET_BIND_SERVICE"]       # a port below 1024 it binds itself
//! read-write-paths = ["/srv/uploads"]
//! directives = ["Nice=10"]                      # extra `[Service]` lines, `Key=Value`
//! args = ["--port", "9586"]                     # after the task name on `ExecStart=`
//! environment-file = "-/etc/default/hello"      # `EnvironmentFile=`; `-`: may be missing
//! credentials = { token = "/etc/hello/token" }  # `LoadCredential=token:/etc/hello/token`
//! supplementary-groups = ["wgread"]             # `SupplementaryGroups=`, made by sysusers
//! read-only-paths = ["/etc/wireguard"]          # `ReadOnlyPaths=`; `-`: may be missing
//! listen = "0.0.0.0:9586"                       # a socket task's `ListenStream=`
//! ```
//!
//! A task's own `args`, `environment-file` and `listen` replace those for
//! every task; its `credentials` add to them (its own win by ID); the
//! lists add up.

use std::collections::BTreeMap;

/// `[package.metadata.bgapp]`, resolved: every value checked and in the
/// form the packager uses, so nothing downstream parses a string again.
#[derive(Debug, Default)]
pub struct Config {
    pub maintainer: Option<String>,
    pub section: Option<String>,
    pub priority: Option<String>,
    pub depends: Vec<String>,
    pub libraries: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Strip symbols from the binaries (default: true).
    pub strip: Option<bool>,
    pub assets: Vec<Asset>,
    /// Absolute paths of files that are conffiles besides those in `/etc`.
    pub conf_files: Vec<String>,
    /// Relaxations for every task.
    pub service: TaskConfig,
    /// Relaxations for one task, by task name.
    pub tasks: BTreeMap<String, TaskConfig>,
    /// `[package.metadata.bgapp.kubernetes]`: read by `--format k8s`.
    pub kubernetes: crate::package::k8s::config::Kubernetes,
}

#[derive(Debug)]
pub struct Asset {
    /// Relative to the package's directory.
    pub source: String,
    /// An absolute path on the device: `/etc/hello/hello.toml`.
    pub dest: String,
    /// The mode, if the table gives one.
    pub mode: Option<u32>,
}

/// What a service gets beyond the manifest: relaxations of its sandbox
/// (each one makes `package` warn) and what a real daemon needs.
#[derive(Debug, Default, Clone)]
pub struct TaskConfig {
    pub network: bool,
    pub devices: Vec<String>,
    pub capabilities: Vec<String>,
    pub read_write_paths: Vec<String>,
    pub directives: Vec<Directive>,
    /// Arguments after the task name on `ExecStart=`, as written.
    pub args: Option<Vec<String>>,
    /// `EnvironmentFile=`, with `-` when it may be missing.
    pub environment_file: Option<String>,
    /// `LoadCredential=<id>:<path>`, by ID.
    pub credentials: BTreeMap<String, String>,
    pub supplementary_groups: Vec<String>,
    /// `ReadOnlyPaths=`, each with `-` when it may be missing.
    pub read_only_paths: Vec<String>,
    /// A socket task's `ListenStream=`, instead of the attribute's.
    pub listen: Option<String>,
}

/// An extra `[Service]` line, `Key=Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub key: String,
    pub value: String,
    /// As written, for messages.
    written: String,
}

impl Directive {
    /// `Key=Value`, with blanks around either trimmed; `None` without a key.
    pub fn parse(text: &str) -> Option<Directive> {
        let (key, value) = text.split_once('=')?;
        if text.starts_with('=') {
            return None;
        }
        Some(Directive {
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            written: text.to_string(),
        })
    }
}

impl std::fmt::Display for Directive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

impl TaskConfig {
    /// `self` (for every task) and `other` (one task) together.
    pub fn merged(&self, other: Option<&TaskConfig>) -> TaskConfig {
        let mut out = self.clone();
        if let Some(o) = other {
            out.network |= o.network;
            out.devices.extend(o.devices.iter().cloned());
            out.capabilities.extend(o.capabilities.iter().cloned());
            out.read_write_paths
                .extend(o.read_write_paths.iter().cloned());
            out.directives.extend(o.directives.iter().cloned());
            if o.args.is_some() {
                out.args.clone_from(&o.args);
            }
            if o.environment_file.is_some() {
                out.environment_file.clone_from(&o.environment_file);
            }
            out.credentials.extend(
                o.credentials
                    .iter()
                    .map(|(id, path)| (id.clone(), path.clone())),
            );
            out.supplementary_groups
                .extend(o.supplementary_groups.iter().cloned());
            out.read_only_paths
                .extend(o.read_only_paths.iter().cloned());
            if o.listen.is_some() {
                out.listen.clone_from(&o.listen);
            }
        }
        out
    }
}

/// `key `...`: ` for a parse error's message, or nothing at the top level.
fn key_of(key: &str) -> String {
    match key {
        "" | "." => String::new(),
        key => format!("key `{key}`: "),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid `[package.metadata.bgapp]` in `{manifest}`: {}{error}", key_of(.key))]
    Parse {
        manifest: String,
        /// Where in the table: `tasks.upload.user`, `depends[1]`.
        key: String,
        // Not a `source`: the message says it already.
        error: serde_json::Error,
    },
    #[error("`[package.metadata.bgapp.tasks.{0}]` names no task of this package\n\nhelp: the tasks are: {1}")]
    UnknownTask(String, String),
    #[error("invalid asset mode `{0}`; write it in octal, like `\"0644\"`")]
    Mode(String),
    #[error("asset destination `{dest}` {why}")]
    Dest { dest: String, why: String },
    #[error("conf-file `{file}` {why}")]
    ConfFile { file: String, why: String },
    #[error("{key} `{value}` {why}")]
    Path {
        key: &'static str,
        value: String,
        why: String,
    },
    #[error("device `{0}` is neither a path under `/dev` nor a device class like `char-usb_device`\n\nhelp: write the device node, like `\"/dev/ttyUSB0\"`")]
    Device(String),
    #[error("directive `{0}` must be written `Key=Value`")]
    Directive(String),
    #[error("directive `{directive}` {why}")]
    DirectiveValue {
        directive: String,
        why: &'static str,
    },
    #[error("capability `{0}` is not a capability name like `CAP_NET_BIND_SERVICE`")]
    Capability(String),
    #[error("argument `{0}` in `args` contains a control character; write each argument as its own string, without newlines or tabs")]
    Arg(String),
    #[error("credential ID `{0}` is not a file name systemd takes\n\nhelp: write an ID of ASCII letters, digits, `_`, `-` and `.`, like `token`; the app reads it as `$CREDENTIALS_DIRECTORY/<ID>`")]
    CredentialId(String),
    #[error("supplementary group `{0}` is not a valid group name: use lowercase ASCII letters, digits, `_` and `-`, starting with a letter or `_`, at most 31 characters")]
    Group(String),
    #[error("`listen = \"{value}\"` {why}")]
    Listen { value: String, why: String },
    #[error("`listen` is set for every task in `[package.metadata.bgapp.service]`, but it is one socket task's address\n\nhelp: move it to `[package.metadata.bgapp.tasks.<name>]` of the socket task")]
    ListenForEveryTask,
    #[error(transparent)]
    Field(#[from] super::debian::FieldError),
    #[error("{0}")]
    User(String),
}

/// Why an absolute path cannot be used, and what to write instead.
/// `what` names it in the help; a directory may end with `/`.
fn path_problem(path: &str, what: &str) -> Option<String> {
    use bgapp_manifest::path::{check_absolute_path, normalize, PathError};
    let why = match check_absolute_path(path) {
        Ok(()) if path.ends_with('/') && what != "directory" => {
            format!("ends with `/`; write the {what}'s full path, like `{path}<file>`")
        }
        Ok(()) if path.trim_end() != path => {
            format!(
                "ends with whitespace, which systemd and dpkg's lists of files drop; write `{}`",
                path.trim_end()
            )
        }
        Ok(()) => return None,
        Err(PathError::Relative(_)) => {
            format!("must be an absolute path; write `{}`", normalize(path))
        }
        Err(PathError::NotNormalized { normalized, .. }) => format!(
            "is not a normalized path (`.`, `..` and `//` are not allowed); write `{normalized}`"
        ),
        Err(PathError::Root(_)) => format!("is the root directory; write the {what}'s full path"),
        Err(PathError::Control(_)) => {
            "contains a control character; file names with newlines or tabs cannot be packaged"
                .to_string()
        }
    };
    Some(why)
}

/// `path` for a message: a newline shown as `\n`.
fn shown(path: &str) -> String {
    path.escape_debug().to_string()
}

impl Config {
    /// Reads `package.metadata.bgapp` from Cargo's metadata.
    pub fn from_metadata(
        metadata: &serde_json::Value,
        manifest: &str,
    ) -> Result<Config, ConfigError> {
        let Some(value) = metadata.get("bgapp") else {
            return Ok(Config::default());
        };
        let raw: raw::Config =
            serde_path_to_error::deserialize(value.clone()).map_err(|e| ConfigError::Parse {
                manifest: manifest.to_string(),
                key: e.path().to_string(),
                error: e.into_inner(),
            })?;
        raw.resolve()
    }

    /// Checks that every `tasks.<name>` table names a task.
    pub fn check_tasks(&self, task_names: &[&str]) -> Result<(), ConfigError> {
        for name in self.tasks.keys() {
            if !task_names.contains(&name.as_str()) {
                return Err(ConfigError::UnknownTask(
                    name.clone(),
                    task_names.join(", "),
                ));
            }
        }
        Ok(())
    }

    /// The relaxations of task `name`: those for every task, and its own.
    pub fn task(&self, name: &str) -> TaskConfig {
        self.service.merged(self.tasks.get(name))
    }
}

pub fn parse_mode(text: &str) -> Result<u32, ConfigError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ConfigError::Mode(text.to_string()))
}

/// The table as written: what serde reads, strictly.
mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{ConfigError, Directive};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Config {
        maintainer: Option<String>,
        section: Option<String>,
        priority: Option<String>,
        #[serde(default)]
        depends: Vec<String>,
        #[serde(default)]
        libraries: BTreeMap<String, String>,
        user: Option<String>,
        strip: Option<bool>,
        #[serde(default)]
        assets: Vec<Asset>,
        #[serde(default)]
        conf_files: Vec<String>,
        #[serde(default)]
        service: TaskConfig,
        #[serde(default)]
        tasks: BTreeMap<String, TaskConfig>,
        #[serde(default)]
        kubernetes: crate::package::k8s::config::Kubernetes,
        /// `[package.metadata.bgapp.deploy]`: read by `deploy/hosts.rs`.
        #[allow(dead_code)]
        deploy: Option<serde::de::IgnoredAny>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Asset {
        source: String,
        dest: String,
        mode: Option<String>,
    }

    #[derive(Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct TaskConfig {
        #[serde(default)]
        network: bool,
        #[serde(default)]
        devices: Vec<String>,
        #[serde(default)]
        capabilities: Vec<String>,
        #[serde(default)]
        read_write_paths: Vec<String>,
        #[serde(default)]
        directives: Vec<String>,
        args: Option<Vec<String>>,
        environment_file: Option<String>,
        #[serde(default)]
        credentials: BTreeMap<String, String>,
        #[serde(default)]
        supplementary_groups: Vec<String>,
        #[serde(default)]
        read_only_paths: Vec<String>,
        listen: Option<String>,
    }

    impl Config {
        pub fn resolve(self) -> Result<super::Config, ConfigError> {
            use crate::package::debian;
            if let Some(m) = &self.maintainer {
                debian::check_maintainer(m, false)?;
            }
            if let Some(s) = &self.section {
                debian::check_section(s)?;
            }
            if let Some(p) = &self.priority {
                debian::check_priority(p)?;
            }
            if let Some(u) = &self.user {
                crate::package::check_user(u).map_err(|e| ConfigError::User(e.to_string()))?;
            }
            for d in &self.depends {
                debian::check_relation("`depends` entry", d)?;
            }
            for (lib, d) in &self.libraries {
                debian::check_relation(&format!("`libraries` entry `{lib}` ="), d)?;
            }
            let assets = self
                .assets
                .into_iter()
                .map(Asset::resolve)
                .collect::<Result<_, _>>()?;
            for c in &self.conf_files {
                check_conf_file(c)?;
            }
            if self.service.listen.is_some() {
                return Err(ConfigError::ListenForEveryTask);
            }
            let service = self.service.resolve()?;
            let tasks = self
                .tasks
                .into_iter()
                .map(|(name, t)| Ok((name, t.resolve()?)))
                .collect::<Result<_, ConfigError>>()?;
            Ok(super::Config {
                maintainer: self.maintainer,
                section: self.section,
                priority: self.priority,
                depends: self.depends,
                libraries: self.libraries,
                user: self.user,
                strip: self.strip,
                assets,
                conf_files: self.conf_files,
                service,
                tasks,
                kubernetes: self.kubernetes,
            })
        }
    }

    /// A conffile is a file under `/etc` (Policy 10.7.2; lintian's
    /// `non-etc-file-marked-as-conffile` is an error).
    fn check_conf_file(file: &str) -> Result<(), ConfigError> {
        let fail = |why: String| ConfigError::ConfFile {
            file: super::shown(file),
            why,
        };
        if let Some(why) = super::path_problem(file, "conf-file") {
            return Err(fail(why));
        }
        if !file.starts_with("/etc/") {
            return Err(fail(
                "is not under `/etc`; dpkg keeps only files under `/etc` as configuration (lintian: non-etc-file-marked-as-conffile)\n\n\
                 help: install the file under `/etc` with `assets`, or remove it from `conf-files`"
                    .to_string(),
            ));
        }
        Ok(())
    }

    impl Asset {
        fn resolve(self) -> Result<super::Asset, ConfigError> {
            if let Some(why) = super::path_problem(&self.dest, "file") {
                return Err(ConfigError::Dest {
                    dest: super::shown(&self.dest),
                    why,
                });
            }
            let mode = self.mode.as_deref().map(super::parse_mode).transpose()?;
            Ok(super::Asset {
                source: self.source,
                dest: self.dest,
                mode,
            })
        }
    }

    impl TaskConfig {
        fn resolve(self) -> Result<super::TaskConfig, ConfigError> {
            let directives = self
                .directives
                .iter()
                .map(|d| check_directive(d))
                .collect::<Result<_, _>>()?;
            if let Some(c) = self.capabilities.iter().find(|c| {
                !c.starts_with("CAP_") || !c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            }) {
                return Err(ConfigError::Capability(c.clone()));
            }
            for p in &self.read_write_paths {
                // `-`: systemd's "ignore if missing".
                let path = p.strip_prefix('-').unwrap_or(p);
                if let Some(why) = super::path_problem(path, "directory") {
                    return Err(ConfigError::Path {
                        key: "read-write path",
                        value: super::shown(p),
                        why,
                    });
                }
            }
            for d in &self.devices {
                check_device(d)?;
            }
            for a in self.args.iter().flatten() {
                if a.contains(char::is_control) {
                    return Err(ConfigError::Arg(super::shown(a)));
                }
            }
            if let Some(f) = &self.environment_file {
                let path = f.strip_prefix('-').unwrap_or(f);
                if let Some(why) = super::path_problem(path, "file") {
                    return Err(ConfigError::Path {
                        key: "environment-file",
                        value: super::shown(f),
                        why,
                    });
                }
            }
            for (id, path) in &self.credentials {
                let ok = !id.is_empty()
                    && !id.starts_with('.')
                    && id.len() <= 255
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
                if !ok {
                    return Err(ConfigError::CredentialId(super::shown(id)));
                }
                if let Some(why) = super::path_problem(path, "file") {
                    return Err(ConfigError::Path {
                        key: "credential path",
                        value: super::shown(path),
                        why,
                    });
                }
            }
            for g in &self.supplementary_groups {
                if bgapp_manifest::check_user_name(g).is_err() {
                    return Err(ConfigError::Group(super::shown(g)));
                }
            }
            for p in &self.read_only_paths {
                let path = p.strip_prefix('-').unwrap_or(p);
                if let Some(why) = super::path_problem(path, "directory") {
                    return Err(ConfigError::Path {
                        key: "read-only path",
                        value: super::shown(p),
                        why,
                    });
                }
            }
            if let Some(listen) = &self.listen {
                if let Err(e) = bgapp_manifest::ListenAddress::parse(listen) {
                    return Err(ConfigError::Listen {
                        value: super::shown(listen),
                        why: format!("is not a listen address: {e}"),
                    });
                }
            }
            Ok(super::TaskConfig {
                network: self.network,
                devices: self.devices,
                capabilities: self.capabilities,
                read_write_paths: self.read_write_paths,
                directives,
                args: self.args,
                environment_file: self.environment_file,
                credentials: self.credentials,
                supplementary_groups: self.supplementary_groups,
                read_only_paths: self.read_only_paths,
                listen: self.listen,
            })
        }
    }

    /// `DeviceAllow=` takes a device node or a class, `char-<driver>` or
    /// `block-<driver>`.
    fn check_device(device: &str) -> Result<(), ConfigError> {
        let class = ["char-", "block-"].iter().any(|p| {
            device.strip_prefix(p).is_some_and(|rest| {
                !rest.is_empty() && !rest.contains(|c: char| c.is_whitespace() || c.is_control())
            })
        });
        if class {
            return Ok(());
        }
        if !device.starts_with("/dev/") {
            return Err(ConfigError::Device(super::shown(device)));
        }
        match super::path_problem(device, "device") {
            Some(why) => Err(ConfigError::Path {
                key: "device",
                value: super::shown(device),
                why,
            }),
            None => Ok(()),
        }
    }

    /// A `Key=Value` line that stays one line of the unit: a key of letters
    /// and digits, no control character, no trailing `\` (which would
    /// continue it onto the next line).
    fn check_directive(text: &str) -> Result<Directive, ConfigError> {
        let d = Directive::parse(text).ok_or_else(|| ConfigError::Directive(super::shown(text)))?;
        let why = if text.chars().any(char::is_control) {
            "contains a control character; write each directive as its own string"
        } else if d.key.is_empty() || !d.key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            "has a key that is not a systemd setting name (letters and digits)"
        } else if d.value.ends_with('\\') {
            "ends with `\\`, which would continue it onto the next line of the unit"
        } else {
            return Ok(d);
        };
        Err(ConfigError::DirectiveValue {
            directive: super::shown(text),
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_an_unknown_key() {
        let meta = json!({ "bgapp": { "maintaner": "x" } });
        let err = Config::from_metadata(&meta, "Cargo.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `maintaner`"), "{err}");
        let meta = json!({ "bgapp": { "tasks": { "a": { "netwrok": true } } } });
        let err = Config::from_metadata(&meta, "Cargo.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `netwrok`"), "{err}");
    }

    #[test]
    fn reads_a_full_table() {
        let meta = json!({ "bgapp": {
            "maintainer": "A <a@b.c>",
            "depends": ["curl"],
            "libraries": { "libfoo.so.1": "libfoo1" },
            "assets": [{ "source": "a.toml", "dest": "/etc/a/a.toml", "mode": "0640" }],
            "service": { "network": true },
            "tasks": { "up": { "devices": ["/dev/ttyUSB0"], "directives": ["Nice=5"] } }
        }});
        let c = Config::from_metadata(&meta, "Cargo.toml").unwrap();
        let t = c.service.merged(c.tasks.get("up"));
        assert!(t.network);
        assert_eq!(t.devices, ["/dev/ttyUSB0"]);
        assert_eq!(
            t.directives,
            [Directive::parse("Nice=5").unwrap()],
            "parsed once, here"
        );
        assert_eq!(c.task("up").devices, ["/dev/ttyUSB0"]);
        assert!(c.task("down").network && c.task("down").devices.is_empty());
        assert_eq!(c.assets[0].mode, Some(0o640));
        assert!(c.check_tasks(&["up"]).is_ok());
        assert!(c.check_tasks(&["down"]).is_err());
        assert_eq!(parse_mode("0640").unwrap(), 0o640);
    }

    #[test]
    fn directives() {
        let d = Directive::parse(" Nice = 5 ").unwrap();
        assert_eq!((d.key.as_str(), d.value.as_str()), ("Nice", "5"));
        assert_eq!(d.to_string(), " Nice = 5 ", "shown as written");
        let d = Directive::parse("Environment=A=B").unwrap();
        assert_eq!((d.key.as_str(), d.value.as_str()), ("Environment", "A=B"));
        assert_eq!(Directive::parse("Nice"), None);
        assert_eq!(Directive::parse("=5"), None);
    }

    /// The serde error is in the message, once: not again as its cause.
    #[test]
    fn a_parse_error_says_it_once() {
        let meta = json!({ "bgapp": { "maintaner": "x" } });
        let err = anyhow::Error::from(Config::from_metadata(&meta, "Cargo.toml").unwrap_err());
        let shown = format!("{err:?}");
        assert_eq!(
            shown.matches("unknown field `maintaner`").count(),
            1,
            "{shown}"
        );
    }

    #[test]
    fn a_type_error_names_its_key() {
        for (meta, key) in [
            (json!({ "bgapp": { "user": 5 } }), "key `user`: "),
            (
                json!({ "bgapp": { "depends": ["a", 2] } }),
                "key `depends[1]`: ",
            ),
            (
                json!({ "bgapp": { "tasks": { "up": { "network": "yes" } } } }),
                "key `tasks.up.network`: ",
            ),
        ] {
            let err = Config::from_metadata(&meta, "Cargo.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{meta}: {err}");
        }
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            json!({ "bgapp": { "assets": [{ "source": "a", "dest": "etc/a" }] } }),
            json!({ "bgapp": { "assets": [{ "source": "a", "dest": "/etc/a", "mode": "rw" }] } }),
            json!({ "bgapp": { "service": { "directives": ["Nice"] } } }),
            json!({ "bgapp": { "service": { "capabilities": ["net_admin"] } } }),
        ] {
            assert!(Config::from_metadata(&bad, "Cargo.toml").is_err(), "{bad}");
        }
    }

    fn refusal(meta: serde_json::Value) -> String {
        match Config::from_metadata(&json!({ "bgapp": meta }), "Cargo.toml") {
            Ok(_) => panic!("accepted {meta}"),
            Err(e) => e.to_string(),
        }
    }

    /// Each refusal names the value and says what to write instead.
    #[test]
    fn refuses_what_cannot_be_packaged_and_says_what_to_write() {
        let asset = |dest: &str| json!({ "assets": [{ "source": "a", "dest": dest }] });
        for (dest, says) in [
            ("/etc/../../evil", "asset destination `/etc/../../evil` is not a normalized path (`.`, `..` and `//` are not allowed); write `/evil`"),
            ("/etc//hello.toml", "write `/etc/hello.toml`"),
            ("/etc/./hello.toml", "write `/etc/hello.toml`"),
            ("/etc/hello/", "asset destination `/etc/hello/` ends with `/`; write the file's full path, like `/etc/hello/<file>`"),
            ("/", "asset destination `/` is the root directory"),
            ("etc/a", "must be an absolute path; write `/etc/a`"),
            ("/etc/a\nb", "asset destination `/etc/a\\nb` contains a control character"),
            ("/etc/a ", "ends with whitespace"),
        ] {
            let dest = dest.replace("\\n", "\n");
            let msg = refusal(asset(&dest));
            assert!(msg.contains(says), "{dest:?}: {msg}");
        }
        let msg = refusal(json!({ "conf-files": ["/opt/app/app.conf"] }));
        assert!(
            msg.starts_with("conf-file `/opt/app/app.conf` is not under `/etc`")
                && msg.contains("non-etc-file-marked-as-conffile"),
            "{msg}"
        );
        let msg = refusal(json!({ "maintainer": "A <a@b.c>\nEssential: yes" }));
        assert!(
            msg.starts_with("maintainer `A <a@b.c>\\nEssential: yes` is not `Name <email>`"),
            "{msg}"
        );
        let msg = refusal(json!({ "section": "net\nEvil: yes" }));
        assert!(
            msg.starts_with("`section = \"net\\nEvil: yes\"` is not one of Debian's sections"),
            "{msg}"
        );
        let msg = refusal(json!({ "priority": "extra" }));
        assert!(msg.contains("write one of `required`"), "{msg}");
        let msg = refusal(json!({ "depends": ["curl (>= "] }));
        assert!(
            msg.starts_with("`depends` entry `curl (>= ` is not a Debian relation"),
            "{msg}"
        );
        let msg = refusal(json!({ "libraries": { "libfoo.so.1": "libfoo1 (>= 1.2" } }));
        assert!(
            msg.starts_with(
                "`libraries` entry `libfoo.so.1` = `libfoo1 (>= 1.2` is not a Debian relation"
            ),
            "{msg}"
        );
        let msg = refusal(json!({ "user": "Root" }));
        assert!(
            msg.starts_with("`Root` is not a valid system user name"),
            "{msg}"
        );
        let msg = refusal(json!({ "service": { "read-write-paths": ["/srv/../etc"] } }));
        assert!(
            msg.starts_with("read-write path `/srv/../etc` is not a normalized path")
                && msg.contains("write `/etc`"),
            "{msg}"
        );
        let msg = refusal(json!({ "service": { "devices": ["ttyUSB0"] } }));
        assert!(
            msg.starts_with("device `ttyUSB0` is neither a path under `/dev`"),
            "{msg}"
        );
        let msg = refusal(json!({ "service": { "directives": ["Nice=5\nUser=root"] } }));
        assert!(
            msg.starts_with("directive `Nice=5\\nUser=root` contains a control character"),
            "{msg}"
        );
        let msg = refusal(json!({ "service": { "directives": ["Environment=A=b\\"] } }));
        assert!(
            msg.contains("would continue it onto the next line"),
            "{msg}"
        );
        let msg = refusal(json!({ "service": { "directives": ["Nice Level=5"] } }));
        assert!(
            msg.contains("has a key that is not a systemd setting name"),
            "{msg}"
        );

        // A real daemon's keys.
        for (meta, says) in [
            (
                json!({ "tasks": { "up": { "args": ["--a", "b\nc"] } } }),
                "argument `b\\nc` in `args` contains a control character",
            ),
            (
                json!({ "service": { "environment-file": "etc/default/app" } }),
                "environment-file `etc/default/app` must be an absolute path; write `/etc/default/app`",
            ),
            (
                json!({ "service": { "credentials": { "a/b": "/etc/app/token" } } }),
                "credential ID `a/b` is not a file name systemd takes",
            ),
            (
                json!({ "service": { "credentials": { "token": "/etc/app/../token" } } }),
                "credential path `/etc/app/../token` is not a normalized path",
            ),
            (
                json!({ "service": { "supplementary-groups": ["Wheel"] } }),
                "supplementary group `Wheel` is not a valid group name",
            ),
            (
                json!({ "service": { "read-only-paths": ["-etc/wireguard"] } }),
                "read-only path `-etc/wireguard` must be an absolute path",
            ),
            (
                json!({ "service": { "listen": "9586" } }),
                "`listen` is set for every task in `[package.metadata.bgapp.service]`",
            ),
            (
                json!({ "tasks": { "web": { "listen": "localhost:99999" } } }),
                "`listen = \"localhost:99999\"` is not a listen address",
            ),
        ] {
            let msg = refusal(meta.clone());
            assert!(msg.starts_with(says), "{meta}: {msg}");
        }

        let ok = json!({ "bgapp": {
            "maintainer": "Jane Doe <jane@example.com>",
            "section": "contrib/net",
            "priority": "optional",
            "depends": ["curl (>= 7.88) | wget"],
            "user": "root",
            "assets": [{ "source": "a", "dest": "/opt/sp/my notes.txt" }],
            "conf-files": ["/etc/app/app.conf"],
            "service": {
                "read-write-paths": ["/srv/my data/", "-/srv/maybe"],
                "devices": ["/dev/odd dev", "char-usb_device"],
            }
        }});
        Config::from_metadata(&ok, "Cargo.toml").unwrap();
    }
}
