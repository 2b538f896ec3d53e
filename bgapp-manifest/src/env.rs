//! The environment variables bgapp's parts pass to each other. systemd's
//! own (`NOTIFY_SOCKET`, `LISTEN_FDS`, `WATCHDOG_USEC`, ...) keep their
//! systemd names and are documented in systemd.exec(5).

/// The fd of the control channel a local supervisor (`cargo bgapp run`)
/// passes to a task; see [`crate::control`]. The runtime takes it at start
/// and removes the variable.
pub const CONTROL_FD: &str = "BGAPP_CONTROL_FD";

/// The directory a task keeps its run record and saved state in, when not
/// under systemd (which sets `STATE_DIRECTORY`): `cargo bgapp run` and tests.
pub const STATE_DIR: &str = "BGAPP_STATE_DIR";

/// The runtime's log level: `error`, `warn`, `info`, `debug`, `trace` or
/// `off`.
pub const LOG: &str = "BGAPP_LOG";

/// systemd's state directory for the unit (`StateDirectory=`).
pub const STATE_DIRECTORY: &str = "STATE_DIRECTORY";

/// The engine the task runs under, when it is not systemd and not
/// `cargo bgapp run`: set by the engine's manifest (an OCI image's config,
/// a Kubernetes pod), never guessed. Values: [`ENGINE_OCI`].
pub const ENGINE: &str = "BGAPP_ENGINE";

/// `BGAPP_ENGINE` under a container engine (podman, Docker, Kubernetes,
/// k3s): there, every exit status but 0 is a failure, so a timer task
/// that found no new data exits 0 (not [`crate::exit::NO_DATA`]) and says
/// so in its log.
pub const ENGINE_OCI: &str = "oci";

/// `<binary> --bgapp-alive TASK`, under [`ENGINE_OCI`]: exits 0 if the
/// task's runtime recorded a healthy watchdog tick within the watchdog's
/// interval (an exec liveness probe: the image has no shell).
pub const PROBE_ALIVE: &str = "--bgapp-alive";

/// `<binary> --bgapp-ready TASK`, under [`ENGINE_OCI`]: exits 0 once the
/// task is ready (it started, or with `ready = "explicit"` it called
/// `task.ready()`), the exec readiness probe that stands for `READY=1`.
pub const PROBE_READY: &str = "--bgapp-ready";

/// systemd's directory of the unit's credentials (`LoadCredential=`, the
/// `credentials` key): one file per ID. Read with `task.credential(ID)`.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";
