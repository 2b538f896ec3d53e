//! Which hosts a command acts on: the command line's, a hosts file's, or
//! `[package.metadata.bgapp.deploy]`'s:
//!
//! ```toml
//! [package.metadata.bgapp.deploy]
//! hosts = ["pi@kitchen.local", "garage"]        # when no host is given
//! groups = { lab = ["lab1:2222", "lab2"] }      # --group lab
//! connect-timeout = 10                          # seconds, default 10
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Deserialize;

use super::core::HostSpec;

/// `[package.metadata.bgapp.deploy]`, checked.
#[derive(Debug, Default)]
pub struct DeployConfig {
    pub hosts: Vec<HostSpec>,
    pub groups: BTreeMap<String, Vec<HostSpec>>,
    pub connect_timeout: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    connect_timeout: Option<u32>,
}

impl DeployConfig {
    /// Reads the table from Cargo's `package.metadata`; `manifest` names
    /// the file in messages.
    pub fn from_metadata(
        metadata: &serde_json::Value,
        manifest: &str,
    ) -> anyhow::Result<DeployConfig> {
        let Some(value) = metadata.get("bgapp").and_then(|b| b.get("deploy")) else {
            return Ok(DeployConfig::default());
        };
        let raw: Raw = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let key = e.path().to_string();
            anyhow::anyhow!(
                "`package.metadata.bgapp.deploy.{key}` in `{manifest}`: {}",
                e.into_inner()
            )
        })?;
        let parse = |where_: &str, list: &[String]| -> anyhow::Result<Vec<HostSpec>> {
            list.iter()
                .map(|h| {
                    HostSpec::parse(h).map_err(|e| {
                        anyhow::anyhow!(
                            "`package.metadata.bgapp.deploy.{where_}` in `{manifest}`: {e}"
                        )
                    })
                })
                .collect()
        };
        if raw.connect_timeout == Some(0) {
            bail!(
                "`package.metadata.bgapp.deploy.connect-timeout` in `{manifest}` is 0\n\nhelp: write a number of seconds, at least 1"
            );
        }
        let mut groups = BTreeMap::new();
        for (name, list) in &raw.groups {
            groups.insert(name.clone(), parse(&format!("groups.{name}"), list)?);
        }
        Ok(DeployConfig {
            hosts: parse("hosts", &raw.hosts)?,
            groups,
            connect_timeout: raw.connect_timeout,
        })
    }
}

/// Reads a hosts file: one host per line; `#` starts a comment.
pub fn read_hosts_file(path: &Path) -> anyhow::Result<Vec<HostSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the hosts file `{}`", path.display()))?;
    let mut hosts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        hosts.push(
            HostSpec::parse(line)
                .map_err(|e| anyhow::anyhow!("`{}` line {}: {e}", path.display(), n + 1))?,
        );
    }
    Ok(hosts)
}

/// The hosts to act on, in order, each once: those named on the command
/// line, in the hosts file and in the groups; with none of these, the
/// table's `hosts`.
pub fn select(
    args: &[String],
    hosts_file: Option<&Path>,
    groups: &[String],
    config: &DeployConfig,
) -> anyhow::Result<Vec<HostSpec>> {
    let mut hosts = Vec::new();
    for a in args {
        hosts.push(HostSpec::parse(a).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if let Some(file) = hosts_file {
        hosts.extend(read_hosts_file(file)?);
    }
    for g in groups {
        let Some(list) = config.groups.get(g) else {
            let known: Vec<&str> = config.groups.keys().map(String::as_str).collect();
            if known.is_empty() {
                bail!(
                    "no group `{g}`: `[package.metadata.bgapp.deploy]` defines no groups\n\nhelp: add `groups = {{ {g} = [\"host1\", \"host2\"] }}` there"
                );
            }
            bail!(
                "no group `{g}` in `[package.metadata.bgapp.deploy]`\n\nhelp: the groups are: {}",
                known.join(", ")
            );
        };
        hosts.extend(list.iter().cloned());
    }
    if args.is_empty() && hosts_file.is_none() && groups.is_empty() {
        hosts.extend(config.hosts.iter().cloned());
    }
    let mut unique: Vec<HostSpec> = Vec::new();
    for h in hosts {
        if !unique.contains(&h) {
            unique.push(h);
        }
    }
    if unique.is_empty() {
        bail!(
            "no host to act on\n\nhelp: name hosts (`[user@]host[:port]`), give `--hosts-file FILE` or `--group NAME`, or list `hosts = [...]` under `[package.metadata.bgapp.deploy]` in Cargo.toml"
        );
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> anyhow::Result<DeployConfig> {
        DeployConfig::from_metadata(
            &serde_json::json!({ "bgapp": { "deploy": json } }),
            "Cargo.toml",
        )
    }

    #[test]
    fn reads_hosts_and_groups() {
        let c = config(serde_json::json!({
            "hosts": ["pi@a", "b:2222"],
            "groups": { "lab": ["c", "pi@a"] },
            "connect-timeout": 3
        }))
        .unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.connect_timeout, Some(3));
        let picked = select(&[], None, &[], &c).unwrap();
        assert_eq!(picked, c.hosts);
        let picked = select(&["x".into()], None, &["lab".into()], &c).unwrap();
        let shown: Vec<String> = picked.iter().map(|h| h.to_string()).collect();
        assert_eq!(shown, ["x", "c", "pi@a"]);
    }

    #[test]
    fn refuses_bad_tables_and_selections() {
        let e = config(serde_json::json!({ "host": ["a"] }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `host`"), "{e}");
        let e = config(serde_json::json!({ "hosts": ["a b"] }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("deploy.hosts"), "{e}");
        let e = config(serde_json::json!({ "connect-timeout": 0 }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1"), "{e}");
        let c = DeployConfig::default();
        let e = select(&[], None, &[], &c).unwrap_err().to_string();
        assert!(e.starts_with("no host to act on"), "{e}");
        let e = select(&[], None, &["lab".into()], &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("defines no groups"), "{e}");
    }

    #[test]
    fn reads_a_hosts_file() {
        let dir = std::env::temp_dir().join(format!("bgapp-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts");
        std::fs::write(&file, "# the lab\npi@a:22\n\n b # garage\n").unwrap();
        let hosts = read_hosts_file(&file).unwrap();
        let shown: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        assert_eq!(shown, ["pi@a:22", "b"]);
        std::fs::write(&file, "a\nb:x\n").unwrap();
        let e = read_hosts_file(&file).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
