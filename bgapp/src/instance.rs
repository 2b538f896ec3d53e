//! `TaskInstance`: what a task function is given, as a Windows
//! background task is given its `IBackgroundTaskInstance`.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// The command line the task is given: the binary's name, then the
    /// task's arguments.
    pub argv: Vec<String>,
    /// Whether the task said it is ready (`TaskInstance::ready`).
    /// 0 or 1: a `usize` rather than a `bool`, so that it shares the
    /// deferral count's channel code (a new type of channel costs ~1.5 KB
    /// in every binary).
    pub ready: watch::Sender<usize>,
    /// Whether the task set its own `STATUS=`.
    pub status_set: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        manifest: TaskManifest,
        notifier: Notifier,
        activation: Activation,
        previous: PreviousExecution,
        state: StateStore,
        passed_fds: PassedFds,
        argv: Vec<String>,
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
            argv,
            ready: watch::Sender::new(0),
            status_set: Default::default(),
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

    /// The task's arguments: the command line after the binary's name, and
    /// after the task's name if it was given (see the crate docs on the
    /// command line).
    pub fn args(&self) -> &[String] {
        &self.shared.argv[1..]
    }

    /// The binary's name followed by [`args`](Self::args): what a command
    /// line parser expects, as `clap`'s `Command::try_get_matches_from`:
    ///
    /// ```ignore
    /// let matches = cli().try_get_matches_from(task.argv())?;
    /// ```
    ///
    /// Use the `try_` parsers (not `get_matches`, which exits the process)
    /// and `?`: with bgapp's `clap` feature, a `clap::Error` ends the run
    /// as [`Usage`](crate::Usage) does (help and version on stdout, exit 0;
    /// an error on stderr, exit 2), with no run record.
    pub fn argv(&self) -> &[String] {
        &self.shared.argv
    }

    /// Parses the task's command line with a `clap` derive parser: help,
    /// version and errors become a [`Usage`](crate::Usage), which ends the
    /// run with status 0 (help, version) or 2 (error) and no run record.
    ///
    /// ```ignore
    /// #[derive(clap::Parser)]
    /// #[command(version)]
    /// struct Cli { #[arg(short, long, default_value_t = 9586)] port: u16 }
    ///
    /// let cli: Cli = task.parse_args()?;
    /// ```
    #[cfg(feature = "clap")]
    pub fn parse_args<C: clap::Parser>(&self) -> Result<C, crate::Usage> {
        Ok(C::try_parse_from(self.argv())?)
    }

    /// Says the task is ready: with `ready = "explicit"` in the attribute,
    /// `READY=1` is sent now (systemd's `systemctl start` returns, and
    /// units ordered after the task start), not when the function starts.
    /// Call it once the socket is bound and the configuration read. A
    /// task with explicit readiness that ends before calling it fails its
    /// start, and one that has not called it within its `start_timeout`
    /// (90s by default) is stopped as a failure. Without the option, it
    /// does nothing.
    pub fn ready(&self) {
        self.shared
            .ready
            .send_if_modified(|ready| std::mem::replace(ready, 1) == 0);
    }

    /// A future that completes when the task is asked to stop: the
    /// graceful-shutdown signal of a server framework. `'static` and
    /// `Send`, so it can be given away:
    ///
    /// ```ignore
    /// axum::serve(listener, app).with_graceful_shutdown(task.shutdown()).await?;
    /// ```
    ///
    /// Also hyper's `GracefulShutdown` (`select!` on it, then
    /// `graceful.shutdown()`), or actix-web's `ServerHandle::stop(true)`
    /// from a spawned task that awaits it.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let task = self.clone();
        async move {
            task.cancelled().await;
        }
    }

    /// Runs `work` (a server's graceful shutdown, requests in flight) to its
    /// end, but not past the stop deadline: `Some(output)` if it finished,
    /// `None` if the deadline came first and the work was dropped. Until a
    /// stop is requested there is no deadline.
    ///
    /// It gives up a little before the deadline (a tenth of `stop_timeout`,
    /// at most 100 ms), so that the task can still return, log what was
    /// abandoned, and end with a recorded stop rather than a missed
    /// deadline (exit status 3).
    pub async fn drain<F: std::future::IntoFuture>(&self, work: F) -> Option<F::Output> {
        let margin = (self.shared.manifest.stop_timeout() / 10).min(Duration::from_millis(100));
        let deadline = async {
            let stop = self.cancelled().await;
            tokio::time::sleep_until(stop.deadline() - margin).await;
        };
        tokio::select! {
            biased;
            out = work.into_future() => Some(out),
            () = deadline => None,
        }
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
        self.shared
            .status_set
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.shared.notifier.status(&status);
        crate::engine::Engine::from_env().status(&status);
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
            .status_set
            .store(true, std::sync::atomic::Ordering::Relaxed);
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
        bind_tcp(crate::engine::Engine::from_env().bind_addr(addr))
    }
}

impl TaskInstance {
    /// A TCP listener that follows the daemon's own configuration: the
    /// socket the supervisor passed (socket activation, where the unit's
    /// `ListenStream=` chose the address), or, when none was passed, `addr`
    /// bound here: the address from the daemon's `--address`/`--port`.
    /// In a container (`BGAPP_ENGINE=oci`) a loopback address is bound as
    /// `0.0.0.0`/`[::]`, as [`tcp_listener`](Self::tcp_listener) binds the
    /// attribute's, so that a published port or a Service reaches it.
    ///
    /// ```ignore
    /// let listener = task.tcp_listener_or((cli.address, cli.port))?;
    /// ```
    pub fn tcp_listener_or(
        &self,
        addr: impl std::net::ToSocketAddrs,
    ) -> io::Result<tokio::net::TcpListener> {
        if let Some(l) = self.take_listener(false)? {
            let Listener::Tcp(l) = l else { unreachable!() };
            return Ok(l);
        }
        bind_tcp_first(addr, crate::engine::Engine::from_env())
    }

    /// A credential systemd passed to the task (`LoadCredential=`, the
    /// `credentials` key in `[package.metadata.bgapp]`): the content of
    /// `$CREDENTIALS_DIRECTORY/<id>`, a private copy only this service can
    /// read. `cargo bgapp run` passes none.
    ///
    /// ```ignore
    /// let token = task.credential_string("token")?;
    /// ```
    pub fn credential(&self, id: &str) -> io::Result<Vec<u8>> {
        read_credential(
            std::env::var_os(bgapp_manifest::env::CREDENTIALS_DIRECTORY),
            id,
        )
    }

    /// [`credential`](Self::credential) as UTF-8 text, without the line
    /// ends at its end (a file written by an editor has one).
    pub fn credential_string(&self, id: &str) -> io::Result<String> {
        let bytes = self.credential(id)?;
        let mut text = String::from_utf8(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "credential `{id}` is not UTF-8 text; read it with `task.credential(\"{id}\")`"
                ),
            )
        })?;
        let end = text.trim_end_matches(['\n', '\r']).len();
        text.truncate(end);
        Ok(text)
    }

    /// A Unix-socket listener: the socket the supervisor passed, or `path`
    /// bound here. A socket file left at `path` by an earlier run is
    /// removed first; any other file there is an error.
    pub fn unix_listener_or(&self, path: impl AsRef<Path>) -> io::Result<tokio::net::UnixListener> {
        if let Some(l) = self.take_listener(true)? {
            let Listener::Unix(l) = l else { unreachable!() };
            return Ok(l);
        }
        let path = path.as_ref();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("`{}` exists and is not a socket", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        tokio::net::UnixListener::bind(path)
    }

    /// Takes the first passed socket of the family (`unix` or not); the
    /// others stay for later calls.
    fn take_listener(&self, unix: bool) -> io::Result<Option<Listener>> {
        let mut fds = self.shared.passed_fds.lock().unwrap();
        for i in 0..fds.len() {
            if (socket_family(&fds[i].0)? == libc::AF_UNIX) == unix {
                let (fd, _) = fds.remove(i);
                return listener_from_fd(fd).map(Some);
            }
        }
        Ok(None)
    }
}

/// Binds the first of `addr`'s addresses that binds, each as the engine
/// binds a task's address (under a container engine, loopback is widened
/// so that a published port or a Service reaches it).
fn bind_tcp_first(
    addr: impl std::net::ToSocketAddrs,
    engine: crate::engine::Engine,
) -> io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match bind_tcp(engine.bind_addr(addr)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to listen on")))
}

/// `$CREDENTIALS_DIRECTORY/<id>`, `dir` the variable's value.
fn read_credential(dir: Option<std::ffi::OsString>, id: &str) -> io::Result<Vec<u8>> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("credential ID `{id}` is not a file name; write the ID given in `credentials`, like `token`"),
        ));
    }
    let Some(dir) = dir else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot read credential `{id}`: no credentials were passed (no `$CREDENTIALS_DIRECTORY`); add `credentials = {{ {id} = \"/path/on/the/device\" }}` to the task's `[package.metadata.bgapp]` (`cargo bgapp run` passes none)"),
        ));
    };
    let path = Path::new(&dir).join(id);
    std::fs::read(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read credential `{id}` from `{}`: {e}; is `{id}` in the task's `credentials`?", path.display()),
        )
    })
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

#[cfg(test)]
mod tests {
    use super::{bind_tcp_first, read_credential};
    use crate::engine::Engine;

    #[tokio::test]
    async fn the_daemons_own_loopback_address_is_widened_in_a_container() {
        // An adopted daemon's default, `127.0.0.1`: a published port or a
        // Service could not reach it inside a container.
        let l = bind_tcp_first(("127.0.0.1", 0), Engine::Oci).unwrap();
        let addr = l.local_addr().unwrap();
        assert!(addr.ip().is_unspecified(), "{addr}");
        // Under systemd (and `cargo bgapp run`) it is bound as written.
        let l = bind_tcp_first(("127.0.0.1", 0), Engine::Systemd).unwrap();
        assert!(l.local_addr().unwrap().ip().is_loopback());
    }

    #[test]
    fn credentials_are_read_by_id_with_errors_that_name_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), b"s3cret\n").unwrap();
        let passed = Some(dir.path().as_os_str().to_owned());
        assert_eq!(
            read_credential(passed.clone(), "token").unwrap(),
            b"s3cret\n"
        );

        let e = read_credential(passed.clone(), "other").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(
            msg.starts_with("cannot read credential `other` from `"),
            "{msg}"
        );
        assert!(
            msg.ends_with("; is `other` in the task's `credentials`?"),
            "{msg}"
        );

        let e = read_credential(None, "token").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot read credential `token`: no credentials were passed (no `$CREDENTIALS_DIRECTORY`); add `credentials = { token = \"/path/on/the/device\" }` to the task's `[package.metadata.bgapp]` (`cargo bgapp run` passes none)"
        );

        for id in ["../token", "a/b", "", ".", ".."] {
            let e = read_credential(passed.clone(), id).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{id:?}");
            assert_eq!(
                e.to_string(),
                format!("credential ID `{id}` is not a file name; write the ID given in `credentials`, like `token`")
            );
        }
    }
}
