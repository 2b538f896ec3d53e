//! Kubernetes workloads from the task manifests: one workload per task,
//! `<package>_<version>.k8s.yaml`.
//!
//! [`plan`] is the mapping, without I/O: task manifests and configuration
//! in, Kubernetes objects (as JSON values) and warnings out. Each rule it
//! applies is the Kubernetes counterpart of what the systemd units say,
//! and each unit test names the Kubernetes rule it relies on.
//!
//! | task | workload |
//! | --- | --- |
//! | boot, restart `always` | DaemonSet (default) or Deployment (1 replica, `Recreate`) |
//! | boot, `on-failure`/`never` | Job (`backoffLimit` 4 / 0) |
//! | `timer(every)`, `timer(calendar)` | CronJob, `concurrencyPolicy: Forbid` |
//! | `socket(listen)` | Deployment + Service |
//! | `manual` | CronJob with `suspend: true` |
//! | `path(...)` | an error |

pub mod config;
pub mod yaml;

use std::collections::BTreeMap;
use std::time::Duration;

use bgapp_manifest::{
    env, policy, Calendar, ListenAddress, Readiness, Restart, Schedule, TaskManifest, Trigger,
};
use serde_json::{json, Value};

use crate::package::config::{Config, TaskConfig};
use crate::package::oci::APP_UID;
use crate::project::binary::Binary;
use crate::project::Project;
use config::{Kubernetes, Workload};

/// Why a task has no Kubernetes workload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum K8sError {
    #[error("task `{task}` runs every {every}, which no cron schedule repeats exactly: cron repeats within an hour, a day or a week\n\nhelp: the nearest intervals cron can say are {nearest}; or use `timer(calendar = \"...\")`")]
    Interval {
        task: String,
        every: String,
        nearest: String,
    },
    #[error("task `{task}` runs on `{calendar}`, and a CronJob cannot say {part}\n\nhelp: write a calendar with whole minutes, no year and no `~`, and either weekdays or days of the month")]
    Calendar {
        task: String,
        calendar: String,
        part: bgapp_manifest::CronError,
    },
    #[error("task `{task}` is started by a path (`{path}`), which Kubernetes has no trigger for\n\nhelp: package this binary without the task for Kubernetes, or start it with a `timer` instead")]
    Path { task: String, path: String },
    #[error("task `{task}` listens on `{listen}`, which a Service cannot reach: only TCP ports can be published\n\nhelp: listen on a port, like `socket(listen = \"8080\")`")]
    Listen { task: String, listen: String },
    #[error("task `{task}` would be named `{name}` in Kubernetes, which is not a DNS label (lowercase letters, digits and `-`, at most {max})\n\nhelp: give the task a shorter name")]
    Name {
        task: String,
        name: String,
        max: usize,
    },
    #[error("`[package.metadata.bgapp.tasks.{0}]` sets `listen`, but task `{0}` is not started by a socket\n\nhelp: remove `listen`; only a task with `trigger = socket(listen = \"...\")` in its attribute listens")]
    ListenWithoutSocket(String),
    #[error("task `{0}` takes no arguments (`args = \"none\"` in its attribute), but `args` in `[package.metadata.bgapp]` (or its `tasks.{0}` table) gives it some: every start would end with a usage error\n\nhelp: remove `args` for this task, or remove `args = \"none\"` from the attribute and read them with `task.args()`")]
    ArgsForNoArgs(String),
    #[error("`[package.metadata.bgapp.kubernetes.tasks.{0}]` names no task of this package")]
    UnknownTask(String),
    #[error("`{key}` in `[package.metadata.bgapp.kubernetes]` is not a {what}: `{value}`")]
    Value {
        key: &'static str,
        what: &'static str,
        value: String,
    },
}

/// What the mapping reads.
pub struct Input<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// Each binary's tasks, its image's `repository:tag`, and its name.
    pub images: Vec<(&'a [TaskManifest], String, String)>,
    /// Each task's sandbox relaxations (`[package.metadata.bgapp.service]` and `.tasks`).
    pub relaxations: BTreeMap<String, TaskConfig>,
    pub kubernetes: &'a Kubernetes,
}

/// The objects, and what to tell the user.
pub struct Output {
    pub objects: Vec<Value>,
    pub warnings: Vec<String>,
}

/// A duration in whole seconds, rounded up (a grace period is never shorter).
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A DNS-1123 label from a unit stem: lowercase, `_` as `-`.
fn dns_name(task: &str, stem: &str, max: usize) -> Result<String, K8sError> {
    let name = stem.to_lowercase().replace('_', "-");
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(name)
    } else {
        Err(K8sError::Name {
            task: task.to_string(),
            name,
            max,
        })
    }
}

/// The intervals a cron schedule repeats exactly: minutes that divide an
/// hour, hours that divide a day, a day, a week.
fn cron_intervals() -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for m in [1u64, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30] {
        let cron = if m == 1 {
            "* * * * *".to_string()
        } else {
            format!("*/{m} * * * *")
        };
        out.push((m * 60, cron));
    }
    for h in [1u64, 2, 3, 4, 6, 8, 12] {
        let cron = if h == 1 {
            "0 * * * *".to_string()
        } else {
            format!("0 */{h} * * *")
        };
        out.push((h * 3600, cron));
    }
    out.push((86_400, "0 0 * * *".to_string()));
    out.push((7 * 86_400, "0 0 * * 0".to_string()));
    out
}

/// `every` as a cron schedule, or an error naming the nearest intervals.
pub fn every_to_cron(task: &str, every: Duration) -> Result<String, K8sError> {
    let all = cron_intervals();
    if every.subsec_nanos() == 0 {
        if let Some((_, cron)) = all.iter().find(|(s, _)| *s == every.as_secs()) {
            return Ok(cron.clone());
        }
    }
    let secs = every.as_secs_f64();
    let below = all.iter().rev().find(|(s, _)| (*s as f64) < secs);
    let above = all.iter().find(|(s, _)| (*s as f64) > secs);
    let show = |s: u64| {
        format!(
            "`{}`",
            bgapp_manifest::format_duration(Duration::from_secs(s))
        )
    };
    let nearest = match (below, above) {
        (Some(b), Some(a)) => format!("{} and {}", show(b.0), show(a.0)),
        (Some(b), None) => show(b.0),
        (None, Some(a)) => show(a.0),
        (None, None) => unreachable!("the list is not empty"),
    };
    Err(K8sError::Interval {
        task: task.to_string(),
        every: format!("`{}`", bgapp_manifest::format_duration(every)),
        nearest,
    })
}

/// The mapping: every task's workload, the state's claim, the policies.
pub fn plan(input: &Input) -> Result<Output, K8sError> {
    let k = input.kubernetes;
    let all_tasks: Vec<&str> = input
        .images
        .iter()
        .flat_map(|(tasks, _, _)| tasks.iter().map(|t| t.name.as_str()))
        .collect();
    if let Some(unknown) = k.tasks.keys().find(|t| !all_tasks.contains(&t.as_str())) {
        return Err(K8sError::UnknownTask(unknown.clone()));
    }
    for (key, v) in [("namespace", k.namespace.as_deref())] {
        if let Some(v) = v {
            if dns_name("", v, 63).ok().as_deref() != Some(v) {
                return Err(K8sError::Value {
                    key,
                    what: "DNS label",
                    value: v.to_string(),
                });
            }
        }
    }
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    let mut needs_claim = false;
    let claim = format!("{}-state", dns_name(input.package, input.package, 57)?);
    for (tasks, image, bin) in &input.images {
        for task in tasks.iter() {
            let relax = input
                .relaxations
                .get(&task.name)
                .cloned()
                .unwrap_or_default();
            let at = Image { image, bin };
            let w = TaskObjects::new(input, task, &at, &relax, &claim, &mut warnings)?;
            needs_claim |= !w.host_state;
            objects.extend(w.objects);
        }
    }
    if needs_claim {
        let size = k.state_size.clone().unwrap_or_else(|| "1Gi".to_string());
        objects.insert(
            0,
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata(input, &claim, None),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": { "requests": { "storage": size } },
                },
            }),
        );
    }
    Ok(Output { objects, warnings })
}

fn labels(input: &Input, component: Option<&str>) -> Value {
    let mut l: BTreeMap<String, String> = input.kubernetes.labels.clone();
    l.insert(
        "app.kubernetes.io/name".into(),
        input.package.to_lowercase().replace('_', "-"),
    );
    l.insert(
        "app.kubernetes.io/version".into(),
        crate::package::oci::image_tag(input.version),
    );
    l.insert("app.kubernetes.io/managed-by".into(), "cargo-bgapp".into());
    if let Some(c) = component {
        l.insert("app.kubernetes.io/component".into(), c.into());
    }
    json!(l)
}

/// The labels a selector matches: stable across versions.
fn selector(input: &Input, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": input.package.to_lowercase().replace('_', "-"),
        "app.kubernetes.io/component": component,
    })
}

fn metadata(input: &Input, name: &str, component: Option<&str>) -> Value {
    let mut m = json!({ "name": name, "labels": labels(input, component) });
    if let Some(ns) = &input.kubernetes.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The image a task runs in, and its binary's name.
struct Image<'a> {
    image: &'a str,
    bin: &'a str,
}

/// One task's objects.
struct TaskObjects {
    objects: Vec<Value>,
    /// The state is the node's `/var/lib/<package>` (DaemonSet), not the claim.
    host_state: bool,
}

impl TaskObjects {
    fn new(
        input: &Input,
        task: &TaskManifest,
        image: &Image,
        relax: &TaskConfig,
        claim: &str,
        warnings: &mut Vec<String>,
    ) -> Result<TaskObjects, K8sError> {
        let k = input.kubernetes;
        let stem = bgapp_manifest::unit_stem(input.package, &task.name);
        // A CronJob's name takes 52 characters (its Jobs add 11); others 63.
        let cron = matches!(task.trigger, Trigger::Timer { .. } | Trigger::Manual);
        let name = dns_name(&task.name, &stem, if cron { 52 } else { 63 })?;
        let workload = k
            .tasks
            .get(&task.name)
            .and_then(|t| t.workload)
            .or(k.workload)
            .unwrap_or(Workload::Daemonset);
        let grace = seconds(policy::stop_kill_after(task));
        let state_path = format!("/var/lib/{}", input.package);
        let mut port = None;
        let network = relax.network || matches!(task.trigger, Trigger::Socket { .. });

        enum Kind {
            Daemon,
            Deployment,
            Job,
            CronJob {
                schedule: String,
                time_zone: Option<String>,
                suspend: bool,
            },
        }
        let kind = match &task.trigger {
            Trigger::Boot if task.restart == Restart::Always => match workload {
                Workload::Daemonset => Kind::Daemon,
                Workload::Deployment => Kind::Deployment,
            },
            Trigger::Boot => Kind::Job,
            Trigger::Timer {
                schedule: Schedule::Every(every),
            } => Kind::CronJob {
                schedule: every_to_cron(&task.name, *every)?,
                time_zone: None,
                suspend: false,
            },
            Trigger::Timer {
                schedule: Schedule::Calendar(spec),
            } => {
                let fail = |part| K8sError::Calendar {
                    task: task.name.clone(),
                    calendar: spec.clone(),
                    part,
                };
                let cal =
                    Calendar::parse(spec).map_err(|_| fail(bgapp_manifest::CronError::Seconds))?;
                Kind::CronJob {
                    schedule: cal.to_cron().map_err(fail)?,
                    time_zone: cal.timezone().map(str::to_string),
                    suspend: false,
                }
            }
            Trigger::Socket { listen } => {
                let tcp_port = |listen: &str| match ListenAddress::parse(listen) {
                    Ok(ListenAddress::Port(p)) => Ok(p),
                    Ok(ListenAddress::Inet(a)) => Ok(a.port()),
                    _ => Err(K8sError::Listen {
                        task: task.name.clone(),
                        listen: listen.to_string(),
                    }),
                };
                // The runtime binds the attribute's address itself (no
                // socket is passed in a pod): that is the container's
                // port. The configuration's `listen` (the `.socket`'s
                // `ListenStream=`) is where clients connect: the Service's.
                let container_port = tcp_port(listen)?;
                let service_port = match &relax.listen {
                    Some(l) => tcp_port(l)?,
                    None => container_port,
                };
                port = Some((container_port, service_port));
                Kind::Deployment
            }
            Trigger::Path { path, .. } => {
                return Err(K8sError::Path {
                    task: task.name.clone(),
                    path: path.clone(),
                })
            }
            // Fired by `kubectl create job --from=cronjob/<name>`; the
            // schedule is required, and never used while suspended.
            Trigger::Manual => Kind::CronJob {
                schedule: "0 0 1 1 *".into(),
                time_zone: None,
                suspend: true,
            },
        };

        if task.args == bgapp_manifest::Arguments::None
            && relax.args.iter().flatten().next().is_some()
        {
            return Err(K8sError::ArgsForNoArgs(task.name.clone()));
        }
        if relax.listen.is_some() && port.is_none() {
            return Err(K8sError::ListenWithoutSocket(task.name.clone()));
        }
        let mut caps = json!({ "drop": ["ALL"] });
        if !relax.capabilities.is_empty() {
            let add: Vec<String> = relax
                .capabilities
                .iter()
                .map(|c| c.trim_start_matches("CAP_").to_string())
                .collect();
            warnings.push(format!(
                "task `{}`: capabilities {} are added to the container, but Kubernetes gives a non-root process none of them unless the binary has file capabilities",
                task.name,
                add.join(", ")
            ));
            caps["add"] = json!(add);
        }
        if !relax.devices.is_empty() {
            warnings.push(format!(
                "task `{}`: devices ({}) are not available in the pod: Kubernetes has no per-device allow-list for unprivileged containers (use a device plugin)",
                task.name,
                relax.devices.join(", ")
            ));
        }
        if !relax.read_write_paths.is_empty() || !relax.directives.is_empty() {
            warnings.push(format!(
                "task `{}`: `read-write-paths` and `directives` have no Kubernetes form and are left out",
                task.name
            ));
        }
        let inputs = Inputs::new(task, &name, relax, warnings);
        let mut container = json!({
            "name": name,
            "image": image.image,
            "imagePullPolicy": "IfNotPresent",
            "args": inputs.args,
            "env": inputs.env,
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "capabilities": caps,
            },
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [
                { "name": "tmp", "mountPath": "/tmp" },
                { "name": "state", "mountPath": state_path },
            ],
        });
        if let Some(from) = &inputs.env_from {
            container["envFrom"] = json!([from]);
        }
        if let Some((mount, _)) = &inputs.credentials {
            container["volumeMounts"]
                .as_array_mut()
                .expect("a list")
                .push(mount.clone());
        }
        if let Some((p, _)) = port {
            container["ports"] =
                json!([{ "name": "listen", "containerPort": p, "protocol": "TCP" }]);
            // In place of the socket unit: the Service sends connections
            // only once the task listens.
            container["readinessProbe"] =
                json!({ "tcpSocket": { "port": "listen" }, "periodSeconds": 5 });
        }
        if task.ready == Readiness::Explicit {
            // In place of `READY=1`: the runtime marks the task ready when
            // it calls `task.ready()` (BGAPP_ENGINE=oci), and the app's own
            // binary checks the mark (the image has no shell). It replaces
            // the TCP probe: listening is not being ready.
            container["readinessProbe"] = json!({
                "exec": { "command": [format!("/usr/bin/{}", image.bin), env::PROBE_READY, task.name] },
                "periodSeconds": 5,
            });
        }
        if let Some(start) = task.start_timeout() {
            // In place of `TimeoutStartSec=`: not ready within the start
            // timeout, and the kubelet restarts the container.
            let start = seconds(start).max(1);
            let period = start.min(5);
            container["startupProbe"] = json!({
                "exec": { "command": [format!("/usr/bin/{}", image.bin), env::PROBE_READY, task.name] },
                "periodSeconds": period,
                "failureThreshold": start.div_ceil(period),
            });
        }
        if let Some(w) = task.watchdog() {
            // The runtime enforces the watchdog itself (BGAPP_ENGINE=oci);
            // the probe catches a runtime whose own thread is blocked: it
            // runs the app's binary (the image has no shell), which checks
            // the runtime's last healthy tick.
            let period = seconds(w).max(1);
            container["livenessProbe"] = json!({
                "exec": { "command": [format!("/usr/bin/{}", image.bin), env::PROBE_ALIVE, task.name] },
                "initialDelaySeconds": period,
                "periodSeconds": period,
                "timeoutSeconds": period,
                "failureThreshold": 1,
            });
        }
        if let Some(r) = &k.resources {
            container["resources"] = json!(r);
        }
        let host_state = matches!(kind, Kind::Daemon);
        let state_volume = if host_state {
            // fsGroup does not apply to hostPath: the directory must exist,
            // owned by the app's uid (see README).
            json!({ "name": "state", "hostPath": { "path": state_path, "type": "Directory" } })
        } else {
            json!({ "name": "state", "persistentVolumeClaim": { "claimName": claim } })
        };
        let is_job = matches!(kind, Kind::Job | Kind::CronJob { .. });
        let mut pod = json!({
            "terminationGracePeriodSeconds": grace,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": APP_UID,
                "runAsGroup": APP_UID,
                "fsGroup": APP_UID,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "containers": [container],
            "volumes": [{ "name": "tmp", "emptyDir": {} }, state_volume],
            // podFailurePolicy needs `Never` (batch/v1 Job validation);
            // the Job's backoffLimit makes the retries.
            "restartPolicy": if is_job { "Never" } else { "Always" },
        });
        if let Some((_, volume)) = inputs.credentials {
            pod["volumes"].as_array_mut().expect("a list").push(volume);
        }
        if !network {
            // Nothing to resolve or reach.
            pod["automountServiceAccountToken"] = json!(false);
        }
        if let Some(limit) = task.time_limit() {
            if is_job {
                pod["activeDeadlineSeconds"] =
                    json!(seconds(limit + policy::stop_kill_after(task)));
            } else {
                // apps/v1 validation refuses `activeDeadlineSeconds` in a
                // Deployment's or DaemonSet's pod template (`Unsupported
                // value`): only the runtime's own limit is left.
                warnings.push(format!(
                    "task `{}`: `time_limit` ({}) has no Kubernetes backstop in a {}, which refuses `activeDeadlineSeconds`: the runtime itself cancels the run at the limit and ends it within `stop_timeout`, and the pod is restarted",
                    task.name,
                    bgapp_manifest::format_duration(limit),
                    if matches!(kind, Kind::Daemon) { "DaemonSet" } else { "Deployment" },
                ));
            }
        }
        if !k.node_selector.is_empty() {
            pod["nodeSelector"] = json!(k.node_selector);
        }
        if !k.tolerations.is_empty() {
            pod["tolerations"] = json!(k.tolerations);
        }
        let template = json!({
            "metadata": { "labels": labels(input, Some(&name)) },
            "spec": pod,
        });
        let retries = match task.restart {
            Restart::Never => 0,
            _ => policy::START_LIMIT_BURST - 1,
        };
        let job_spec = json!({
            "backoffLimit": retries,
            "podFailurePolicy": { "rules": [
                // RestartPreventExitStatus=2 4: a usage error or a permanent failure.
                { "action": "FailJob", "onExitCodes": { "containerName": name, "operator": "In", "values": [bgapp_manifest::exit::USAGE, bgapp_manifest::exit::PERMANENT_FAILURE] } },
                // An eviction or preemption is not the task's failure.
                { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }] },
            ]},
            "template": template,
        });
        let meta = metadata(input, &name, Some(&name));
        let mut objects = Vec::new();
        match kind {
            Kind::Daemon => objects.push(json!({
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": meta,
                "spec": { "selector": { "matchLabels": selector(input, &name) }, "template": template },
            })),
            Kind::Deployment => objects.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": {
                    "replicas": 1,
                    // One instance at a time, as one unit: the old one stops before the new one starts.
                    "strategy": { "type": "Recreate" },
                    "selector": { "matchLabels": selector(input, &name) },
                    "template": template,
                },
            })),
            Kind::Job => objects.push(json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": meta,
                "spec": job_spec,
            })),
            Kind::CronJob { schedule, time_zone, suspend } => {
                let mut spec = json!({
                    "schedule": schedule,
                    "concurrencyPolicy": "Forbid",
                    "suspend": suspend,
                    "jobTemplate": { "metadata": { "labels": labels(input, Some(&name)) }, "spec": job_spec },
                });
                if let Some(tz) = time_zone {
                    spec["timeZone"] = json!(tz);
                }
                objects.push(json!({
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "metadata": meta,
                    "spec": spec,
                }));
            }
        }
        if let Some((_, p)) = port {
            objects.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(input, &name, Some(&name)),
                "spec": {
                    "selector": selector(input, &name),
                    "ports": [{ "name": "listen", "port": p, "targetPort": "listen", "protocol": "TCP" }],
                },
            }));
        }
        if !network {
            objects.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": metadata(input, &format!("{name}-deny-all"), Some(&name)),
                // No ingress and no egress rule: nothing in, nothing out
                // (PrivateNetwork-like, as the unit's sandbox).
                "spec": { "podSelector": { "matchLabels": selector(input, &name) }, "policyTypes": ["Ingress", "Egress"] },
            }));
        }
        Ok(TaskObjects {
            objects,
            host_state,
        })
    }
}

/// What a task reads besides the manifest (`[package.metadata.bgapp]`), in
/// the container: its arguments, its environment, its credentials. What
/// has no form in a pod is a warning.
struct Inputs {
    /// The task's name, then its `args` (`ExecStart=`'s words after it).
    args: Vec<String>,
    env: Vec<Value>,
    /// `EnvironmentFile=`: a ConfigMap's variables, optional with `-`.
    env_from: Option<Value>,
    /// `LoadCredential=`: a Secret's keys, mounted read-only at
    /// `$CREDENTIALS_DIRECTORY` (the mount, the volume).
    credentials: Option<(Value, Value)>,
}

/// Where a pod's credentials are mounted, `$CREDENTIALS_DIRECTORY`.
const CREDENTIALS_DIR: &str = "/run/credentials";

impl Inputs {
    fn new(
        task: &TaskManifest,
        name: &str,
        relax: &TaskConfig,
        warnings: &mut Vec<String>,
    ) -> Inputs {
        let mut args = vec![task.name.clone()];
        args.extend(relax.args.iter().flatten().cloned());
        let mut env = vec![json!({ "name": env::ENGINE, "value": env::ENGINE_OCI })];
        let env_from = relax.environment_file.as_ref().map(|file| {
            let (optional, path) = match file.strip_prefix('-') {
                Some(path) => (true, path),
                None => (false, file.as_str()),
            };
            let map = format!("{name}-environment");
            warnings.push(format!(
                "task `{}`: its `environment-file` is the ConfigMap `{map}` in the pod (`envFrom`{}), which you create: `kubectl create configmap {map} --from-env-file={path}`",
                task.name,
                if optional { ", optional as `-` says" } else { "; the pod does not start without it" },
            ));
            json!({ "configMapRef": { "name": map, "optional": optional } })
        });
        let credentials = (!relax.credentials.is_empty()).then(|| {
            let secret = format!("{name}-credentials");
            let from_files: Vec<String> = relax
                .credentials
                .iter()
                .map(|(id, path)| format!("--from-file={id}={path}"))
                .collect();
            warnings.push(format!(
                "task `{}`: its `credentials` are the Secret `{secret}` in the pod, mounted at `$CREDENTIALS_DIRECTORY` ({CREDENTIALS_DIR}); the pod does not start without it, which you create: `kubectl create secret generic {secret} {}`",
                task.name,
                from_files.join(" "),
            ));
            env.push(json!({ "name": "CREDENTIALS_DIRECTORY", "value": CREDENTIALS_DIR }));
            let items: Vec<Value> = relax
                .credentials
                .keys()
                .map(|id| json!({ "key": id, "path": id }))
                .collect();
            (
                json!({ "name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": true }),
                // 0440: root's, readable by the pod's fsGroup (the app's gid).
                json!({ "name": "credentials", "secret": { "secretName": secret, "defaultMode": 0o440, "items": items } }),
            )
        });
        if !relax.supplementary_groups.is_empty() {
            warnings.push(format!(
                "task `{}`: its `supplementary-groups` ({}) are left out of the pod: they are names the device resolves, and Kubernetes takes numeric gids (add them to the pod's `securityContext.supplementalGroups`)",
                task.name,
                relax.supplementary_groups.join(", "),
            ));
        }
        if !relax.read_only_paths.is_empty() {
            warnings.push(format!(
                "task `{}`: its `read-only-paths` ({}) are not in the pod: its root is the image, read-only, without the device's files (mount what it reads there, from a ConfigMap, a Secret or a `hostPath`)",
                task.name,
                relax.read_only_paths.join(", "),
            ));
        }
        Inputs {
            args,
            env,
            env_from,
            credentials,
        }
    }
}

/// The manifests of the package's binaries, as YAML.
pub fn manifests(
    project: &Project,
    config: &Config,
    binaries: &[(String, Binary)],
) -> anyhow::Result<(String, Vec<String>)> {
    let package = project.package.name.as_str();
    let version = project.package.version.to_string();
    let images = binaries
        .iter()
        .map(|(bin, b)| {
            let image = crate::package::oci::workload_image(
                package,
                bin,
                binaries.len(),
                &version,
                config.kubernetes.image.as_deref(),
            );
            (b.tasks.as_slice(), image, bin.clone())
        })
        .collect();
    let relaxations = binaries
        .iter()
        .flat_map(|(_, b)| b.tasks.iter())
        .map(|t| (t.name.clone(), config.task(&t.name)))
        .collect();
    let input = Input {
        package,
        version: &version,
        images,
        relaxations,
        kubernetes: &config.kubernetes,
    };
    let out = plan(&input)?;
    Ok((yaml::documents(&out.objects), out.warnings))
}

#[cfg(test)]
mod tests;
