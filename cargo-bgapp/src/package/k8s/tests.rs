//! The mapping, case by case; each test names the Kubernetes rule it
//! relies on.

use std::time::Duration;

use bgapp_manifest::{PathCondition, Readiness, Restart, Schedule, TaskManifest, Trigger};
use serde_json::{json, Value};

use super::config::{Kubernetes, TaskKubernetes, Workload};
use super::*;

fn task(name: &str, trigger: Trigger, restart: Restart) -> TaskManifest {
    TaskManifest {
        format: bgapp_manifest::FORMAT_VERSION,
        name: name.into(),
        function: name.into(),
        package: "app".into(),
        description: None,
        trigger,
        restart,
        stop_timeout_ms: 5000,
        time_limit_ms: None,
        watchdog_ms: None,
        ready: Default::default(),
        start_timeout_ms: None,
        args: Default::default(),
    }
}

fn every(s: u64) -> Trigger {
    Trigger::Timer {
        schedule: Schedule::Every(Duration::from_secs(s)),
    }
}

fn map(tasks: &[TaskManifest], k: &Kubernetes) -> Result<Vec<Value>, K8sError> {
    let input = Input {
        package: "app",
        version: "0.1.0",
        images: vec![(tasks, "app:0.1.0".into(), "app".into())],
        relaxations: BTreeMap::new(),
        kubernetes: k,
    };
    plan(&input).map(|o| o.objects)
}

fn one(tasks: &[TaskManifest], kind: &str) -> Value {
    map(tasks, &Kubernetes::default())
        .unwrap()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn pod(workload: &Value) -> &Value {
    match workload["kind"].as_str().unwrap() {
        "CronJob" => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    }
}

/// A DaemonSet runs one pod per node (apps/v1 DaemonSet): the fleet case
/// of a boot task restarted `always`. Its pods must restart `Always`
/// (DaemonSet validation allows nothing else).
#[test]
fn boot_always_is_a_daemonset_with_the_node_state() {
    let d = one(&[task("app", Trigger::Boot, Restart::Always)], "DaemonSet");
    assert_eq!(d["metadata"]["name"], "app");
    let p = pod(&d);
    assert_eq!(p["restartPolicy"], "Always");
    // terminationGracePeriodSeconds: SIGTERM, then SIGKILL after it, as TimeoutStopSec= = stop_timeout + 2 s.
    assert_eq!(p["terminationGracePeriodSeconds"], 7);
    assert_eq!(
        p["volumes"][1]["hostPath"],
        json!({"path": "/var/lib/app", "type": "Directory"})
    );
    assert_eq!(d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"].as_object().map(|l| {
        json!({"app.kubernetes.io/name": l["app.kubernetes.io/name"], "app.kubernetes.io/component": l["app.kubernetes.io/component"]})
    }).unwrap());
    // No claim: the node's directory holds the state.
    assert!(map(
        &[task("app", Trigger::Boot, Restart::Always)],
        &Kubernetes::default()
    )
    .unwrap()
    .iter()
    .all(|o| o["kind"] != "PersistentVolumeClaim"));
}

/// `workload = "deployment"`: one replica, and `Recreate` so two pods never
/// share the state (a RollingUpdate would start the new one first).
#[test]
fn boot_as_a_deployment_recreates_with_a_claim() {
    let k = Kubernetes {
        workload: Some(Workload::Deployment),
        ..Kubernetes::default()
    };
    let objects = map(&[task("app", Trigger::Boot, Restart::Always)], &k).unwrap();
    let d = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        pod(d)["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "app-state"
    );
    assert_eq!(objects[0]["kind"], "PersistentVolumeClaim");
    assert_eq!(objects[0]["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    // Per task, over the package's choice.
    let mut k = Kubernetes::default();
    k.tasks.insert(
        "app".into(),
        TaskKubernetes {
            workload: Some(Workload::Deployment),
        },
    );
    assert!(map(&[task("app", Trigger::Boot, Restart::Always)], &k)
        .unwrap()
        .iter()
        .any(|o| o["kind"] == "Deployment"));
}

/// A Job's podFailurePolicy needs `restartPolicy: Never` (batch/v1
/// validation); the `FailJob` rule on exit codes 2 and 4 is
/// RestartPreventExitStatus=2 4; `backoffLimit` is the start limit's
/// retries for on-failure and none for never.
#[test]
fn boot_on_failure_is_a_job_that_never_retries_2_and_4() {
    let j = one(&[task("app", Trigger::Boot, Restart::OnFailure)], "Job");
    assert_eq!(j["spec"]["backoffLimit"], 4);
    assert_eq!(pod(&j)["restartPolicy"], "Never");
    let rule = &j["spec"]["podFailurePolicy"]["rules"][0];
    assert_eq!(rule["action"], "FailJob");
    assert_eq!(
        rule["onExitCodes"],
        json!({"containerName": "app", "operator": "In", "values": [2, 4]})
    );
    let never = one(&[task("app", Trigger::Boot, Restart::Never)], "Job");
    assert_eq!(never["spec"]["backoffLimit"], 0);
}

/// CronJob `concurrencyPolicy: Forbid` skips a run while the last goes on,
/// as a .timer does not start a service that is still active.
#[test]
fn every_is_a_cronjob_that_never_overlaps() {
    let c = one(&[task("app", every(900), Restart::OnFailure)], "CronJob");
    assert_eq!(c["spec"]["schedule"], "*/15 * * * *");
    assert_eq!(c["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(c["spec"]["suspend"], false);
    assert_eq!(
        every_to_cron("t", Duration::from_secs(60)).unwrap(),
        "* * * * *"
    );
    assert_eq!(
        every_to_cron("t", Duration::from_secs(7200)).unwrap(),
        "0 */2 * * *"
    );
    assert_eq!(
        every_to_cron("t", Duration::from_secs(86400)).unwrap(),
        "0 0 * * *"
    );
}

/// Cron (crontab(5)) repeats within an hour, a day or a week: `*/45`
/// restarts at each hour, so 45 minutes is refused with its neighbours.
#[test]
fn every_cron_cannot_say_names_the_nearest() {
    let err = every_to_cron("sync", Duration::from_secs(45 * 60))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("task `sync` runs every `45m`, which no cron schedule repeats exactly"),
        "{err}"
    );
    assert!(
        err.contains("help: the nearest intervals cron can say are `30m` and `1h`"),
        "{err}"
    );
    let err = every_to_cron("t", Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("are `1m`;") || err.contains("say are `1m`"),
        "{err}"
    );
    let err = every_to_cron("t", Duration::from_secs(14 * 86400))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`7d`"), "{err}");
}

/// CronJob `timeZone` (batch/v1, GA in 1.27) takes the calendar's zone.
#[test]
fn calendar_is_a_cronjob_with_its_time_zone() {
    let t = Trigger::Timer {
        schedule: Schedule::Calendar("Mon..Fri 09:30 Europe/Berlin".into()),
    };
    let c = one(&[task("app", t, Restart::OnFailure)], "CronJob");
    assert_eq!(c["spec"]["schedule"], "30 9 * * 1,2,3,4,5");
    assert_eq!(c["spec"]["timeZone"], "Europe/Berlin");
    let t = Trigger::Timer {
        schedule: Schedule::Calendar("*-*-* 00:00:30".into()),
    };
    let err = map(
        &[task("app", t, Restart::OnFailure)],
        &Kubernetes::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "task `app` runs on `*-*-* 00:00:30`, and a CronJob cannot say the seconds"
        ),
        "{err}"
    );
}

/// A Service selects the Deployment's pods and targets the named port.
#[test]
fn socket_is_a_deployment_and_a_service() {
    let s = task(
        "app",
        Trigger::Socket {
            listen: "127.0.0.1:8080".into(),
        },
        Restart::OnFailure,
    );
    let objects = map(std::slice::from_ref(&s), &Kubernetes::default()).unwrap();
    let svc = objects.iter().find(|o| o["kind"] == "Service").unwrap();
    let dep = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(
        svc["spec"]["selector"],
        dep["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(pod(dep)["containers"][0]["ports"][0]["containerPort"], 8080);
    // A Service routes only to Ready pods (endpoints follow readiness).
    assert_eq!(
        pod(dep)["containers"][0]["readinessProbe"]["tcpSocket"]["port"],
        "listen"
    );
    // It listens: no deny-all policy.
    assert!(objects.iter().all(|o| o["kind"] != "NetworkPolicy"));
    let unix = task(
        "app",
        Trigger::Socket {
            listen: "/run/app.sock".into(),
        },
        Restart::OnFailure,
    );
    let err = map(&[unix], &Kubernetes::default()).unwrap_err();
    assert!(matches!(err, K8sError::Listen { .. }));
}

/// A suspended CronJob never fires (batch/v1 `suspend`), and `kubectl
/// create job --from=cronjob/NAME` runs it on demand.
#[test]
fn manual_is_a_suspended_cronjob() {
    let c = one(
        &[task("app", Trigger::Manual, Restart::OnFailure)],
        "CronJob",
    );
    assert_eq!(c["spec"]["suspend"], true);
}

#[test]
fn path_is_an_error() {
    let t = Trigger::Path {
        condition: PathCondition::Changed,
        path: "/var/spool/app".into(),
    };
    let err = map(
        &[task("app", t, Restart::OnFailure)],
        &Kubernetes::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("task `app` is started by a path (`/var/spool/app`), which Kubernetes has no trigger for"), "{err}");
}

/// The unit's sandbox, as a pod's: runAsNonRoot with a numeric uid (the
/// kubelet can check only a numeric one), no privilege escalation, a
/// read-only root with an emptyDir at /tmp (PrivateTmp=), no capabilities,
/// the runtime's default seccomp profile (SystemCallFilter=), and a
/// NetworkPolicy with no rules for a task without network
/// (RestrictAddressFamilies=AF_UNIX).
#[test]
fn the_sandbox_as_a_security_context() {
    let mut t = task("tick", every(60), Restart::OnFailure);
    t.time_limit_ms = Some(60_000);
    let objects = map(&[t], &Kubernetes::default()).unwrap();
    let c = objects.iter().find(|o| o["kind"] == "CronJob").unwrap();
    let p = pod(c);
    assert_eq!(
        p["securityContext"],
        json!({
            "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"}
        })
    );
    let sc = &p["containers"][0]["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(p["volumes"][0], json!({"name": "tmp", "emptyDir": {}}));
    assert_eq!(
        p["containers"][0]["terminationMessagePolicy"],
        "FallbackToLogsOnError"
    );
    assert_eq!(p["containers"][0]["args"], json!(["tick"]));
    assert_eq!(
        p["containers"][0]["env"][0],
        json!({"name": "BGAPP_ENGINE", "value": "oci"})
    );
    // activeDeadlineSeconds backs up time_limit: the runtime stops the run
    // at 60 s and has stop_timeout + 2 s to end it.
    assert_eq!(p["activeDeadlineSeconds"], 67);
    assert_eq!(c["metadata"]["name"], "app-tick");
    assert!(p["containers"][0].get("livenessProbe").is_none());
    let np = objects
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy")
        .unwrap();
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(np["spec"].get("ingress").is_none() && np["spec"].get("egress").is_none());
}

/// Names are DNS-1123 labels; a CronJob's at most 52 characters, since
/// its Jobs append 11.
#[test]
fn names_are_dns_labels() {
    let long = "a".repeat(50);
    let err = map(
        &[task(&long, every(60), Restart::OnFailure)],
        &Kubernetes::default(),
    )
    .unwrap_err();
    assert!(matches!(err, K8sError::Name { max: 52, .. }), "{err}");
    let objects = map(
        &[task("Fetch_Data", every(60), Restart::OnFailure)],
        &Kubernetes::default(),
    )
    .unwrap();
    let cron = objects.iter().find(|o| o["kind"] == "CronJob").unwrap();
    assert_eq!(cron["metadata"]["name"], "app-fetch-data");
    let mut k = Kubernetes::default();
    k.tasks.insert("nope".into(), TaskKubernetes::default());
    assert_eq!(
        map(&[task("app", Trigger::Boot, Restart::Always)], &k).unwrap_err(),
        K8sError::UnknownTask("nope".into())
    );
}

/// An exec livenessProbe runs a command in the container and restarts it
/// on failure (core/v1 Probe): the app's own binary, since the image has
/// no shell, at the watchdog's period.
#[test]
fn watchdog_is_an_exec_liveness_probe() {
    let mut t = task("app", Trigger::Boot, Restart::Always);
    t.watchdog_ms = Some(2000);
    let d = one(&[t], "DaemonSet");
    let probe = &pod(&d)["containers"][0]["livenessProbe"];
    assert_eq!(
        probe["exec"]["command"],
        json!(["/usr/bin/app", "--bgapp-alive", "app"])
    );
    assert_eq!(probe["periodSeconds"], 2);
    assert_eq!(probe["failureThreshold"], 1);
}

/// `ready = "explicit"`: an exec readinessProbe (core/v1 Probe), in place
/// of `READY=1`, runs the app's own binary (no shell in the image); it
/// replaces the TCP probe of a listening task (listening is not being
/// ready). The default readiness keeps what it had: none, or the TCP probe.
#[test]
fn explicit_readiness_is_an_exec_readiness_probe() {
    let socket = Trigger::Socket {
        listen: "127.0.0.1:8080".into(),
    };
    let exec = json!(["/usr/bin/app", "--bgapp-ready", "app"]);
    for (trigger, kind) in [(Trigger::Boot, "DaemonSet"), (socket, "Deployment")] {
        let mut t = task("app", trigger, Restart::Always);
        t.ready = Readiness::Explicit;
        let w = one(std::slice::from_ref(&t), kind);
        let probe = &pod(&w)["containers"][0]["readinessProbe"];
        assert_eq!(probe["exec"]["command"], exec, "{kind}");
        assert!(probe.get("tcpSocket").is_none(), "{probe}");
        // The start timeout (systemd's 90s by default, or `start_timeout`)
        // is the startupProbe's period times its failure threshold.
        let startup = &pod(&w)["containers"][0]["startupProbe"];
        assert_eq!(startup["exec"]["command"], exec, "{kind}");
        assert_eq!(startup["periodSeconds"], 5);
        assert_eq!(startup["failureThreshold"], 18);
        t.start_timeout_ms = Some(2_500);
        let w = one(std::slice::from_ref(&t), kind);
        let startup = &pod(&w)["containers"][0]["startupProbe"];
        assert_eq!(startup["periodSeconds"], 3);
        assert_eq!(startup["failureThreshold"], 1);
        t.start_timeout_ms = None;

        t.ready = Readiness::Started;
        let w = one(std::slice::from_ref(&t), kind);
        let probe = &pod(&w)["containers"][0]["readinessProbe"];
        assert!(probe.get("exec").is_none(), "{probe}");
        assert!(pod(&w)["containers"][0].get("startupProbe").is_none());
        assert_eq!(
            probe.get("tcpSocket").is_some(),
            kind == "Deployment",
            "{probe}"
        );
    }
}

fn plan_with(tasks: &[TaskManifest], task: &str, relax: TaskConfig) -> Result<Output, K8sError> {
    let k = Kubernetes::default();
    let input = Input {
        package: "app",
        version: "0.1.0",
        images: vec![(tasks, "app:0.1.0".into(), "app".into())],
        relaxations: BTreeMap::from([(task.to_string(), relax)]),
        kubernetes: &k,
    };
    plan(&input)
}

/// apps/v1 validation refuses `activeDeadlineSeconds` in a Deployment's,
/// ReplicaSet's or DaemonSet's pod template (`Unsupported value`; the
/// offline schemas do not know it): only Jobs get the backstop, the others
/// a warning that the runtime's own limit is all there is.
#[test]
fn time_limit_is_a_backstop_in_jobs_only() {
    let mut socket = task(
        "web",
        Trigger::Socket {
            listen: "8080".into(),
        },
        Restart::Always,
    );
    let mut daemon = task("daemon", Trigger::Boot, Restart::Always);
    let mut job = task("once", Trigger::Boot, Restart::OnFailure);
    let mut deployed = task("deployed", Trigger::Boot, Restart::Always);
    for t in [&mut socket, &mut daemon, &mut job, &mut deployed] {
        t.time_limit_ms = Some(3_600_000);
    }
    let mut k = Kubernetes::default();
    k.tasks.insert(
        "deployed".into(),
        TaskKubernetes {
            workload: Some(Workload::Deployment),
        },
    );
    let tasks = [socket, daemon, job, deployed];
    let input = Input {
        package: "app",
        version: "0.1.0",
        images: vec![(&tasks, "app:0.1.0".into(), "app".into())],
        relaxations: BTreeMap::new(),
        kubernetes: &k,
    };
    let out = plan(&input).unwrap();
    let mut apps = 0;
    for o in &out.objects {
        match o["kind"].as_str().unwrap() {
            "Deployment" | "DaemonSet" => {
                apps += 1;
                assert!(
                    o["spec"]["template"]["spec"]
                        .get("activeDeadlineSeconds")
                        .is_none(),
                    "{o:#}"
                );
            }
            "Job" => assert_eq!(pod(o)["activeDeadlineSeconds"], 3607),
            _ => {}
        }
    }
    assert_eq!(apps, 3);
    let limits: Vec<&String> = out
        .warnings
        .iter()
        .filter(|w| w.contains("`time_limit` (1h) has no Kubernetes backstop"))
        .collect();
    assert_eq!(limits.len(), 3, "{:#?}", out.warnings);
    assert!(limits[0].starts_with("task `web`: "), "{}", limits[0]);
    assert!(limits[0].contains("in a Deployment"), "{}", limits[0]);
    assert!(limits[1].contains("in a DaemonSet"), "{}", limits[1]);
    assert!(
        limits[0].contains("the runtime itself cancels the run at the limit"),
        "{}",
        limits[0]
    );
}

/// What a ported daemon reads besides the manifest
/// (`[package.metadata.bgapp]`): its arguments follow the task name in the
/// container's `args` (ExecStart=); `listen` (the `.socket`'s address) is
/// the Service's port, while the container's is the attribute's, which the
/// runtime binds itself; the environment file is a ConfigMap (`envFrom`,
/// optional with `-`), the credentials a Secret mounted at
/// `$CREDENTIALS_DIRECTORY`, each with a warning that says how to create
/// it; groups by name and the device's read-only paths have no pod form
/// and are warned about, never dropped silently.
#[test]
fn the_daemons_configuration_in_the_pod() {
    let t = task(
        "wg-exporter",
        Trigger::Socket {
            listen: "127.0.0.1:9586".into(),
        },
        Restart::Always,
    );
    let relax = TaskConfig {
        args: Some(vec![
            "--prepend-sudo".into(),
            "--label".into(),
            "site a".into(),
        ]),
        environment_file: Some("-/etc/default/wg-exporter".into()),
        credentials: BTreeMap::from([("token".into(), "/etc/wg-exporter/token".into())]),
        supplementary_groups: vec!["wgread".into()],
        read_only_paths: vec!["-/etc/wireguard".into()],
        listen: Some("0.0.0.0:9600".into()),
        ..TaskConfig::default()
    };
    let out = plan_with(std::slice::from_ref(&t), "wg-exporter", relax).unwrap();
    let dep = out
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    let svc = out.objects.iter().find(|o| o["kind"] == "Service").unwrap();
    let c = &pod(dep)["containers"][0];
    assert_eq!(
        c["args"],
        json!(["wg-exporter", "--prepend-sudo", "--label", "site a"])
    );
    assert_eq!(c["ports"][0]["containerPort"], 9586);
    assert_eq!(svc["spec"]["ports"][0]["port"], 9600);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "listen");
    assert_eq!(
        c["envFrom"],
        json!([{ "configMapRef": { "name": "app-wg-exporter-environment", "optional": true } }])
    );
    assert_eq!(
        c["env"][1],
        json!({ "name": "CREDENTIALS_DIRECTORY", "value": "/run/credentials" })
    );
    assert_eq!(
        c["volumeMounts"][2],
        json!({ "name": "credentials", "mountPath": "/run/credentials", "readOnly": true })
    );
    assert_eq!(
        pod(dep)["volumes"][2],
        json!({ "name": "credentials", "secret": {
            "secretName": "app-wg-exporter-credentials",
            "defaultMode": 0o440,
            "items": [{ "key": "token", "path": "token" }],
        }})
    );
    let w = &out.warnings;
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(
        w.iter().all(|w| w.starts_with("task `wg-exporter`: ")),
        "{w:#?}"
    );
    let has = |s: &str| assert!(w.iter().any(|w| w.contains(s)), "{s}: {w:#?}");
    has("kubectl create configmap app-wg-exporter-environment --from-env-file=/etc/default/wg-exporter");
    has("kubectl create secret generic app-wg-exporter-credentials --from-file=token=/etc/wg-exporter/token");
    has("`supplementary-groups` (wgread) are left out of the pod");
    has("`read-only-paths` (-/etc/wireguard) are not in the pod");

    // Without `-` the ConfigMap is required, as the file is by systemd.
    let relax = TaskConfig {
        environment_file: Some("/etc/default/wg-exporter".into()),
        ..TaskConfig::default()
    };
    let out = plan_with(std::slice::from_ref(&t), "wg-exporter", relax).unwrap();
    let dep = out
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        pod(dep)["containers"][0]["envFrom"][0]["configMapRef"]["optional"],
        false
    );
    // A task that takes no arguments refuses them, as for the units.
    let mut none = t.clone();
    none.args = bgapp_manifest::Arguments::None;
    let relax = TaskConfig {
        args: Some(vec!["--label".into()]),
        ..TaskConfig::default()
    };
    assert_eq!(
        plan_with(&[none], "wg-exporter", relax).err(),
        Some(K8sError::ArgsForNoArgs("wg-exporter".into()))
    );
    // `listen` belongs to a socket task, as for the units.
    let relax = TaskConfig {
        listen: Some("9600".into()),
        ..TaskConfig::default()
    };
    let boot = task("app", Trigger::Boot, Restart::Always);
    assert_eq!(
        plan_with(&[boot], "app", relax).err(),
        Some(K8sError::ListenWithoutSocket("app".into()))
    );
    // A Unix socket in `listen` cannot be a Service's port.
    let relax = TaskConfig {
        listen: Some("/run/wg.sock".into()),
        ..TaskConfig::default()
    };
    assert!(matches!(
        plan_with(&[t], "wg-exporter", relax),
        Err(K8sError::Listen { .. })
    ));
}
