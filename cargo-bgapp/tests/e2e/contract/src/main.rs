//! The end-to-end suite's app for what the templates do not show: the
//! watchdog and the exit-status contract, on a real systemd. A boot task
//! with a 2 s watchdog that beats every 200 ms until told otherwise by a
//! file an operator drops into its state directory:
//!
//! - `stall`: stop beating but keep listening for the stop, so the
//!   runtime must stop it (exit status 1) before systemd's watchdog fires;
//! - `freeze`: block the thread the runtime runs on, so that nothing pings
//!   and systemd's watchdog must kill it;
//! - `permanent`: fail with `bgapp::Permanent` (exit status 4), which the
//!   units must never restart.
//!
//! Each file is removed when read, so the next run starts healthy.
//!
//! Three more tasks crash at every start while their flag file exists, one
//! per trigger kind, and their crash loops must end `failed`: `crashy`
//! (path-triggered by its flag), `crashy-timer` (every 2 s) and
//! `crashy-socket` (a Unix socket; it never accepts, so a queued
//! connection keeps triggering it).
//!
//! Another, `daemon`, is a socket-activated daemon as one is packaged (see
//! `[package.metadata.bgapp.tasks.daemon]`): its own listen address,
//! arguments, an environment file, a credential, a file readable by its
//! supplementary group only; log lines at each level;
//! a helper process per request that the stop must not kill before the
//! task is done with it; a permanent failure at start when
//! `/etc/e2e-contract/fail-at-start` exists.

use std::path::Path;
use std::time::Duration;

use bgapp::{Listener, TaskInstance};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

#[bgapp::background_task(watchdog = "2s", stop_timeout = "3s")]
async fn main(task: TaskInstance) -> anyhow::Result<()> {
    let dir = task
        .state()
        .path()
        .parent()
        .expect("the state file is in a directory")
        .to_path_buf();
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let mut stalled = false;
    loop {
        tokio::select! {
            _ = task.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        if take(&dir.join("permanent")).await {
            return Err(bgapp::Permanent::new("told to fail for good").into());
        }
        if take(&dir.join("freeze")).await {
            tracing::warn!("freezing: blocking the runtime's thread");
            std::thread::sleep(Duration::from_secs(600));
        }
        if take(&dir.join("stall")).await {
            tracing::warn!("stalling: no more heartbeats");
            stalled = true;
        }
        if !stalled {
            task.heartbeat();
        }
    }
}

/// Started while `/run/e2e-contract/crash` exists, and crashes every time.
#[bgapp::background_task(trigger = path(exists = "/run/e2e-contract/crash"))]
async fn crashy(_task: TaskInstance) {
    panic!("crashy: crashing on purpose");
}

/// Runs every 2 s; crashes while `/run/e2e-contract/crash-timer` exists.
#[bgapp::background_task(name = "crashy-timer", trigger = timer(every = "2s"))]
async fn crashy_timer(_task: TaskInstance) {
    if Path::new("/run/e2e-contract/crash-timer").exists() {
        panic!("crashy-timer: crashing on purpose");
    }
}

/// Started by a connection; crashes while `/run/e2e-contract/crash-socket`
/// exists, else takes the connection and ends.
#[bgapp::background_task(
    name = "crashy-socket",
    trigger = socket(listen = "/run/e2e-contract-socket/crashy.sock")
)]
async fn crashy_socket(task: TaskInstance) -> anyhow::Result<()> {
    if Path::new("/run/e2e-contract/crash-socket").exists() {
        panic!("crashy-socket: crashing on purpose");
    }
    for listener in task.listeners()? {
        if let bgapp::Listener::Unix(listener) = listener {
            // Whatever is queued now; the socket unit starts it again for
            // the next.
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(100), listener.accept()).await
            {}
        }
    }
    Ok(())
}

/// Whether `file` was there; removes it.
async fn take(file: &Path) -> bool {
    tokio::fs::remove_file(file).await.is_ok()
}

/// Answers one line per connection on the Unix socket systemd passes:
/// `show` with what the package gave it, `hold` by starting a helper that
/// it lets finish its work when stopped.
#[bgapp::background_task(
    trigger = socket(listen = "/run/e2e-contract/attribute.sock"),
    stop_timeout = "10s"
)]
async fn daemon(task: TaskInstance) -> anyhow::Result<()> {
    if Path::new("/etc/e2e-contract/fail-at-start").exists() {
        return Err(bgapp::Permanent::new("told to fail at start").into());
    }
    let Some(Listener::Unix(listener)) = task.listeners()?.pop() else {
        anyhow::bail!("no Unix socket was passed");
    };
    let greeting = std::env::var("E2E_GREETING").unwrap_or_default();
    // The root-only credential (`credentials` in Cargo.toml).
    let token = task.credential_string("token")?;
    // Readable through the supplementary group only.
    let group_only = std::fs::read_to_string("/etc/e2e-contract/private/group-only.conf")
        .unwrap_or_else(|e| format!("unreadable: {e}"));
    tracing::warn!("daemon: a warning for the journal");
    tracing::error!("daemon: an error for the journal");
    // The `log` crate's records, as a daemon's dependencies write them.
    log::warn!("daemon: a log-crate warning for the journal");
    log::error!("daemon: a log-crate error for the journal");
    loop {
        let (conn, _) = tokio::select! {
            _ = task.cancelled() => return Ok(()),
            c = listener.accept() => c?,
        };
        let (read, mut write) = conn.into_split();
        let mut line = String::new();
        tokio::io::BufReader::new(read).read_line(&mut line).await?;
        if line.trim() == "hold" {
            return hold(&task, write).await;
        }
        let answer = format!(
            "greeting={greeting} token={} args={:?} group-only={}\n",
            token,
            task.args(),
            group_only.trim()
        );
        write.write_all(answer.as_bytes()).await?;
    }
}

/// Runs a helper, as a daemon runs `wg show` for a request, until the
/// task is stopped; then lets it finish and says how it ended.
async fn hold(
    task: &TaskInstance,
    mut conn: tokio::net::unix::OwnedWriteHalf,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut helper = std::process::Command::new("sh")
        .args([
            "-c",
            "echo helper started; read line; echo helper finished $line",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    conn.write_all(b"holding\n").await?;
    drop(conn);
    let _stop = task.cancelled().await;
    let mut stdin = helper.stdin.take().expect("piped");
    // A helper killed by the stop is gone: the write fails, the wait says so.
    let _ = writeln!(stdin, "its work");
    drop(stdin);
    let status = helper.wait()?;
    tracing::info!("daemon: helper ended: {status}");
    Ok(())
}
