//! `[package.metadata.bgapp.kubernetes]`, parsed strictly (an unknown key
//! is an error naming it), like the rest of the metadata.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Kubernetes {
    /// The image repository the workloads name (`ghcr.io/me/hello`);
    /// default: the package name, as `podman load` and k3s name the archive.
    pub image: Option<String>,
    pub namespace: Option<String>,
    /// For boot tasks that restart `always`: `daemonset` (one per node, the
    /// default) or `deployment` (one replica, `Recreate`).
    pub workload: Option<Workload>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    pub resources: Option<Resources>,
    /// The size of the PersistentVolumeClaim for the state (default `1Gi`).
    pub state_size: Option<String>,
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskKubernetes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Daemonset,
    Deployment,
}

/// Per task: `[package.metadata.bgapp.kubernetes.tasks.<name>]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TaskKubernetes {
    pub workload: Option<Workload>,
}

/// A pod toleration, as Kubernetes spells it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toleration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// `requests` and `limits`: `cpu`, `memory`, ... as quantities (`"100m"`, `"64Mi"`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}
