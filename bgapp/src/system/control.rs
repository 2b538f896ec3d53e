//! The control channel: how a local supervisor (`cargo bgapp run`) tells a
//! task what the system is doing, without D-Bus.
//!
//! The supervisor creates a connected `AF_UNIX`/`SOCK_STREAM` socket pair,
//! passes one end to the app as an inherited fd and names it in the
//! environment: `BGAPP_CONTROL_FD=<fd>`. The runtime takes that fd at start
//! (marks it close-on-exec and removes the variable, so children see
//! neither) and then uses no D-Bus at all.
//!
//! The supervisor writes UTF-8 lines, each ending in `\n`:
//!
//! | line | effect |
//! | --- | --- |
//! | `sleep <deadline_ms>` | `LifecycleEvent::Suspending`, deadline now + `deadline_ms` |
//! | `resume` | `LifecycleEvent::Resuming` |
//! | `stop <reason> [<deadline_ms>]` | a stop request; `reason` is one of `stop-requested`, `system-shutdown`, `system-sleep`, `time-limit`, `watchdog`, `fatal-error`; the deadline defaults to the task's `stop_timeout` |
//!
//! Unknown or malformed lines are logged as warnings and ignored; the end of
//! the stream is ignored (the task keeps running). The runtime writes
//! nothing back: the supervisor learns the outcome from the exit status and
//! the task's run record. With the channel in place a plain SIGTERM is an
//! operator stop (`stop-requested`).

use std::io::{self, Read};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::lifecycle::Control;
use crate::CancellationReason;

/// The environment variable naming the channel's fd.
pub const ENV: &str = "BGAPP_CONTROL_FD";

/// Takes the channel named by `BGAPP_CONTROL_FD`: removes the variable and
/// marks the fd close-on-exec. `None`, with a warning, if the variable does
/// not name a socket.
pub(crate) fn take_from_env() -> Option<UnixStream> {
    let value = std::env::var_os(ENV)?;
    std::env::remove_var(ENV);
    let fd = match value.to_str().unwrap_or_default().parse::<RawFd>() {
        Ok(fd) if fd >= 0 && is_socket(fd) => fd,
        _ => {
            warn(format_args!(
                "{value:?} is not an inherited socket; ignored"
            ));
            return None;
        }
    };
    // SAFETY: the fd is open (fstat succeeded) and, by the protocol, ours
    // alone; the variable is gone, so nothing else takes it.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(unsafe { UnixStream::from_raw_fd(fd) })
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: fstat only writes into the zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

/// One line of the protocol.
pub(crate) fn parse(line: &str) -> Option<Control> {
    let ms = |s: &str| s.parse::<u64>().ok().map(Duration::from_millis);
    let mut words = line.split_ascii_whitespace();
    let words = [words.next(), words.next(), words.next(), words.next()];
    match words {
        [Some("sleep"), Some(deadline), None, _] => {
            Some(Control::Sleep(Instant::now() + ms(deadline)?))
        }
        [Some("resume"), None, ..] => Some(Control::Resume),
        [Some("stop"), Some(reason), None, _] => {
            Some(Control::Stop(CancellationReason::parse(reason)?, None))
        }
        [Some("stop"), Some(reason), Some(deadline), None] => Some(Control::Stop(
            CancellationReason::parse(reason)?,
            Some(ms(deadline)?),
        )),
        _ => None,
    }
}

/// Reads commands on a small thread of its own, which blocks in `read`
/// (no wake-ups while idle) and ends with the stream.
pub(crate) fn start(mut stream: UnixStream, tx: mpsc::UnboundedSender<Control>) {
    let read = move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return warn(format_args!("failed: {e}")),
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..=end);
                match parse(&line) {
                    Some(c) => {
                        let _ = tx.send(c);
                    }
                    None => warn(format_args!("ignoring `{line}`")),
                }
            }
        }
    };
    if let Err(e) = super::spawn("bgapp-control", Box::new(read)) {
        warn(format_args!("cannot read it: {e}"));
    }
}

/// The one place this module logs from: each log site costs binary size.
#[inline(never)]
fn warn(what: std::fmt::Arguments<'_>) {
    tracing::warn!("control channel ({ENV}): {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let now = Instant::now();
        match parse("sleep 1500") {
            Some(Control::Sleep(at)) => {
                let d = at - now;
                assert!(d >= Duration::from_millis(1500) && d < Duration::from_millis(2500));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("resume"), Some(Control::Resume));
        assert_eq!(
            parse("stop system-shutdown"),
            Some(Control::Stop(CancellationReason::SystemShutdown, None))
        );
        assert_eq!(
            parse("stop time-limit 250\r"),
            Some(Control::Stop(
                CancellationReason::TimeLimit,
                Some(Duration::from_millis(250))
            ))
        );
        for bad in [
            "",
            "sleep",
            "sleep soon",
            "sleep -1",
            "resume now",
            "stop",
            "stop reboot",
            "stop watchdog 1 2",
            "STOP watchdog",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
