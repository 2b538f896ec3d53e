//! The control channel: how a local supervisor (`cargo bgapp run`) tells a
//! task what the system is doing, without D-Bus.
//!
//! The supervisor creates a connected `AF_UNIX`/`SOCK_STREAM` socket pair,
//! passes one end to the app as an inherited fd and names it in the
//! environment: `BGAPP_CONTROL_FD=<fd>` (`bgapp_manifest::env::CONTROL_FD`). The runtime takes that fd at start
//! (marks it close-on-exec and removes the variable, so children see
//! neither) and then uses no D-Bus at all.
//!
//! The supervisor writes one [`ControlMessage`] per line (the protocol is
//! defined in `bgapp_manifest::control`).
//!
//! Unknown or malformed lines are logged as warnings and ignored; the end of
//! the stream is ignored (the task keeps running). The runtime writes
//! nothing back: the supervisor learns the outcome from the exit status and
//! the task's run record. With the channel in place a plain SIGTERM is an
//! operator stop (`stop-requested`).

use std::io::{self, Read};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

use tokio::sync::mpsc;
use tokio::time::Instant;

use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::env::CONTROL_FD as ENV;

use crate::lifecycle::Control;

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
    // SAFETY: the fd is open (fstat succeeded); F_SETFD only sets its flag.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: by the protocol the fd is ours alone, and the variable that
    // named it is gone, so nothing else takes ownership of it.
    Some(unsafe { UnixStream::from_raw_fd(fd) })
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: fstat only writes into the zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

/// One line of the protocol, as the task's lifecycle takes it.
pub(crate) fn parse(line: &str) -> Option<Control> {
    Some(match line.parse::<ControlMessage>().ok()? {
        ControlMessage::Sleep { deadline } => Control::Sleep(Instant::now() + deadline),
        ControlMessage::Resume => Control::Resume,
        ControlMessage::Stop { reason, deadline } => Control::Stop(reason, deadline),
    })
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
    use crate::CancellationReason;
    use std::time::Duration;

    #[test]
    fn messages_map_to_controls() {
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
            parse("stop time-limit 250"),
            Some(Control::Stop(
                CancellationReason::TimeLimit,
                Some(Duration::from_millis(250))
            ))
        );
        assert_eq!(parse("stop reboot"), None);
    }
}
