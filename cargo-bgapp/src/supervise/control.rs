//! The run directory of one package's `cargo bgapp run`
//! (`<target-dir>/bgapp/run/<package>/`) and the requests `cargo bgapp
//! trigger` sends to it.
//!
//! - `lock`: held (`flock`) by the live run and holding its pid, so a
//!   second run of the same package is refused and a socket left by a run
//!   that was killed is known to be stale.
//! - `run.sock`: a Unix stream socket; a client sends one JSON [`Request`]
//!   line and reads one JSON [`Reply`] line.
//! - `<task>.notify`: each task's `NOTIFY_SOCKET`.

use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use bgapp_manifest::CancellationReason;
use serde::{Deserialize, Serialize};

use super::wake::Waker;
use super::Event;

/// What `cargo bgapp trigger` asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Fire the task's trigger now (start it).
    Fire { task: String },
    /// Stop it: SIGTERM, or `stop <reason>` on its control socket.
    Stop {
        task: String,
        reason: Option<CancellationReason>,
    },
    /// `sleep <deadline_ms>` on its control socket.
    Sleep { task: String, deadline_ms: u64 },
    /// `resume` on its control socket.
    Resume { task: String },
}

impl Request {
    /// The task it is for.
    pub fn task(&self) -> &str {
        match self {
            Request::Fire { task }
            | Request::Stop { task, .. }
            | Request::Sleep { task, .. }
            | Request::Resume { task } => task,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
}

impl Reply {
    pub fn ok(message: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            message: message.into(),
        }
    }

    /// Sends the reply; a client that went away is not an error.
    pub fn send(&self, mut stream: UnixStream) {
        if let Ok(mut line) = serde_json::to_string(self) {
            line.push('\n');
            let _ = stream.write_all(line.as_bytes());
        }
    }
}

pub fn run_dir(target_dir: &Path, package: &str) -> PathBuf {
    target_dir.join("bgapp").join("run").join(package)
}

pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join("run.sock")
}

/// The lock of a live run; released when dropped (or the process ends).
pub struct RunLock {
    _file: File,
}

/// Takes the run directory for this process, or says which run holds it.
pub fn lock(run_dir: &Path, package: &str) -> anyhow::Result<RunLock> {
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("failed to create `{}`", run_dir.display()))?;
    let path = run_dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        bail!(
            "another `cargo bgapp run` of package `{package}` is running (pid {})\n\n\
             help: stop it first (Ctrl-C), or send it events with `cargo bgapp trigger`",
            pid.trim()
        );
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(RunLock { _file: file })
}

/// Binds `run.sock` (the lock is held, so a file there is stale) and
/// serves requests on a thread, posting each as [`Event::Request`].
pub fn serve(run_dir: &Path, waker: Waker) -> anyhow::Result<PathBuf> {
    let path = socket_path(run_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("failed to create the control socket `{}`", path.display()))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut line = String::new();
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            if BufReader::new(reader).read_line(&mut line).is_err() {
                continue;
            }
            match serde_json::from_str::<Request>(&line) {
                Ok(request) => waker.send(Event::Request {
                    request,
                    reply: stream,
                }),
                Err(e) => Reply::error(format!("malformed request: {e}")).send(stream),
            }
        }
    });
    Ok(path)
}

/// Sends one request to the live run of `package` and waits for its reply.
pub fn send(run_dir: &Path, package: &str, request: &Request) -> anyhow::Result<Reply> {
    let path = socket_path(run_dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            bail!(
                "no `cargo bgapp run` of package `{package}` is running\n\n\
                 help: start one in another terminal with `cargo bgapp run`"
            )
        }
        Err(e) => {
            return Err(e).with_context(|| format!("failed to connect to `{}`", path.display()))
        }
    };
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .context("failed to read the reply of `cargo bgapp run`")?;
    if answer.is_empty() {
        bail!("`cargo bgapp run` of package `{package}` ended before it replied");
    }
    serde_json::from_str(&answer).context("malformed reply from `cargo bgapp run`")
}
