//! `TaskInstance`: what a task function is given, as a Windows
//! background task is given its `IBackgroundTaskInstance`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bgapp_manifest::{ListenAddress, TaskManifest, Trigger};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::activation::{Activation, PassedFds};
use crate::execution::{ExecutionState, PreviousExecution};
use crate::notify::Notifier;
use crate::state::StateStore;
use crate::{Cancellation, Deferral, FetchResult};

/// A lifecycle event other than cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The system is about to sleep. Save what must survive before the
    /// deadline; the process is frozen after it and may be killed without
    /// notice while asleep.
    Suspending { deadline: Instant },
    /// The system woke up.
    Resuming,
}

/// A subscription to lifecycle events, from [`TaskInstance::events`].
pub struct LifecycleEvents(broadcast::Receiver<LifecycleEvent>);

impl LifecycleEvents {
    /// Waits for the next sleep or resume of the system.
    pub async fn next(&mut self) -> LifecycleEvent {
        loop {
            match self.0.recv().await {
                Ok(ev) => return ev,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

type HealthCheck = Box<dyn Fn() -> bool + Send + Sync>;

pub(crate) struct Shared {
    pub manifest: TaskManifest,
    pub deferrals: watch::Sender<usize>,
    pub cancel: watch::Sender<Option<Cancellation>>,
    pub events: broadcast::Sender<LifecycleEvent>,
    pub notifier: Notifier,
    pub activation: Activation,
    pub previous: PreviousExecution,
    pub state: StateStore,
    pub report: Mutex<Option<FetchResult>>,
    pub heartbeat: watch::Sender<Instant>,
    pub health: Mutex<Option<HealthCheck>>,
    pub passed_fds: Mutex<PassedFds>,
    pub args: Vec<String>,
}

impl Shared {
    pub(crate) fn new(
        manifest: TaskManifest,
        notifier: Notifier,
        activation: Activation,
        previous: PreviousExecution,
        state: StateStore,
        passed_fds: PassedFds,
        args: Vec<String>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            manifest,
            deferrals: watch::Sender::new(0),
            cancel: watch::Sender::new(None),
            events: broadcast::Sender::new(16),
            notifier,
            activation,
            previous,
            state,
            report: Mutex::new(None),
            heartbeat: watch::Sender::new(Instant::now()),
            health: Mutex::new(None),
            passed_fds: Mutex::new(passed_fds),
            args,
        })
    }
}

/// The handle a task function receives. Cheap to clone; clones share the
/// task's deferrals, cancellation and state.
#[derive(Clone)]
pub struct TaskInstance {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for TaskInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskInstance")
            .field("name", &self.shared.manifest.name)
            .field("activation", &self.shared.activation)
            .finish_non_exhaustive()
    }
}

/// A listening socket passed by the supervisor.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl TaskInstance {
    /// The task's name, as the unit passes it.
    pub fn name(&self) -> &str {
        &self.shared.manifest.name
    }

    /// Everything the attribute declared.
    pub fn manifest(&self) -> &TaskManifest {
        &self.shared.manifest
    }

    /// Arguments after the task name on the command line.
    pub fn args(&self) -> &[String] {
        &self.shared.args
    }

    /// Keeps the process alive after the function returns, until the
    /// deferral is completed (or dropped).
    pub fn deferral(&self) -> Deferral {
        Deferral::new(self.shared.clone())
    }

    /// Waits until the task is asked to stop, and says why and by when.
    pub async fn cancelled(&self) -> Cancellation {
        let mut rx = self.shared.cancel.subscribe();
        let value = rx
            .wait_for(|c| c.is_some())
            .await
            .map(|c| c.expect("waited for Some"));
        match value {
            Ok(c) => c,
            // The sender lives in `Shared`, which this instance keeps alive.
            Err(_) => std::future::pending().await,
        }
    }

    /// The stop request, if one was made.
    pub fn cancellation(&self) -> Option<Cancellation> {
        *self.shared.cancel.borrow()
    }

    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.borrow().is_some()
    }

    /// Subscribes to the system's sleep and resume events. Take the
    /// subscription once and keep it: events are delivered from the moment
    /// of subscribing.
    pub fn events(&self) -> LifecycleEvents {
        LifecycleEvents(self.shared.events.subscribe())
    }

    /// Sets the one-line status shown by `systemctl status` (`STATUS=`).
    pub fn set_status(&self, status: impl Into<String>) {
        let status = status.into();
        tracing::debug!(task = %self.name(), "status: {status}");
        self.shared.notifier.status(&status);
    }

    /// Says the task is alive. With a `watchdog`, the runtime pings systemd
    /// only while heartbeats arrive at least once per watchdog interval (or
    /// a registered health check passes).
    pub fn heartbeat(&self) {
        self.shared.heartbeat.send_replace(Instant::now());
    }

    /// Registers a health check the watchdog consults instead of
    /// heartbeats: pings continue while it returns `true`.
    pub fn set_health_check(&self, check: impl Fn() -> bool + Send + Sync + 'static) {
        *self.shared.health.lock().unwrap() = Some(Box::new(check));
    }

    /// Why this run started.
    pub fn activation(&self) -> &Activation {
        &self.shared.activation
    }

    /// How the last run of this task ended.
    pub fn previous_execution_state(&self) -> ExecutionState {
        self.shared.previous.state()
    }

    /// The last run's state with its exit reason and crash count.
    pub fn previous_execution(&self) -> &PreviousExecution {
        &self.shared.previous
    }

    /// The task's persisted store.
    pub fn state(&self) -> &StateStore {
        &self.shared.state
    }

    /// Reports a timer task's outcome, as a background fetch does. It is
    /// logged, shown as `STATUS=`, and decides the exit status (0 for new
    /// data, 5 for no data, 1 for failed) when the function returns `Ok`.
    pub fn report(&self, result: FetchResult) {
        *self.shared.report.lock().unwrap() = Some(result);
        tracing::info!(task = %self.name(), "fetch result: {result}");
        self.shared
            .notifier
            .status(&format!("last fetch: {result}"));
    }

    /// The path a `path` task watches.
    pub fn trigger_path(&self) -> Option<&Path> {
        match &self.shared.manifest.trigger {
            Trigger::Path { path, .. } => Some(Path::new(path)),
            _ => None,
        }
    }

    /// Takes the sockets the supervisor passed (socket activation). Empty
    /// when the task was not socket-activated, or they were taken already.
    pub fn listeners(&self) -> io::Result<Vec<Listener>> {
        let fds: PassedFds = std::mem::take(&mut *self.shared.passed_fds.lock().unwrap());
        fds.into_iter()
            .map(|(fd, _)| listener_from_fd(fd))
            .collect()
    }

    /// A TCP listener for a socket task: the socket systemd passed, or, when
    /// not socket-activated, the task's `listen` address bound here.
    pub async fn tcp_listener(&self) -> io::Result<tokio::net::TcpListener> {
        for l in self.listeners()? {
            if let Listener::Tcp(t) = l {
                return Ok(t);
            }
        }
        let Trigger::Socket { listen } = &self.shared.manifest.trigger else {
            return Err(io::Error::other(format!(
                "task `{}` has no socket trigger, so there is no address to listen on",
                self.name()
            )));
        };
        let addr = ListenAddress::parse(listen)
            .ok()
            .and_then(|a| a.bind_addr())
            .ok_or_else(|| io::Error::other(format!("`{listen}` is not a TCP address")))?;
        bind_tcp(addr)
    }
}

fn bind_tcp(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    match bind_one(addr) {
        Ok(l) => Ok(l),
        // `[::]` is not available on hosts without IPv6; fall back to IPv4.
        Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            bind_one(std::net::SocketAddr::from(([0, 0, 0, 0], addr.port()))).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

fn bind_one(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn listener_from_fd(fd: OwnedFd) -> io::Result<Listener> {
    let family = socket_family(&fd)?;
    if family == libc::AF_UNIX {
        let l = std::os::unix::net::UnixListener::from(fd);
        l.set_nonblocking(true)?;
        Ok(Listener::Unix(tokio::net::UnixListener::from_std(l)?))
    } else {
        let l = std::net::TcpListener::from(fd);
        l.set_nonblocking(true)?;
        Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
    }
}

fn socket_family(fd: &OwnedFd) -> io::Result<libc::c_int> {
    // SAFETY: getsockname writes at most `len` bytes into the zeroed storage.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(
            fd.as_raw_fd(),
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(storage.ss_family as libc::c_int)
    }
}

/// Implemented only by [`TaskInstance`]: the macro asserts that a task's
/// argument has this type, whatever it is called where it is written.
#[diagnostic::on_unimplemented(
    message = "expected `bgapp::TaskInstance`, found `{Self}`",
    label = "a background task takes `task: bgapp::TaskInstance`"
)]
pub trait IsTaskInstance {
    #[doc(hidden)]
    fn from_instance(task: TaskInstance) -> Self;
}

impl IsTaskInstance for TaskInstance {
    fn from_instance(task: TaskInstance) -> Self {
        task
    }
}
