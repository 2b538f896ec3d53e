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
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub maintainer: Option<String>,
    pub section: Option<String>,
    pub priority: Option<String>,
    #[serde(default)]
    pub depends: Vec<String>,
    #[serde(default)]
    pub libraries: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Strip symbols from the binaries (default: true).
    pub strip: Option<bool>,
    #[serde(default)]
    pub assets: Vec<Asset>,
    #[serde(default)]
    pub conf_files: Vec<String>,
    #[serde(default)]
    pub service: TaskConfig,
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Asset {
    /// Relative to the package's directory.
    pub source: String,
    /// An absolute path on the device.
    pub dest: String,
    /// Octal, like `"0644"`; default 0644, or 0755 for files under `bin/`.
    pub mode: Option<String>,
}

/// Relaxations of a service's sandbox; each one makes `package` warn.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TaskConfig {
    #[serde(default)]
    pub network: bool,
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub read_write_paths: Vec<String>,
    #[serde(default)]
    pub directives: Vec<String>,
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
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid `[package.metadata.bgapp]` in `{manifest}`: {source}")]
    Parse {
        manifest: String,
        source: serde_json::Error,
    },
    #[error("`[package.metadata.bgapp.tasks.{0}]` names no task of this package\n\nhelp: the tasks are: {1}")]
    UnknownTask(String, String),
    #[error("invalid asset mode `{0}`; write it in octal, like `\"0644\"`")]
    Mode(String),
    #[error("asset destination `{0}` must be an absolute path")]
    Dest(String),
    #[error("directive `{0}` must be written `Key=Value`")]
    Directive(String),
    #[error("capability `{0}` is not a capability name like `CAP_NET_BIND_SERVICE`")]
    Capability(String),
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
        let config: Config =
            serde_json::from_value(value.clone()).map_err(|source| ConfigError::Parse {
                manifest: manifest.to_string(),
                source,
            })?;
        for asset in &config.assets {
            if !asset.dest.starts_with('/') {
                return Err(ConfigError::Dest(asset.dest.clone()));
            }
            if let Some(mode) = &asset.mode {
                parse_mode(mode)?;
            }
        }
        for t in std::iter::once(&config.service).chain(config.tasks.values()) {
            if let Some(d) = t
                .directives
                .iter()
                .find(|d| !d.contains('=') || d.starts_with('='))
            {
                return Err(ConfigError::Directive(d.clone()));
            }
            if let Some(c) = t.capabilities.iter().find(|c| {
                !c.starts_with("CAP_") || !c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            }) {
                return Err(ConfigError::Capability(c.clone()));
            }
        }
        Ok(config)
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
}

pub fn parse_mode(text: &str) -> Result<u32, ConfigError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ConfigError::Mode(text.to_string()))
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
        assert!(c.check_tasks(&["up"]).is_ok());
        assert!(c.check_tasks(&["down"]).is_err());
        assert_eq!(parse_mode("0640").unwrap(), 0o640);
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
}
