//! Starting one task process the way systemd starts a service: in its own
//! process group, with the listening socket at fd 3 (`LISTEN_FDS`), the
//! control socket after it (`BGAPP_CONTROL_FD`), and `LISTEN_PID` /
//! `WATCHDOG_PID` naming the process itself.
//!
//! The process's own pid is only known after `fork`, and the child of a
//! multi-threaded parent may not allocate. So the argument and environment
//! arrays are built before spawning, with the pid variables as fixed-size
//! slots; the `pre_exec` hook writes `getpid()`'s digits into the slots,
//! moves the descriptors into place with `dup2` and calls `execve` itself.
//! Everything it does is async-signal-safe, and no shell sits in between
//! (`sh -c 'LISTEN_PID=$$ exec ...'` would need `/bin/sh` and lose `argv[0]`).

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, BufRead as _, BufReader, Read as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::logs::Prefix;
use super::wake::Waker;
use super::Event;

/// Variables the supervisor sets itself; inherited values are dropped so
/// that a `cargo bgapp run` started under systemd does not leak its own.
const OWN_VARS: &[&str] = &[
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "TRIGGER_UNIT",
    "TRIGGER_PATH",
    "TRIGGER_TIMER_REALTIME_USEC",
    "TRIGGER_TIMER_MONOTONIC_USEC",
    bgapp_manifest::env::CONTROL_FD,
    bgapp_manifest::env::STATE_DIR,
    bgapp_manifest::env::STATE_DIRECTORY,
    "INVOCATION_ID",
];

/// Room for any pid's digits and the NUL.
const PID_SLOT: usize = 12;

/// What to start.
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
    /// Variables whose value is the child's pid (`LISTEN_PID`, `WATCHDOG_PID`).
    pub pid_vars: Vec<&'static str>,
    /// Passed at fd 3 (`LISTEN_FDS=1`).
    pub listen: Option<RawFd>,
    /// Passed after the listening sockets (`BGAPP_CONTROL_FD`).
    pub control: RawFd,
}

/// A NUL-terminated array of C strings that stays put in memory. The
/// buffers are held as raw pointers (not `Box`es, which assert uniqueness
/// when moved), so the pointers into them stay valid wherever this moves.
struct CArray {
    bufs: Vec<*mut [u8]>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArray {
    fn new(items: Vec<Vec<u8>>) -> CArray {
        let bufs: Vec<*mut [u8]> = items
            .into_iter()
            .map(|mut v| {
                v.push(0);
                Box::into_raw(v.into_boxed_slice())
            })
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = bufs
            .iter()
            .map(|&b| b.cast::<libc::c_char>().cast_const())
            .collect();
        ptrs.push(std::ptr::null());
        CArray { bufs, ptrs }
    }
}

impl Drop for CArray {
    fn drop(&mut self) {
        for &b in &self.bufs {
            // SAFETY: each pointer came from `Box::into_raw` and is freed once.
            drop(unsafe { Box::from_raw(b) });
        }
    }
}

/// The arrays and slots the `pre_exec` hook needs, built before the fork.
struct Exec {
    program: CString,
    argv: CArray,
    envp: CArray,
    /// Where each pid variable's digits go.
    pid_slots: Vec<*mut u8>,
    /// The supervisor's pid, to notice it died before the child set its
    /// parent-death signal.
    parent: libc::pid_t,
    /// Source descriptor and target number, in order.
    moves: Vec<(OwnedFd, RawFd)>,
}

// SAFETY: the raw pointers point into buffers `Exec` owns; it moves into the
// `pre_exec` closure whole and is only used there.
unsafe impl Send for Exec {}
// SAFETY: as for `Send`: nothing reads or writes through the pointers
// outside the child's `pre_exec` hook.
unsafe impl Sync for Exec {}

/// A copy of `fd` at 10 or above, so that moving descriptors to 3 and 4 in
/// the child never overwrites a source before it is moved.
fn high_dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we then own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn entry(key: &str, value: &OsStr) -> Vec<u8> {
    let mut e = key.as_bytes().to_vec();
    e.push(b'=');
    e.extend_from_slice(value.as_bytes());
    e
}

impl Exec {
    fn new(spec: &Spec<'_>) -> io::Result<Exec> {
        let program = CString::new(spec.program.as_os_str().as_bytes())
            .map_err(|_| io::Error::other("the binary's path holds a NUL byte"))?;
        let mut argv = vec![spec.program.as_os_str().as_bytes().to_vec()];
        argv.extend(spec.args.iter().map(|a| a.as_bytes().to_vec()));

        let mut moves = Vec::new();
        let mut next_fd = 3;
        if let Some(listen) = spec.listen {
            moves.push((high_dup(listen)?, next_fd));
            next_fd += 1;
        }
        let control_fd = next_fd;
        moves.push((high_dup(spec.control)?, control_fd));

        let mut env: Vec<Vec<u8>> = std::env::vars_os()
            .filter(|(k, _)| {
                !OWN_VARS.iter().any(|v| OsStr::new(v) == k)
                    && !spec.env.iter().any(|(ours, _)| OsStr::new(ours) == k)
            })
            .map(|(k, v)| {
                let mut e = k.as_bytes().to_vec();
                e.push(b'=');
                e.extend_from_slice(v.as_bytes());
                e
            })
            .collect();
        for (k, v) in &spec.env {
            env.push(entry(k, v));
        }
        env.push(entry(
            bgapp_manifest::env::CONTROL_FD,
            OsStr::new(&control_fd.to_string()),
        ));
        if spec.listen.is_some() {
            env.push(entry("LISTEN_FDS", OsStr::new("1")));
        }
        let first_slot = env.len();
        for var in &spec.pid_vars {
            let mut e = format!("{var}=").into_bytes();
            e.extend([0u8; PID_SLOT]);
            env.push(e);
        }
        let argv = CArray::new(argv);
        let envp = CArray::new(env);
        let pid_slots = spec
            .pid_vars
            .iter()
            .enumerate()
            .map(|(i, var)| {
                let buf = envp.bufs[first_slot + i].cast::<u8>();
                // SAFETY: the slot starts right after `VAR=`, inside the buffer.
                unsafe { buf.add(var.len() + 1) }
            })
            .collect();
        Ok(Exec {
            program,
            argv,
            envp,
            pid_slots,
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            moves,
        })
    }

    /// Runs in the child, between `fork` and `exec`: async-signal-safe only.
    fn exec(&self) -> io::Error {
        // SAFETY: getpid, getppid, prctl, dup2 and execve are
        // async-signal-safe; the slots are inside buffers this (child's
        // copy of) `Exec` owns.
        unsafe {
            // A supervisor that dies without stopping its tasks (SIGKILL,
            // a panic) takes them down as an operator stop would; the
            // thread that spawns is the supervisor's loop, which lives for
            // the whole run.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return io::Error::last_os_error();
            }
            if libc::getppid() != self.parent {
                return io::Error::other("the supervisor exited");
            }
            let mut pid = libc::getpid() as u32;
            let mut digits = [0u8; PID_SLOT];
            let mut n = 0;
            loop {
                digits[n] = b'0' + (pid % 10) as u8;
                n += 1;
                pid /= 10;
                if pid == 0 {
                    break;
                }
            }
            for &slot in &self.pid_slots {
                for i in 0..n {
                    *slot.add(i) = digits[n - 1 - i];
                }
                *slot.add(n) = 0;
            }
            for (from, to) in &self.moves {
                // dup2 leaves the copy without FD_CLOEXEC: it survives exec.
                if libc::dup2(from.as_raw_fd(), *to) < 0 {
                    return io::Error::last_os_error();
                }
            }
            libc::execve(
                self.program.as_ptr(),
                self.argv.ptrs.as_ptr(),
                self.envp.ptrs.as_ptr(),
            );
        }
        io::Error::last_os_error()
    }
}

/// Starts the process; its output is printed with `prefix`, and its end is
/// posted as [`Event::Exited`] once its output has been read.
pub fn spawn(spec: &Spec<'_>, task: usize, prefix: Prefix, waker: Waker) -> io::Result<u32> {
    let exec = Exec::new(spec)?;
    let mut cmd = Command::new(spec.program);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A terminal's Ctrl-C reaches the supervisor only; it stops the
        // tasks itself.
        .process_group(0);
    // SAFETY: `Exec::exec` is async-signal-safe (see the module doc).
    unsafe {
        cmd.pre_exec(move || Err(exec.exec()));
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    for (stream, to_stderr) in [
        (Box::new(out) as Box<dyn io::Read + Send>, false),
        (Box::new(err), true),
    ] {
        let prefix = prefix.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            // A line longer than this (a progress bar redrawn with `\r`,
            // binary output) is shown in pieces rather than buffered whole.
            const MAX_LINE: u64 = 64 * 1024;
            while (&mut reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .is_ok_and(|n| n > 0)
            {
                prefix.print(&line, to_stderr);
                line.clear();
            }
            drop(done);
        });
    }
    drop(done_tx);
    std::thread::spawn(move || wait(child, pid, task, done_rx, waker));
    Ok(pid)
}

fn wait(
    mut child: Child,
    pid: u32,
    task: usize,
    output: std::sync::mpsc::Receiver<()>,
    waker: Waker,
) {
    let status = match child.wait() {
        Ok(s) => s,
        Err(_) => return,
    };
    // What the task left behind goes with it, as systemd empties the
    // unit's cgroup when its main process ends.
    kill_group(pid, libc::SIGKILL);
    // Print the last lines before the exit; a grandchild that escaped the
    // group and holds the pipes does not hold up the exit.
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while output
        .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        .is_ok()
    {}
    waker.send(Event::Exited { task, pid, status });
}

/// Signals the task's process group (its pid, as it leads the group).
pub fn kill_group(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}

/// Signals the task's main process only.
pub fn kill_main(pid: u32, signal: i32) {
    // SAFETY: plain kill(2).
    unsafe {
        libc::kill(pid as i32, signal);
    }
}
