//! Waking the supervisor's loop: other threads post an [`Event`] and write
//! a byte to a pipe the loop polls; the SIGINT/SIGTERM/SIGHUP handler writes
//! the signal's number to the same pipe (`write` is async-signal-safe), so
//! the loop sleeps in one `poll` for everything.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;

use super::Event;

/// The pipe's write end, for the signal handler.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);
static SUPERVISOR_PID: AtomicI32 = AtomicI32::new(0);

/// The sending side, cloned into every thread.
#[derive(Clone)]
pub struct Waker {
    tx: mpsc::Sender<Event>,
    fd: std::sync::Arc<OwnedFd>,
}

impl Waker {
    pub fn send(&self, event: Event) {
        if self.tx.send(event).is_ok() {
            write_byte(self.fd.as_raw_fd(), 0);
        }
    }
}

/// The loop's side: the pipe to poll and the events to drain.
pub struct Wakeup {
    pub read: OwnedFd,
    pub rx: mpsc::Receiver<Event>,
}

impl Wakeup {
    /// Empties the pipe; returns the signals that arrived.
    pub fn drain_signals(&self) -> Vec<i32> {
        let mut signals = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a local buffer from a descriptor we own.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            signals.extend(
                buf[..n as usize]
                    .iter()
                    .filter(|&&b| b != 0)
                    .map(|&b| i32::from(b)),
            );
        }
        signals
    }
}

pub fn channel() -> io::Result<(Waker, Wakeup)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors, which we then own.
    let (read, write) = unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
            return Err(io::Error::last_os_error());
        }
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    let (tx, rx) = mpsc::channel();
    Ok((
        Waker {
            tx,
            fd: std::sync::Arc::new(write),
        },
        Wakeup { read, rx },
    ))
}

fn write_byte(fd: RawFd, byte: u8) {
    // A full pipe already wakes the loop, so a failed write loses nothing.
    // SAFETY: writes one byte from a local to a descriptor that outlives us.
    unsafe {
        libc::write(fd, (&byte as *const u8).cast(), 1);
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    // A task forked but not yet exec'd still runs this handler, and shares
    // the pipe: its Ctrl-C must not count as a second one.
    // SAFETY: getpid is async-signal-safe.
    if unsafe { libc::getpid() } != SUPERVISOR_PID.load(Ordering::Relaxed) {
        return;
    }
    if fd >= 0 {
        write_byte(fd, signal as u8);
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to the loop. Children get the default
/// dispositions back when they exec.
pub fn catch_signals(waker: &Waker) -> io::Result<()> {
    // The descriptor is kept open by `waker`, which the loop holds until exit.
    SIGNAL_FD.store(waker.fd.as_raw_fd(), Ordering::Relaxed);
    // SAFETY: getpid has no preconditions.
    SUPERVISOR_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only does an atomic load and a
        // write(2), both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_byte(fd: RawFd) -> Option<u8> {
        let mut byte = 0u8;
        // SAFETY: reads one byte into a local from a pipe this test owns.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        (n == 1).then_some(byte)
    }

    #[test]
    fn a_signal_caught_in_a_forked_child_is_not_the_supervisors() {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the array it is given.
        let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(made, 0);
        SIGNAL_FD.store(fds[1], Ordering::Relaxed);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };

        // Between fork and exec, a task runs the handler with another pid.
        SUPERVISOR_PID.store(me + 1, Ordering::Relaxed);
        on_signal(libc::SIGINT);
        assert_eq!(read_byte(fds[0]), None, "a task's Ctrl-C was counted");

        SUPERVISOR_PID.store(me, Ordering::Relaxed);
        on_signal(libc::SIGINT);
        assert_eq!(read_byte(fds[0]), Some(libc::SIGINT as u8));

        SIGNAL_FD.store(-1, Ordering::Relaxed);
        // SAFETY: closes the pipe this test made.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
