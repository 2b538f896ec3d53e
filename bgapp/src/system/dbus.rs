//! A minimal D-Bus client: just what the runtime needs to talk to logind
//! and systemd, in a few hundred lines instead of a D-Bus crate (binaries
//! ship to small devices).
//!
//! - Transport: a Unix socket (`unix:path=` or `unix:abstract=`). SASL
//!   `AUTH EXTERNAL <hex uid>`, `NEGOTIATE_UNIX_FD`, `BEGIN` and the `Hello`
//!   call are written in one go (as sd-bus does); the server answers in
//!   order, so nothing waits for a round trip.
//! - Marshalling: the basic types (`y b u t s o g h`), variants of them,
//!   and the header's array of `(byte, variant)` structs. Messages are
//!   written little-endian; both byte orders are read.
//! - Blocking I/O and no dispatcher: one thread reads messages with
//!   [`Conn::next`] and matches replies to calls by serial; any thread may
//!   [`Conn::send`] meanwhile. Synchronous code is a fraction of the size
//!   of the async equivalent, and a thread blocked in `poll` costs no
//!   wake-ups. Unix fds arrive with `SCM_RIGHTS` and are attached to the
//!   message whose `UNIX_FDS` header field claims them.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

/// Message types.
pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;
/// Header flag: the sender does not want a reply.
pub const NO_REPLY_EXPECTED: u8 = 1;

/// Header field codes; the text ones index [`Message::fields`].
pub const PATH: usize = 1;
pub const INTERFACE: usize = 2;
pub const MEMBER: usize = 3;
pub const ERROR_NAME: usize = 4;
pub const REPLY_SERIAL: usize = 5;
pub const DESTINATION: usize = 6;
pub const SENDER: usize = 7;
pub const SIGNATURE: usize = 8;
pub const UNIX_FDS: usize = 9;

/// Longest message accepted. What this client is sent (replies to its few
/// calls, logind's signals) is small; a bigger message, such as a signal
/// any local user may address to this connection, is skipped as it
/// arrives, never buffered whole.
const MAX_MESSAGE: usize = 64 << 10;
/// Most fds taken from one `recvmsg`.
const MAX_FDS: usize = 16;

fn bad(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Appends marshalled values. Alignment is relative to the buffer's
/// start; headers and bodies both start 8-aligned in a message.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn align(&mut self, n: usize) {
        while self.buf.len() % n != 0 {
            self.buf.push(0);
        }
    }

    pub fn byte(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u32(v as u32)
    }

    /// A string or object path (`s`, `o`).
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v.as_bytes());
        self.buf.push(0);
        self
    }

    /// A signature (`g`): one length byte.
    pub fn sig(&mut self, v: &str) -> &mut Self {
        self.buf.push(v.len() as u8);
        self.buf.extend_from_slice(v.as_bytes());
        self.buf.push(0);
        self
    }
}

/// A value read from a variant, of the types the runtime reads: `u h` as
/// `U32`, `t`, and `s o g` as `Str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    U32(u32),
    U64(u64),
    Str(String),
}

/// Reads marshalled values from a buffer whose start is 8-aligned.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], big_endian: bool) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            big_endian,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| bad("D-Bus: truncated value"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn align(&mut self, n: usize) -> io::Result<()> {
        self.take((n - self.pos % n) % n).map(drop)
    }

    pub fn byte(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn number<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        self.align(N)?;
        let mut b: [u8; N] = self.take(N)?.try_into().unwrap();
        if self.big_endian {
            b.reverse();
        }
        Ok(b)
    }

    pub fn u32(&mut self) -> io::Result<u32> {
        self.number().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> io::Result<u64> {
        self.number().map(u64::from_le_bytes)
    }

    pub fn bool(&mut self) -> io::Result<bool> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad("D-Bus: boolean is neither 0 nor 1")),
        }
    }

    fn text(&mut self, len: usize) -> io::Result<String> {
        match self.take(len + 1)?.split_last() {
            Some((0, s)) => {
                String::from_utf8(s.to_vec()).map_err(|_| bad("D-Bus: string not UTF-8"))
            }
            _ => Err(bad("D-Bus: string not nul-terminated")),
        }
    }

    /// A string or object path (`s`, `o`).
    pub fn str(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        self.text(len)
    }

    pub fn sig(&mut self) -> io::Result<String> {
        let len = self.byte()? as usize;
        self.text(len)
    }

    /// A variant holding one basic value; other contents are an error.
    pub fn variant(&mut self) -> io::Result<Value> {
        let sig = self.sig()?;
        Ok(match sig.as_bytes() {
            b"u" | b"h" => Value::U32(self.u32()?),
            b"t" => Value::U64(self.u64()?),
            b"s" | b"o" => Value::Str(self.str()?),
            b"g" => Value::Str(self.sig()?),
            _ => return Err(bad("D-Bus: unsupported variant type")),
        })
    }
}

/// A message. Text header fields live in `fields` (empty when absent),
/// indexed by their code
/// ([`PATH`], [`INTERFACE`], [`MEMBER`], [`ERROR_NAME`], [`DESTINATION`],
/// [`SENDER`], [`SIGNATURE`]).
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub flags: u8,
    pub serial: u32,
    /// 0 when absent (serials start at 1).
    pub reply_serial: u32,
    /// By code; the numeric fields (`REPLY_SERIAL`, `UNIX_FDS`) stay empty.
    pub fields: [String; 10],
    pub body: Vec<u8>,
    pub fds: Vec<OwnedFd>,
    big_endian: bool,
}

impl Message {
    pub fn method_call(destination: &str, path: &str, interface: &str, member: &str) -> Message {
        let mut m = Message {
            kind: METHOD_CALL,
            ..Message::default()
        };
        for (code, v) in [
            (DESTINATION, destination),
            (PATH, path),
            (INTERFACE, interface),
            (MEMBER, member),
        ] {
            m.fields[code] = v.into();
        }
        m
    }

    /// Sets the body; `sig` must describe what `body` holds.
    pub fn with_body(mut self, sig: &str, body: &Writer) -> Message {
        self.fields[SIGNATURE] = sig.into();
        self.body = body.buf.clone();
        self
    }

    /// A text header field; empty when absent. Panics past [`SIGNATURE`].
    pub fn field(&self, code: usize) -> &str {
        &self.fields[code]
    }

    /// Whether this is `interface.member`.
    pub fn is(&self, interface: &str, member: &str) -> bool {
        self.field(INTERFACE) == interface && self.field(MEMBER) == member
    }

    /// A reader over the body.
    pub fn body(&self) -> Reader<'_> {
        Reader::new(&self.body, self.big_endian)
    }

    /// The wire form, little-endian, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut w = Writer::new();
        w.byte(b'l').byte(self.kind).byte(self.flags).byte(1);
        w.u32(self.body.len() as u32).u32(serial);
        // Laid out from offset 0 of their own buffer; in the message they
        // start at 16, also 8-aligned, so the padding holds.
        let mut f = Writer::new();
        for (code, text) in self.fields.iter().enumerate() {
            let number = match code {
                REPLY_SERIAL => self.reply_serial,
                UNIX_FDS => self.fds.len() as u32,
                _ => 0,
            };
            if text.is_empty() && number == 0 {
                continue;
            }
            f.align(8);
            f.byte(code as u8);
            match code {
                REPLY_SERIAL | UNIX_FDS => f.sig("u").u32(number),
                SIGNATURE => f.sig("g").sig(text),
                PATH => f.sig("o").str(text),
                _ => f.sig("s").str(text),
            };
        }
        w.u32(f.buf.len() as u32);
        w.buf.extend_from_slice(&f.buf);
        w.align(8);
        w.buf.extend_from_slice(&self.body);
        w.buf
    }

    /// Parses the message at the start of `buf`; returns it and its length,
    /// or `None` while it is incomplete. The fds it claims are taken from
    /// `fds`, those received so far, in order.
    pub fn decode(buf: &[u8], fds: &mut Vec<OwnedFd>) -> io::Result<Option<(Message, usize)>> {
        let Some(fixed) = buf.get(..16) else {
            return Ok(None);
        };
        let big_endian = match fixed[0] {
            b'l' => false,
            b'B' => true,
            _ => return Err(bad("D-Bus: unknown byte order")),
        };
        let mut r = Reader::new(fixed, big_endian);
        r.pos = 1;
        let mut m = Message {
            kind: r.byte()?,
            flags: r.byte()?,
            big_endian,
            ..Message::default()
        };
        if r.byte()? != 1 {
            return Err(bad("D-Bus: unknown protocol version"));
        }
        let body_len = r.u32()? as usize;
        m.serial = r.u32()?;
        let fields_end = 16 + r.u32()? as usize;
        let len = ((fields_end + 7) & !7).saturating_add(body_len);
        if len > MAX_MESSAGE {
            return Err(bad("D-Bus: message too long"));
        }
        if buf.len() < len {
            return Ok(None);
        }
        let mut r = Reader::new(&buf[..len], big_endian);
        r.pos = 16;
        let mut unix_fds = 0;
        while r.pos < fields_end {
            r.align(8)?;
            let code = r.byte()? as usize;
            match (code, r.variant()?) {
                (REPLY_SERIAL, Value::U32(v)) => m.reply_serial = v,
                (UNIX_FDS, Value::U32(v)) => unix_fds = v as usize,
                (REPLY_SERIAL | UNIX_FDS, _) => {
                    return Err(bad("D-Bus: header field of the wrong type"))
                }
                (1..=8, Value::Str(v)) => m.fields[code] = v,
                (1..=8, _) => return Err(bad("D-Bus: header field of the wrong type")),
                _ => {} // unknown fields are ignored, as the spec says
            }
        }
        if r.pos != fields_end {
            return Err(bad("D-Bus: header fields overrun"));
        }
        r.align(8)?;
        m.body = r.take(body_len)?.to_vec();
        if unix_fds > fds.len() {
            return Err(bad("D-Bus: message claims fds that did not arrive"));
        }
        m.fds = fds.drain(..unix_fds).collect();
        Ok(Some((m, len)))
    }
}

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

/// `Hello` with serial 1, as `Message::encode` lays it out (a unit test
/// checks that).
const HELLO: &[u8] = b"l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x6d\x00\x00\x00\
    \x01\x01o\x00\x15\x00\x00\x00/org/freedesktop/DBus\x00\x00\x00\
    \x02\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00\x00\x00\x00\
    \x03\x01s\x00\x05\x00\x00\x00Hello\x00\x00\x00\
    \x06\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00\x00\x00\x00";

/// A connection to a bus: blocking I/O, meant for one reader thread
/// ([`Conn::next`]) while any thread may [`Conn::send`].
pub struct Conn {
    sock: UnixStream,
    /// Held while writing, so messages do not interleave; counts serials.
    serial: Mutex<u32>,
}

/// What the reader has received and not yet parsed.
#[derive(Default)]
pub struct Incoming {
    buf: Vec<u8>,
    fds: Vec<OwnedFd>,
    /// Bytes of a too-long message still to discard.
    skip: usize,
    /// Lines of the server's authentication answer consumed (2 in all).
    auth_lines: u8,
}

impl Conn {
    /// Connects to `address` and writes authentication and `Hello` in one
    /// go; the answers come through [`Conn::next`]. Writes give up after
    /// `write_timeout`, so a stuck bus cannot hold a sender for long.
    pub fn connect(address: &str, write_timeout: Duration) -> io::Result<Conn> {
        let sock = connect_unix(address)?;
        sock.set_write_timeout(Some(write_timeout))?;
        let mut bytes = b"\0AUTH EXTERNAL ".to_vec();
        // The uid in decimal, each digit hex-encoded: `0`..`9` are 0x30..0x39.
        let mut uid = unsafe { libc::geteuid() };
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while i == digits.len() || uid > 0 {
            i -= 2;
            digits[i..i + 2].copy_from_slice(&[b'3', b'0' + (uid % 10) as u8]);
            uid /= 10;
        }
        bytes.extend_from_slice(&digits[i..]);
        bytes.extend_from_slice(b"\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        bytes.extend_from_slice(HELLO);
        (&sock).write_all(&bytes)?;
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
        incoming.buf.extend_from_slice(&data[..n]);
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

impl Incoming {
    fn parse(&mut self) -> io::Result<Option<Message>> {
        // `OK <guid>`, then `AGREE_UNIX_FD` (or an `ERROR`: no fds).
        while self.auth_lines < 2 {
            let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            if self.auth_lines == 0 && !self.buf.starts_with(b"OK ") {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "D-Bus authentication refused",
                ));
            }
            self.buf.drain(..end + 2);
            self.auth_lines += 1;
        }
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
                self.buf.shrink_to(4 * 1024);
            }
            match message_len(&self.buf) {
                Some(len) if len > MAX_MESSAGE => {
                    // Fds arrive with their message's first byte: those
                    // queued now came with this one.
                    self.fds.clear();
                    self.skip = len;
                    continue;
                }
                _ => {}
            }
            let Some((m, len)) = Message::decode(&self.buf, &mut self.fds)? else {
                return Ok(None);
            };
            self.buf.drain(..len);
            return Ok(Some(m));
        }
    }
}

/// The whole length of the message whose fixed header starts `buf`, once
/// its 16 bytes are there.
fn message_len(buf: &[u8]) -> Option<usize> {
    let fixed = buf.get(..16)?;
    let u32_at = |i: usize| {
        let bytes = [fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]];
        let n = if fixed[0] == b'B' {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        };
        n as usize
    };
    let fields_end = 16 + u32_at(12);
    Some(((fields_end + 7) & !7).saturating_add(u32_at(4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(bytes: &[u8]) -> Message {
        Message::decode(bytes, &mut Vec::new()).unwrap().unwrap().0
    }

    #[test]
    fn a_message_too_long_is_skipped_as_it_arrives() {
        let signal = |member: &str| Message {
            kind: SIGNAL,
            ..Message::method_call("", "/x", "org.example.X", member)
        };
        let mut w = Writer::new();
        w.str(&"y".repeat(MAX_MESSAGE * 2));
        let big = signal("Big").with_body("s", &w);
        let small = signal("Small");
        let mut stream = big.encode(7);
        stream.extend(small.encode(8));

        let mut incoming = Incoming {
            auth_lines: 2,
            ..Incoming::default()
        };
        let mut got = Vec::new();
        for chunk in stream.chunks(2048) {
            incoming.buf.extend_from_slice(chunk);
            while let Some(m) = incoming.parse().unwrap() {
                got.push(m.serial);
            }
            assert!(
                incoming.buf.len() <= MAX_MESSAGE,
                "buffered {}",
                incoming.buf.len()
            );
        }
        assert_eq!(got, [8], "the long one skipped, the next one read");
    }

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
    fn hello_is_marshalled_as_the_spec_lays_it_out() {
        let m = Message::method_call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
        );
        let mut want = Vec::new();
        want.extend_from_slice(b"l\x01\x00\x01"); // order, call, flags, version
        want.extend_from_slice(&0u32.to_le_bytes()); // body length
        want.extend_from_slice(&1u32.to_le_bytes()); // serial
        want.extend_from_slice(&0x6du32.to_le_bytes()); // fields, unpadded
        want.extend_from_slice(b"\x01\x01o\x00\x15\x00\x00\x00/org/freedesktop/DBus\x00\x00\x00");
        want.extend_from_slice(
            b"\x02\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00\x00\x00\x00",
        );
        want.extend_from_slice(b"\x03\x01s\x00\x05\x00\x00\x00Hello\x00\x00\x00");
        want.extend_from_slice(b"\x06\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00");
        want.extend_from_slice(&[0, 0, 0]); // header padded to 8
        assert_eq!(hex(&m.encode(1)), hex(&want));
        assert_eq!(hex(HELLO), hex(&want));
    }

    #[test]
    fn body_values_are_aligned_to_their_size() {
        let mut w = Writer::new();
        w.byte(7).u32(1).str("ab").u64(2).bool(true).sig("sv");
        w.sig("t").u64(3);
        let want = "07000000 01000000 02000000 61620000 0200000000000000 01000000 02737600 0174000000000000 0300000000000000";
        assert_eq!(hex(&w.buf), want.replace(' ', ""));
        let mut r = Reader::new(&w.buf, false);
        assert_eq!(r.byte().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 1);
        assert_eq!(r.str().unwrap(), "ab");
        assert_eq!(r.u64().unwrap(), 2);
        assert!(r.bool().unwrap());
        assert_eq!(r.sig().unwrap(), "sv");
        assert_eq!(r.variant().unwrap(), Value::U64(3));
        assert!(r.at_end());
    }

    #[test]
    fn variants_of_each_basic_type_are_read() {
        let mut w = Writer::new();
        w.sig("s").str("stopping").sig("h").u32(0).sig("u").u32(7);
        w.sig("o").str("/x").sig("g").sig("a{sv}").sig("y").byte(9);
        let mut r = Reader::new(&w.buf, false);
        assert_eq!(r.variant().unwrap(), Value::Str("stopping".into()));
        assert_eq!(r.variant().unwrap(), Value::U32(0));
        assert_eq!(r.variant().unwrap(), Value::U32(7));
        assert_eq!(r.variant().unwrap(), Value::Str("/x".into()));
        assert_eq!(r.variant().unwrap(), Value::Str("a{sv}".into()));
        // Bytes (and booleans) in variants are not needed by the runtime.
        assert!(r.variant().is_err());
        // Containers are not basic values.
        let mut w = Writer::new();
        w.sig("as").u32(0);
        assert!(Reader::new(&w.buf, false).variant().is_err());
    }

    #[test]
    fn a_message_round_trips_with_its_fields_and_fds() {
        let mut m = Message::method_call("org.x", "/org/x", "org.x.I", "Get").with_body(
            "ss",
            Writer::new()
                .str("org.freedesktop.login1.Manager")
                .str("Delay"),
        );
        m.fields[SENDER] = ":1.7".into();
        m.flags = NO_REPLY_EXPECTED;
        m.reply_serial = 5;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        m.fds = vec![OwnedFd::from(a), OwnedFd::from(b)];
        let mut bytes = m.encode(42);
        bytes.extend_from_slice(b"next message");
        let mut fds: Vec<OwnedFd> = m.fds.drain(..).collect();
        let (d, len) = Message::decode(&bytes, &mut fds).unwrap().unwrap();
        assert_eq!(len, bytes.len() - b"next message".len());
        assert_eq!(
            (d.kind, d.flags, d.serial, d.reply_serial),
            (METHOD_CALL, NO_REPLY_EXPECTED, 42, 5)
        );
        assert_eq!(d.field(PATH), "/org/x");
        assert_eq!(d.field(DESTINATION), "org.x");
        assert_eq!(d.field(SENDER), ":1.7");
        assert_eq!(d.field(ERROR_NAME), "");
        assert!(d.is("org.x.I", "Get"));
        assert_eq!(d.field(SIGNATURE), "ss");
        assert_eq!(d.fds.len(), 2);
        assert!(fds.is_empty());
        let mut r = d.body();
        assert_eq!(r.str().unwrap(), "org.freedesktop.login1.Manager");
        assert_eq!(r.str().unwrap(), "Delay");
        assert!(r.at_end());
    }

    #[test]
    fn incomplete_input_waits_and_bad_input_is_an_error() {
        let mut m =
            Message::method_call("d", "/p", "i.f", "S").with_body("b", Writer::new().bool(true));
        m.kind = SIGNAL;
        let bytes = m.encode(3);
        let mut fds = Vec::new();
        for cut in [0, 10, 16, 20, bytes.len() - 1] {
            assert!(
                Message::decode(&bytes[..cut], &mut fds).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        let mut wrong = bytes.clone();
        wrong[0] = b'x';
        assert!(Message::decode(&wrong, &mut fds).is_err());
        let mut version = bytes.clone();
        version[3] = 2;
        assert!(Message::decode(&version, &mut fds).is_err());
        // A boolean must be 0 or 1.
        let mut two = bytes.clone();
        let at = two.len() - 4;
        two[at] = 2;
        assert!(decode(&two).body().bool().is_err());
        // Claiming an fd that did not arrive.
        let m = Message {
            fds: vec![OwnedFd::from(
                std::os::unix::net::UnixStream::pair().unwrap().0,
            )],
            ..Message::default()
        };
        assert!(Message::decode(&m.encode(4), &mut fds).is_err());
        // Strings must end within the buffer, with a nul.
        assert!(Reader::new(b"\x09\x00\x00\x00abc", false).str().is_err());
        assert!(Reader::new(b"\x02\x00\x00\x00abc", false).str().is_err());
        assert!(Reader::new(&[0xff; 8], false).variant().is_err());
    }

    #[test]
    fn big_endian_messages_are_read() {
        let mut b = Vec::new();
        b.extend_from_slice(b"B\x04\x00\x01");
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(&9u32.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes()); // fields, unpadded
        b.extend_from_slice(b"\x08\x01g\x00\x01b\x00\x00"); // SIGNATURE "b"
        b.extend_from_slice(&1u32.to_be_bytes());
        let (m, len) = Message::decode(&b, &mut Vec::new()).unwrap().unwrap();
        assert_eq!((m.kind, m.serial, len), (SIGNAL, 9, b.len()));
        assert_eq!(m.field(SIGNATURE), "b");
        assert!(m.body().bool().unwrap());
        assert_eq!(
            Reader::new(&[0, 0, 0, 0, 0, 0, 1, 2], true).u64().unwrap(),
            258
        );
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
}
