//! Kubernetes workloads from the task manifests.

use crate::package::config::Config;
use crate::project::binary::Binary;
use crate::project::Project;

pub fn manifests(
    _project: &Project,
    _config: &Config,
    _binaries: &[(String, Binary)],
) -> anyhow::Result<String> {
    anyhow::bail!("not yet")
}
