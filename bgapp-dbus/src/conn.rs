//! The connection: a Unix socket to the bus, authentication, and fds
//! passed with `SCM_RIGHTS`. Blocking I/O and no dispatcher: one thread
//! reads messages with [`Conn::next`] and matches replies to calls by
//! serial; any thread may [`Conn::send`] meanwhile.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use crate::codec::{bad, client_greeting, Incoming, Message};

/// Most fds taken from one `recvmsg`.
const MAX_FDS: usize = 16;

/// The system bus's address: `DBUS_SYSTEM_BUS_ADDRESS` or the default.
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unix:path=/run/dbus/system_bus_socket".into())
}

/// Connects to the first reachable `unix:path=`/`unix:abstract=` entry of a
/// bus address (`;`-separated, values `%`-escaped).
fn connect_unix(address: &str) -> io::Result<UnixStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no unix: entry in the address");
    // Entries are `transport:key=value,...`; only `unix:` has `path` or
    // `abstract` keys (`unixexec:path=` names a program: connecting to it
    // fails, and the next entry is tried).
    for kv in address.split([';', ',']) {
        {
            let kv = kv.strip_prefix("unix:").unwrap_or(kv);
            // An abstract name starts with a nul byte in the address.
            let (lead, name) = match kv.split_once('=') {
                Some(("path", v)) => (0, unescape(v)),
                Some(("abstract", v)) => (1, unescape(v)),
                _ => continue,
            };
            // SAFETY: sockaddr_un is plain data, filled within its bounds;
            // the fd is owned by `sock` from the moment it exists.
            unsafe {
                let mut sa: libc::sockaddr_un = std::mem::zeroed();
                sa.sun_family = libc::AF_UNIX as _;
                if lead + name.len() >= sa.sun_path.len() {
                    last = io::Error::new(io::ErrorKind::InvalidInput, "socket path too long");
                    continue;
                }
                for (i, b) in name.iter().enumerate() {
                    sa.sun_path[lead + i] = *b as _;
                }
                let len = std::mem::size_of::<libc::sa_family_t>() + lead + name.len();
                // Non-blocking: a wedged bus with a full backlog answers
                // EAGAIN at once instead of holding the task's start.
                let fd = libc::socket(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    0,
                );
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let sock = UnixStream::from_raw_fd(fd);
                if libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len as _) == 0 {
                    sock.set_nonblocking(false)?;
                    return Ok(sock);
                }
                last = io::Error::last_os_error();
            }
        }
    }
    Err(last)
}

fn unescape(v: &str) -> Vec<u8> {
    let hex = |c: Option<u8>| (c? as char).to_digit(16);
    let mut out = Vec::new();
    let mut bytes = v.bytes();
    while let Some(c) = bytes.next() {
        let byte = match c {
            // A malformed escape is kept as it is: the connect then fails.
            b'%' => match (hex(bytes.clone().next()), hex(bytes.clone().nth(1))) {
                (Some(h), Some(l)) => {
                    bytes.nth(1);
                    (h * 16 + l) as u8
                }
                _ => c,
            },
            _ => c,
        };
        out.push(byte);
    }
    out
}

/// A connection to a bus: blocking I/O, meant for one reader thread
/// ([`Conn::next`]) while any thread may [`Conn::send`].
pub struct Conn {
    sock: UnixStream,
    /// Held while writing, so messages do not interleave; counts serials.
    serial: Mutex<u32>,
}

impl Conn {
    /// Connects to `address` and writes authentication and `Hello` in one
    /// go; the answers come through [`Conn::next`]. Writes give up after
    /// `write_timeout`, so a stuck bus cannot hold a sender for long.
    pub fn connect(address: &str, write_timeout: Duration) -> io::Result<Conn> {
        let sock = connect_unix(address)?;
        sock.set_write_timeout(Some(write_timeout))?;
        // SAFETY: geteuid has no failure mode.
        let uid = unsafe { libc::geteuid() };
        (&sock).write_all(&client_greeting(uid))?;
        Ok(Conn {
            sock,
            serial: Mutex::new(1),
        })
    }

    /// Sends a message; returns its serial, which the reply names. `sent`
    /// sees the serial before the message leaves, so a reader thread can
    /// never see the reply first.
    pub fn send_then(&self, m: &Message, sent: &dyn Fn(u32)) -> io::Result<u32> {
        // Poisoned only if `sent` panicked; the count is still good.
        let mut serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        *serial = serial.wrapping_add(1).max(1);
        sent(*serial);
        (&self.sock).write_all(&m.encode(*serial))?;
        Ok(*serial)
    }

    pub fn send(&self, m: &Message) -> io::Result<u32> {
        self.send_then(m, &|_| {})
    }

    /// The next message that is not part of authentication; `None` when
    /// `until` passes first. Fails when the connection ends or breaks
    /// the protocol, or authentication is refused.
    pub fn next(
        &self,
        incoming: &mut Incoming,
        until: Option<std::time::Instant>,
    ) -> io::Result<Option<Message>> {
        loop {
            if let Some(m) = incoming.parse()? {
                return Ok(Some(m));
            }
            let ms = match until {
                Some(u) => match u.checked_duration_since(std::time::Instant::now()) {
                    Some(left) => left.as_millis().min(i32::MAX as u128) as i32 + 1,
                    None => return Ok(None),
                },
                None => -1,
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            } else if pfd.revents != 0 {
                self.receive(incoming)?;
            }
        }
    }

    /// One `recvmsg` into `incoming`; fds go to its fd queue.
    fn receive(&self, incoming: &mut Incoming) -> io::Result<()> {
        let mut data = [0u8; 2048];
        // u64s keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 4 + MAX_FDS / 2];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain data; its pointers outlive the call, and
        // the cmsg walk stays within what the kernel filled in.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            let n = libc::recvmsg(self.sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(()),
                    _ => Err(e),
                };
            }
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let p = libc::CMSG_DATA(c) as *const RawFd;
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i)));
                        incoming.fds.push(fd);
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            if msg.msg_flags & libc::MSG_CTRUNC != 0 {
                return Err(bad("D-Bus: too many fds in one message"));
            }
            n as usize
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        incoming.push(&data[..n]);
        Ok(())
    }

    /// Sends a message with its `fds` attached (`SCM_RIGHTS` on its first
    /// byte). For the tests' fake services.
    pub fn send_with_fds(&self, m: &Message) -> io::Result<u32> {
        let fds: Vec<RawFd> = m.fds.iter().map(|f| f.as_raw_fd()).collect();
        if fds.is_empty() || fds.len() > MAX_FDS {
            return Err(bad("D-Bus: 1 to 16 fds per message"));
        }
        let mut serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        *serial = serial.wrapping_add(1).max(1);
        let bytes = m.encode(*serial);
        let fd_bytes = std::mem::size_of_val(&fds[..]) as u32;
        let mut control = [0u64; 4 + MAX_FDS / 2];
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut _,
            iov_len: bytes.len(),
        };
        // SAFETY: as in `receive`; the control buffer fits MAX_FDS fds.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(fd_bytes) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(fd_bytes) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(c) as *mut RawFd,
                fds.len(),
            );
            libc::sendmsg(self.sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        (&self.sock).write_all(&bytes[n as usize..])?;
        Ok(*serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Writer, METHOD_RETURN};

    #[test]
    fn a_bus_with_a_full_backlog_does_not_hold_the_start() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = std::env::temp_dir().join(format!("bgapp-dbus-backlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bus");
        // A listener that never accepts, with the smallest backlog.
        // SAFETY: plain socket calls on a socket this test owns.
        let listener = unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            let mut sa: libc::sockaddr_un = std::mem::zeroed();
            sa.sun_family = libc::AF_UNIX as _;
            for (i, b) in path.as_os_str().as_bytes().iter().enumerate() {
                sa.sun_path[i] = *b as _;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
            OwnedFd::from_raw_fd(fd)
        };
        let address = format!("unix:path={}", path.display());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let result = loop {
                match connect_unix(&address) {
                    Ok(sock) if held.len() < 64 => held.push(sock),
                    Ok(_) => break Ok(()),
                    Err(e) => break Err(e.kind()),
                }
            };
            let _ = tx.send(result);
        });
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("connecting to a full backlog blocked");
        assert_eq!(result, Err(io::ErrorKind::WouldBlock));
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn addresses_are_unescaped() {
        assert_eq!(unescape("/tmp/dbus-%41b%2c"), b"/tmp/dbus-Ab,");
        assert_eq!(unescape("100%"), b"100%");
        let dir = std::env::temp_dir().join(format!("bgapp-addr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a,b");
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let escaped = path.to_str().unwrap().replace(',', "%2c");
        let address = format!("tcp:host=x;unix:path=/nonexistent/sock;unix:path={escaped},guid=1");
        assert!(connect_unix(&address).is_ok());
        assert_eq!(
            connect_unix("tcp:host=localhost,port=1")
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_connection_authenticates_and_receives_fds() {
        use std::io::Read;
        let dir = std::env::temp_dir().join(format!("bgapp-dbus-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bus");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let conn = Conn::connect(
            &format!("unix:path={}", path.display()),
            Duration::from_secs(10),
        )
        .unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // SAFETY: geteuid has no failure mode.
        let greeting = client_greeting(unsafe { libc::geteuid() });
        let mut got = vec![0; greeting.len()];
        (&server).read_exact(&mut got).unwrap();
        assert_eq!(got, greeting);
        (&server)
            .write_all(b"OK 0123456789abcdef\r\nAGREE_UNIX_FD\r\n")
            .unwrap();
        // The server's side, as a fake service would send: a reply to
        // Hello, then one with a pipe's write end.
        let server = Conn {
            sock: server,
            serial: Mutex::new(0),
        };
        let mut hello = Message::default().with_body("s", Writer::new().str(":1.1"));
        (hello.kind, hello.reply_serial) = (METHOD_RETURN, 1);
        assert_eq!(server.send(&hello).unwrap(), 1);
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the array with two new fds, owned below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the two fds pipe2 just made, each owned once.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        hello.reply_serial = 2;
        hello.fds = vec![write_end];
        assert_eq!(server.send_with_fds(&hello).unwrap(), 2);
        drop(hello);

        let until = Some(std::time::Instant::now() + Duration::from_secs(10));
        let mut incoming = Incoming::default();
        let first = conn.next(&mut incoming, until).unwrap().unwrap();
        assert_eq!(
            (first.serial, first.reply_serial, first.fds.len()),
            (1, 1, 0)
        );
        assert_eq!(first.body().str().unwrap(), ":1.1");
        let mut second = conn.next(&mut incoming, until).unwrap().unwrap();
        assert_eq!((second.serial, second.fds.len()), (2, 1));
        // The fd is the pipe's: what is written to it comes out.
        let mut pipe = std::fs::File::from(second.fds.pop().unwrap());
        pipe.write_all(b"x").unwrap();
        drop(pipe);
        let mut out = Vec::new();
        std::fs::File::from(read_end).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"x");
        // Nothing more: `next` gives up at its deadline.
        let soon = Some(std::time::Instant::now() + Duration::from_millis(20));
        assert!(conn.next(&mut incoming, soon).unwrap().is_none());
        // The server hangs up: the end of the connection is an error.
        drop(server);
        assert_eq!(
            conn.next(&mut incoming, until).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
