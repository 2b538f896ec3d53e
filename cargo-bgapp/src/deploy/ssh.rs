//! The transport: the system's OpenSSH client, with the user's config,
//! agent, keys and known_hosts, in batch mode (never a prompt), one
//! multiplexed master connection per host (`ControlMaster`), a connect
//! timeout, and host keys checked as the user configured, except that a
//! changed key is always refused (`StrictHostKeyChecking=no` becomes
//! `accept-new`).
//!
//! The master connection's own session is a shell kept open for the
//! whole command: scripts (the probe, the install, the health gate's
//! `systemctl show`, keeping the bundle) are written to it and their
//! output read back up to a marker, so they cost no new SSH session (a
//! session runs the user's login shell and its rc files on the device,
//! and a process of `ssh` here). The bundle goes over the same stream
//! ([`Session::upload`]) where the device's `head -c` reads exactly
//! the bytes asked for (GNU coreutils'); elsewhere a script with data on
//! its stdin runs in a session of its own, multiplexed over the same
//! connection.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};

use super::core::HostSpec;

/// How ssh is run: `--ssh-config`, the connect timeout.
#[derive(Clone, Debug)]
pub struct Options {
    /// `ssh -F`: a config file instead of `~/.ssh/config`.
    pub config: Option<PathBuf>,
    pub connect_timeout_secs: u32,
    /// The `ssh` program (`BGAPP_SSH`, default `ssh`).
    pub program: OsString,
}

/// The directory of the control sockets of one command, removed (with
/// every master closed) when dropped.
pub struct Masters {
    dir: PathBuf,
}

impl Masters {
    pub fn new() -> anyhow::Result<Masters> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = control_base(std::env::temp_dir());
        let mut n = 0u32;
        loop {
            let dir = base.join(format!("bgapp-ssh-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Masters { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "failed to create a directory for ssh's control sockets in `{}`: {e}",
                        base.display()
                    ))
                }
            }
        }
    }
}

/// Where the control sockets' folder goes: `$TMPDIR`, unless it is so
/// long that a socket path would pass the 108 bytes a Unix socket allows
/// (`%C` is 40, and ssh adds a temporary suffix while it binds), then
/// `/tmp`.
fn control_base(tmp: PathBuf) -> PathBuf {
    if tmp.as_os_str().len() > 40 {
        PathBuf::from("/tmp")
    } else {
        tmp
    }
}

impl Drop for Masters {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One host, reached through its master connection.
pub struct Session {
    pub spec: HostSpec,
    /// `ssh` and the options every call passes, up to the destination
    /// (without `ControlMaster`, which each call sets).
    args: Vec<OsString>,
    program: OsString,
    /// The master connection and the shell in its session, once
    /// connected and until closed.
    shell: Mutex<Option<Shell>>,
}

/// The master `ssh` process, whose session runs `sh -s` on the device.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What ssh and the scripts wrote on stderr, filled by a thread.
    stderr: Arc<(Mutex<Stderr>, Condvar)>,
    reader: std::thread::JoinHandle<()>,
    /// Ends each script's output: on stdout with its exit status, and on
    /// stderr alone on its line. Unguessable by what the scripts print.
    marker: String,
}

#[derive(Default)]
struct Stderr {
    bytes: Vec<u8>,
    closed: bool,
}

/// Why a host could not be used, in one line.
#[derive(Debug)]
pub struct SshError(pub String);

impl std::fmt::Display for SshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Session {
    /// Resolves the options for `spec` (`ssh -G`, no connection yet).
    pub fn new(spec: &HostSpec, options: &Options, masters: &Masters) -> Result<Session, SshError> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(config) = &options.config {
            args.push("-F".into());
            args.push(config.into());
        }
        if let Some(user) = &spec.user {
            args.push("-l".into());
            args.push(user.into());
        }
        if let Some(port) = spec.port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        let mut session = Session {
            spec: spec.clone(),
            args,
            program: options.program.clone(),
            shell: Mutex::new(None),
        };
        let strict = session.configured("stricthostkeychecking")?;
        let mut opts = vec![
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={}", options.connect_timeout_secs),
            format!("ControlPath={}/%C", masters.dir.display()),
            "ServerAliveInterval=5".to_string(),
            "ServerAliveCountMax=3".to_string(),
            "LogLevel=ERROR".to_string(),
        ];
        if matches!(strict.as_deref(), Some("false" | "no" | "off")) {
            opts.push("StrictHostKeyChecking=accept-new".to_string());
        }
        for o in opts {
            session.args.push("-o".into());
            session.args.push(o.into());
        }
        Ok(session)
    }

    /// One setting as ssh resolves it for this host (`ssh -G`).
    fn configured(&self, key: &str) -> Result<Option<String>, SshError> {
        let out = Command::new(&self.program)
            .arg("-G")
            .args(&self.args)
            .arg("--")
            .arg(&self.spec.host)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                SshError(format!(
                    "cannot run `{}`: {e}; deploy needs OpenSSH's client (Debian package `openssh-client`)",
                    self.program.to_string_lossy()
                ))
            })?;
        if !out.status.success() {
            return Err(SshError(one_line(&out.stderr, "ssh -G failed")));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().to_string())
        }))
    }

    /// `ssh` with the options, as a client of the master connection (or,
    /// should it be gone, over a connection of its own).
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-o", "ControlMaster=no"]).args(&self.args);
        cmd
    }

    /// Opens the master connection, with a shell in its session: the one
    /// place a host turns out to be unreachable, to refuse our key or to
    /// have another host key.
    pub fn connect(&self) -> Result<(), SshError> {
        let marker = marker();
        let mut child = Command::new(&self.program)
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            .args(&self.args)
            .args(["-T", "--"])
            .arg(&self.spec.host)
            .arg(format!("sh -c {}", quote(&command_loop(&marker))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SshError(format!("cannot run ssh: {e}")))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new((Mutex::new(Stderr::default()), Condvar::new()));
        let reader = {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = err.read(&mut buf).unwrap_or(0);
                    let (lock, cv) = &*stderr;
                    let mut e = lock.lock().unwrap_or_else(|p| p.into_inner());
                    if n == 0 {
                        e.closed = true;
                        cv.notify_all();
                        return;
                    }
                    e.bytes.extend_from_slice(&buf[..n]);
                    cv.notify_all();
                }
            })
        };
        *self.shell.lock().unwrap_or_else(|p| p.into_inner()) = Some(Shell {
            child,
            stdin,
            stdout,
            stderr,
            reader,
            marker,
        });
        let out = self.run(":", false, None)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SshError(one_line(
                &out.stderr,
                "the shell on the host failed",
            )))
        }
    }

    /// Runs `script` with `sh` on the host (as root through `sudo -n` when
    /// `sudo`), feeding it `input`: without input, in the master's shell;
    /// with input, in a session of its own.
    pub fn run(&self, script: &str, sudo: bool, input: Option<&[u8]>) -> Result<Output, SshError> {
        let remote = if sudo {
            format!("sudo -n sh -c {}", quote(script))
        } else {
            format!("sh -c {}", quote(script))
        };
        if input.is_none() {
            let mut guard = self.shell.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(shell) = guard.as_mut() {
                let result = shell.run(&remote);
                if result.is_err() {
                    if let Some(shell) = guard.take() {
                        shell.close();
                    }
                }
                return result;
            }
        }
        let mut child = self
            .command()
            .args(["-T", "--"])
            .arg(&self.spec.host)
            .arg(remote)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SshError(format!("cannot run ssh: {e}")))?;
        let writer = input.map(|bytes| {
            let mut stdin = child.stdin.take().expect("piped stdin");
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            })
        });
        let out = child
            .wait_with_output()
            .map_err(|e| SshError(format!("ssh failed: {e}")))?;
        if let Some(w) = writer {
            let _ = w.join();
        }
        if out.status.code() == Some(255) {
            return Err(SshError(explain(&out.stderr)));
        }
        Ok(out)
    }

    /// Copies `data` into a new temporary file on the host, over the
    /// shell's own stream; the file's path. Only for a host whose `head -c`
    /// reads no more than asked (GNU coreutils'), and with the shell open
    /// (else `None`): the shell reads its next command right after the
    /// data. When the copy fails the shell exits, never reading the rest
    /// of the data as commands.
    pub fn upload(&self, data: &[u8]) -> Result<Option<String>, SshError> {
        let mut guard = self.shell.lock().unwrap_or_else(|p| p.into_inner());
        let Some(shell) = guard.as_mut() else {
            return Ok(None);
        };
        let command = format!(
            "t=$(mktemp \"${{TMPDIR:-/tmp}}/bgapp-deploy.XXXXXX\") && head -c {} > \"$t\" || exit 1; printf '%s\\n' \"$t\"",
            data.len()
        );
        match shell.send(&command, data) {
            Ok(out) if out.status.success() => {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if path.is_empty() {
                    return Err(SshError("the copy of the bundle failed: no file".into()));
                }
                Ok(Some(path))
            }
            Ok(out) => Err(SshError(one_line(
                &out.stderr,
                "the copy of the bundle failed",
            ))),
            Err(e) => {
                if let Some(shell) = guard.take() {
                    shell.close();
                }
                Err(e)
            }
        }
    }

    /// Runs `script` with the terminal's stdout and stderr (`logs -f`),
    /// until it ends or this process is interrupted.
    pub fn run_attached(&self, script: &str, sudo: bool) -> Result<i32, SshError> {
        let remote = if sudo {
            format!("sudo -n sh -c {}", quote(script))
        } else {
            format!("sh -c {}", quote(script))
        };
        let status = self
            .command()
            .args(["-T", "--"])
            .arg(&self.spec.host)
            .arg(remote)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| SshError(format!("cannot run ssh: {e}")))?;
        Ok(status.code().unwrap_or(1))
    }

    /// Closes the shell and with it the master connection (once the
    /// sessions multiplexed over it have ended).
    pub fn close(&self) {
        let shell = self.shell.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(shell) = shell {
            shell.close();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shell {
    /// Writes `command` (one line of sh) to the shell and reads its
    /// stdout and stderr up to the marker.
    fn run(&mut self, command: &str) -> Result<Output, SshError> {
        self.send(&format!("{command} </dev/null"), &[])
    }

    /// Writes `command` and then `data`, which the command reads whole
    /// from the shell's stdin.
    fn send(&mut self, command: &str, data: &[u8]) -> Result<Output, SshError> {
        let m = &self.marker;
        let block = format!("{command}; printf '\\n{m} %d\\n' \"$?\"; printf '{m}\\n' >&2\n{m}\n");
        if self
            .stdin
            .write_all(block.as_bytes())
            .and_then(|()| self.stdin.write_all(data))
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            return Err(self.lost());
        }
        let mut stdout = Vec::new();
        let code = loop {
            let start = stdout.len();
            match self.stdout.read_until(b'\n', &mut stdout) {
                Ok(0) | Err(_) => return Err(self.lost()),
                Ok(_) => {}
            }
            if let Some(code) = end_line(&stdout[start..], m) {
                stdout.truncate(start);
                // The newline the marker's line starts with.
                stdout.pop();
                break code;
            }
        };
        let (lock, cv) = &*self.stderr;
        let mut err = lock.lock().unwrap_or_else(|p| p.into_inner());
        let end = format!("{m}\n");
        let stderr = loop {
            if let Some(at) = find_line(&err.bytes, end.as_bytes()) {
                let rest = err.bytes.split_off(at + end.len());
                let mut this = std::mem::replace(&mut err.bytes, rest);
                this.truncate(at);
                break this;
            }
            if err.closed {
                break std::mem::take(&mut err.bytes);
            }
            err = cv.wait(err).unwrap_or_else(|p| p.into_inner());
        };
        Ok(Output {
            status: ExitStatus::from_raw((code & 0xff) << 8),
            stdout,
            stderr,
        })
    }

    /// The connection ended: why, from ssh's stderr.
    fn lost(&mut self) -> SshError {
        let _ = self.child.wait();
        let (lock, cv) = &*self.stderr;
        let mut err = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !err.closed {
            err = cv.wait(err).unwrap_or_else(|p| p.into_inner());
        }
        SshError(explain(&err.bytes))
    }

    fn close(self) {
        let Shell {
            mut child,
            stdin,
            reader,
            ..
        } = self;
        drop(stdin);
        let _ = child.wait();
        let _ = reader.join();
    }
}

/// The shell the master connection's session runs: it reads a command's
/// lines up to a line that is `marker` alone, then runs them. `read`
/// takes one byte at a time from a pipe, so a command that reads the
/// shell's stdin gets the bytes right after its marker line (dash reading
/// its own script, as `sh -s` does, reads ahead).
fn command_loop(marker: &str) -> String {
    format!(
        "while :; do c=; while IFS= read -r l || exit 0; [ \"$l\" != '{marker}' ]; do c=\"$c$l\n\"; done; eval \"$c\"; done"
    )
}

/// The exit status on a line `<marker> <status>\n`.
fn end_line(line: &[u8], marker: &str) -> Option<i32> {
    let line = std::str::from_utf8(line).ok()?;
    let rest = line.strip_prefix(marker)?.strip_prefix(' ')?;
    rest.trim_end_matches('\n').parse().ok()
}

/// Where `line` starts a line of `bytes`.
fn find_line(bytes: &[u8], line: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + line.len() <= bytes.len() {
        if bytes[at..].starts_with(line) {
            return Some(at);
        }
        at += bytes[at..].iter().position(|&b| b == b'\n')? + 1;
    }
    None
}

/// A marker no script prints by chance: the process, the time, a counter.
fn marker() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "bgapp-end-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// ssh's complaint, in one line, with what to do where we know it.
fn explain(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return "its host key has changed since it was recorded in known_hosts; ssh refused it \
                (if the device was reinstalled, remove the old key with `ssh-keygen -R <host>`)"
            .into();
    }
    if text.contains("Host key verification failed")
        || text.contains("No ED25519 host key is known")
        || text.contains("host key is known for")
    {
        return "its host key is not in known_hosts, or differs from it: ssh refused it \
                (connect once with `ssh` to check and record the key)"
            .into();
    }
    if text.contains("Permission denied") {
        return format!(
            "{} (deploy runs ssh in batch mode: a key, from the agent or the ssh config, must be accepted)",
            one_line(stderr, "permission denied")
        );
    }
    one_line(stderr, "ssh failed")
}

/// The last non-empty line of ssh's stderr.
fn one_line(stderr: &[u8], default: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| {
            l.trim_end_matches('.')
                .trim_start_matches("ssh: ")
                .to_string()
        })
        .unwrap_or_else(|| default.to_string())
}

/// `text` as one word of a POSIX shell.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Paths under `dir` printed with `display`, for the ssh config option.
pub fn config_from_env() -> Option<PathBuf> {
    std::env::var_os("BGAPP_SSH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The `ssh` program: `BGAPP_SSH` or `ssh`.
pub fn program_from_env() -> OsString {
    std::env::var_os("BGAPP_SSH")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "ssh".into())
}

/// Whether `path` names an existing file (for `--ssh-config`).
pub fn check_config(path: &Path) -> anyhow::Result<()> {
    if !path.is_file() {
        anyhow::bail!(
            "the ssh config `{}` is not a file\n\nhelp: give `--ssh-config` (or `BGAPP_SSH_CONFIG`) an ssh_config file",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sockets_fit_a_socket_path() {
        assert_eq!(control_base("/tmp".into()), PathBuf::from("/tmp"));
        let long = PathBuf::from(format!("/home/{}/tmp", "x".repeat(60)));
        let base = control_base(long);
        let socket = base.join(format!(
            "bgapp-ssh-4194304-99/{}.XXXXXXXXXXXXXXXX",
            "c".repeat(40)
        ));
        assert!(socket.as_os_str().len() < 108, "{}", socket.display());
    }

    #[test]
    fn finds_the_marker_lines() {
        assert_eq!(end_line(b"bgapp-end-1-a-0 0\n", "bgapp-end-1-a-0"), Some(0));
        assert_eq!(
            end_line(b"bgapp-end-1-a-0 127\n", "bgapp-end-1-a-0"),
            Some(127)
        );
        assert_eq!(end_line(b"bgapp-end-1-a-0\n", "bgapp-end-1-a-0"), None);
        assert_eq!(end_line(b"xbgapp-end-1-a-0 0\n", "bgapp-end-1-a-0"), None);
        assert_eq!(end_line(b"bgapp-end-1-a-01 0\n", "bgapp-end-1-a-0"), None);
        let err = b"warning: m\nm\nnext";
        assert_eq!(find_line(err, b"m\n"), Some(11));
        assert_eq!(find_line(b"m\n", b"m\n"), Some(0));
        assert_eq!(find_line(b"am\n", b"m\n"), None);
        assert_ne!(marker(), marker());
    }

    #[test]
    fn quotes_for_sh() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn explains_ssh_failures_in_one_line() {
        let refused = b"ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n";
        assert_eq!(
            explain(refused),
            "connect to host 127.0.0.1 port 1: Connection refused"
        );
        let changed = b"@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@\nHost key verification failed.\n";
        assert!(explain(changed).contains("host key has changed"));
        let unknown = b"No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        assert!(explain(unknown).contains("not in known_hosts"));
        let denied = b"root@127.0.0.1: Permission denied (publickey).\r\n";
        assert!(explain(denied).contains("batch mode"));
    }
}
