//! Each task's `NOTIFY_SOCKET`: a Unix datagram socket per task in the run
//! directory, so a message's task is known without `SCM_CREDENTIALS`. The
//! messages are what `Type=notify` services send: `READY=1`, `STATUS=`,
//! `STOPPING=1`, `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::wake::Waker;
use super::Event;

/// Binds `<run-dir>/<task>.notify` and posts each datagram as
/// [`Event::Notify`].
pub fn listen(run_dir: &Path, name: &str, task: usize, waker: Waker) -> anyhow::Result<PathBuf> {
    let path = run_dir.join(format!("{name}.notify"));
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path)
        .with_context(|| format!("failed to create `{}`", path.display()))?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            waker.send(Event::Notify { task, text });
        }
    });
    Ok(path)
}
