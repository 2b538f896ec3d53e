//! The wire format, over byte slices: no sockets, no system calls.
//!
//! - [`Writer`] and [`Reader`] marshal the basic types (`y b u t s o g`,
//!   `h` as its index) with the alignment the specification asks for,
//!   relative to the start of their buffer (headers and bodies both start
//!   8-aligned in a message).
//! - [`Message::encode`] and [`Message::decode`] turn a whole message into
//!   bytes and back. Messages built here are little-endian; one read in
//!   either byte order is written back in the same order, since its body
//!   is kept as it came.
//! - [`Incoming`] is what a reader has received: the server's two
//!   authentication lines, then messages, each taken out whole once it is
//!   there. A message longer than [`MAX_MESSAGE`] is skipped as it arrives,
//!   never buffered whole.
//!
//! No unsafe code: a malformed input can only be an error (or, for a bug,
//! a panic, which the fuzz targets look for).
#![forbid(unsafe_code)]

use std::io;
use std::os::fd::OwnedFd;

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
/// arrives by [`Incoming`], never buffered whole.
pub const MAX_MESSAGE: usize = 64 << 10;

/// Longest authentication line awaited: the server's are `OK <guid>` and
/// `AGREE_UNIX_FD`, well under this.
const MAX_AUTH_LINE: usize = 1024;

pub(crate) fn bad(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn byte_order(b: u8) -> io::Result<bool> {
    match b {
        b'l' => Ok(false),
        b'B' => Ok(true),
        _ => Err(bad("D-Bus: unknown byte order")),
    }
}

/// Appends marshalled values. Alignment is relative to the buffer's
/// start; headers and bodies both start 8-aligned in a message.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
    big_endian: bool,
}

impl Writer {
    /// A little-endian writer, the byte order of every message built here.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer in the given byte order.
    pub fn with_byte_order(big_endian: bool) -> Writer {
        Writer {
            buf: Vec::new(),
            big_endian,
        }
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

    fn number<const N: usize>(&mut self, mut le: [u8; N]) -> &mut Self {
        self.align(N);
        if self.big_endian {
            le.reverse();
        }
        self.buf.extend_from_slice(&le);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.number(v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.number(v.to_le_bytes())
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

    /// A signature (`g`): one length byte, so at most 255 bytes long (the
    /// specification's limit).
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

    /// `len` bytes and their nul terminator.
    fn text(&mut self, len: usize) -> io::Result<&'a [u8]> {
        match self.take(len.saturating_add(1))?.split_last() {
            Some((0, s)) => Ok(s),
            _ => Err(bad("D-Bus: string not nul-terminated")),
        }
    }

    fn string(s: &[u8]) -> io::Result<String> {
        String::from_utf8(s.to_vec()).map_err(|_| bad("D-Bus: string not UTF-8"))
    }

    /// A string or object path (`s`, `o`).
    pub fn str(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        Self::string(self.text(len)?)
    }

    /// A signature (`g`).
    pub fn sig(&mut self) -> io::Result<String> {
        Self::string(self.sig_bytes()?)
    }

    fn sig_bytes(&mut self) -> io::Result<&'a [u8]> {
        let len = self.byte()? as usize;
        self.text(len)
    }

    /// A variant holding one basic value; other contents are an error.
    pub fn variant(&mut self) -> io::Result<Value> {
        let sig = self.sig_bytes()?;
        self.value(sig)
    }

    fn value(&mut self, sig: &[u8]) -> io::Result<Value> {
        Ok(match sig {
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
    /// Sent as `SCM_RIGHTS`; their number is the `UNIX_FDS` field.
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

    /// Sets the body; `sig` must describe what `body` holds. The message
    /// takes the writer's byte order.
    pub fn with_body(mut self, sig: &str, body: &Writer) -> Message {
        self.fields[SIGNATURE] = sig.into();
        self.body = body.buf.clone();
        self.big_endian = body.big_endian;
        self
    }

    /// A text header field; empty when absent. Panics past [`UNIX_FDS`].
    pub fn field(&self, code: usize) -> &str {
        &self.fields[code]
    }

    /// Whether this is `interface.member`.
    pub fn is(&self, interface: &str, member: &str) -> bool {
        self.field(INTERFACE) == interface && self.field(MEMBER) == member
    }

    /// Whether the message is big-endian: one read so, or whose body was
    /// written so.
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    /// A reader over the body.
    pub fn body(&self) -> Reader<'_> {
        Reader::new(&self.body, self.big_endian)
    }

    /// The wire form, with `serial`, in the message's byte order.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut w = Writer::with_byte_order(self.big_endian);
        let order = if self.big_endian { b'B' } else { b'l' };
        w.byte(order).byte(self.kind).byte(self.flags).byte(1);
        w.u32(self.body.len() as u32).u32(serial);
        // Laid out from offset 0 of their own buffer; in the message they
        // start at 16, also 8-aligned, so the padding holds.
        let mut f = Writer::with_byte_order(self.big_endian);
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
    /// `fds`, those received so far, in order. A message longer than
    /// [`MAX_MESSAGE`] is an error as soon as its first 16 bytes are there.
    pub fn decode(buf: &[u8], fds: &mut Vec<OwnedFd>) -> io::Result<Option<(Message, usize)>> {
        let Some(len) = message_len(buf)? else {
            return Ok(None);
        };
        if len > MAX_MESSAGE {
            return Err(bad("D-Bus: message too long"));
        }
        let Some(buf) = buf.get(..len) else {
            return Ok(None);
        };
        // `message_len` checked the byte order and the version.
        let big_endian = buf[0] == b'B';
        let mut r = Reader::new(buf, big_endian);
        r.pos = 1;
        let mut m = Message {
            kind: r.byte()?,
            flags: r.byte()?,
            big_endian,
            ..Message::default()
        };
        r.pos = 8;
        m.serial = r.u32()?;
        // Within `len`, which is at most MAX_MESSAGE.
        let fields_end = 16 + r.u32()? as usize;
        let mut unix_fds = 0;
        while r.pos < fields_end {
            r.align(8)?;
            let code = r.byte()? as usize;
            let sig = r.sig_bytes()?;
            // Known fields must have the types the specification gives
            // them: `encode` writes them so.
            match (code, sig) {
                (REPLY_SERIAL, b"u") => m.reply_serial = r.u32()?,
                (UNIX_FDS, b"u") => unix_fds = r.u32()? as usize,
                (PATH, b"o") => m.fields[PATH] = r.str()?,
                (INTERFACE | MEMBER | ERROR_NAME | DESTINATION | SENDER, b"s") => {
                    m.fields[code] = r.str()?
                }
                (SIGNATURE, b"g") => m.fields[SIGNATURE] = r.sig()?,
                (1..=9, _) => return Err(bad("D-Bus: header field of the wrong type")),
                // Unknown fields are ignored, as the specification says
                // (those of the basic types `Reader::variant` reads).
                _ => drop(r.value(sig)?),
            }
        }
        if r.pos != fields_end {
            return Err(bad("D-Bus: header fields overrun"));
        }
        // The padding is within `len`, and the body is the rest.
        r.align(8)?;
        m.body = buf[r.pos..].to_vec();
        if unix_fds > fds.len() {
            return Err(bad("D-Bus: message claims fds that did not arrive"));
        }
        m.fds = fds.drain(..unix_fds).collect();
        Ok(Some((m, len)))
    }
}

/// The whole length of the message whose fixed header starts `buf`, once
/// its 16 bytes are there; an error if they do not start a message (byte
/// order, protocol version). The length may be over [`MAX_MESSAGE`].
pub fn message_len(buf: &[u8]) -> io::Result<Option<usize>> {
    let Some(fixed) = buf.get(..16) else {
        return Ok(None);
    };
    let mut r = Reader::new(fixed, byte_order(fixed[0])?);
    if fixed[3] != 1 {
        return Err(bad("D-Bus: unknown protocol version"));
    }
    r.pos = 4;
    let body_len = u64::from(r.u32()?);
    r.pos = 12;
    let fields_len = u64::from(r.u32()?);
    // At most 2^33 + 24: no overflow in 64 bits, and past a 32-bit usize
    // it is over MAX_MESSAGE all the same.
    let len = (16 + fields_len).next_multiple_of(8) + body_len;
    Ok(Some(usize::try_from(len).unwrap_or(usize::MAX)))
}

/// `Hello` with serial 1, as `Message::encode` lays it out (a unit test
/// checks that).
pub(crate) const HELLO: &[u8] = b"l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x6d\x00\x00\x00\
    \x01\x01o\x00\x15\x00\x00\x00/org/freedesktop/DBus\x00\x00\x00\
    \x02\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00\x00\x00\x00\
    \x03\x01s\x00\x05\x00\x00\x00Hello\x00\x00\x00\
    \x06\x01s\x00\x14\x00\x00\x00org.freedesktop.DBus\x00\x00\x00\x00";

/// What a client writes first, in one go: the nul byte, `AUTH EXTERNAL`
/// with `uid` (in decimal, each digit hex-encoded), `NEGOTIATE_UNIX_FD`,
/// `BEGIN`, and `Hello` with serial 1. The server answers in order, so
/// nothing waits for a round trip.
pub fn client_greeting(uid: u32) -> Vec<u8> {
    let mut bytes = b"\0AUTH EXTERNAL ".to_vec();
    // `0`..`9` are 0x30..0x39 in hex: `3` then the digit.
    let mut uid = uid;
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
    bytes
}

/// What a reader has received and not yet parsed: the server's answer to
/// [`client_greeting`], then messages.
#[derive(Default)]
pub struct Incoming {
    pub(crate) buf: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
    /// Bytes of a too-long message still to discard.
    skip: usize,
    /// Lines of the server's authentication answer consumed (2 in all).
    auth_lines: u8,
}

impl Incoming {
    /// Appends bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queues fds that arrived (with the first byte of their message).
    pub fn push_fds(&mut self, fds: impl IntoIterator<Item = OwnedFd>) {
        self.fds.extend(fds);
    }

    /// How many bytes are held, not yet parsed or skipped.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if one is there. Fails when authentication
    /// is refused or the bytes break the protocol; the connection is then
    /// of no further use.
    pub fn parse(&mut self) -> io::Result<Option<Message>> {
        // `OK <guid>`, then `AGREE_UNIX_FD` (or an `ERROR`: no fds).
        while self.auth_lines < 2 {
            // A line over the limit is an error however it arrives: in one
            // read with its `\r\n`, or cut before it.
            let end = self.buf.windows(2).position(|w| w == b"\r\n");
            if end.unwrap_or(self.buf.len().saturating_sub(1)) > MAX_AUTH_LINE {
                return Err(bad("D-Bus: authentication line too long"));
            }
            let Some(end) = end else {
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
            if let Some(len) = message_len(&self.buf)? {
                if len > MAX_MESSAGE {
                    // Fds arrive with their message's first byte: those
                    // queued now came with this one.
                    self.fds.clear();
                    self.skip = len;
                    continue;
                }
            }
            let Some((m, len)) = Message::decode(&self.buf, &mut self.fds)? else {
                return Ok(None);
            };
            self.buf.drain(..len);
            return Ok(Some(m));
        }
    }
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

    fn decode_err(bytes: &[u8]) -> String {
        match Message::decode(bytes, &mut Vec::new()) {
            Err(e) => e.to_string(),
            Ok(m) => panic!("decoded {m:?}"),
        }
    }

    fn fd() -> OwnedFd {
        OwnedFd::from(std::os::unix::net::UnixStream::pair().unwrap().0)
    }

    fn signal(member: &str) -> Message {
        Message {
            kind: SIGNAL,
            ..Message::method_call("", "/x", "org.example.X", member)
        }
    }

    /// A message laid out by hand: the fixed header (little-endian unless
    /// `order` is `B`), `fields` as given, padding, `body`.
    fn raw(order: u8, fields: &[u8], body: &[u8]) -> Vec<u8> {
        let be = order == b'B';
        let n = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = vec![order, SIGNAL, 0, 1];
        b.extend_from_slice(&n(body.len() as u32));
        b.extend_from_slice(&n(9));
        b.extend_from_slice(&n(fields.len() as u32));
        b.extend_from_slice(fields);
        while b.len() % 8 != 0 {
            b.push(0);
        }
        b.extend_from_slice(body);
        b
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
    fn the_greeting_hex_encodes_the_uid_in_decimal() {
        let tail = b"\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
        for (uid, hex) in [
            (0, "30"),
            (7, "37"),
            (1000, "31303030"),
            (u32::MAX, "34323934393637323935"),
        ] {
            let mut want = format!("\0AUTH EXTERNAL {hex}").into_bytes();
            want.extend_from_slice(tail);
            want.extend_from_slice(HELLO);
            assert_eq!(client_greeting(uid), want, "uid {uid}");
        }
    }

    #[test]
    fn header_fields_are_laid_out_in_code_order_each_8_aligned() {
        let mut m = Message::method_call("d", "/p", "i.f", "M")
            .with_body("u", Writer::new().u32(0x0102_0304));
        m.kind = METHOD_RETURN;
        m.flags = NO_REPLY_EXPECTED;
        m.reply_serial = 0x0a0b_0c0d;
        m.fields[ERROR_NAME] = "e.E".into();
        m.fields[SENDER] = ":1.2".into();
        m.fds = vec![fd()];
        let mut want = Vec::new();
        want.extend_from_slice(b"l\x02\x01\x01");
        want.extend_from_slice(&4u32.to_le_bytes());
        want.extend_from_slice(&0x77u32.to_le_bytes());
        want.extend_from_slice(&120u32.to_le_bytes()); // 9 fields: 4 x 16, 8, 2 x 16, 8, 8
                                                       // PATH: code, signature `o`, padded to 4 for the length.
        want.extend_from_slice(b"\x01\x01o\x00\x02\x00\x00\x00/p\x00\0\0\0\0\0");
        want.extend_from_slice(b"\x02\x01s\x00\x03\x00\x00\x00i.f\x00\0\0\0\0");
        want.extend_from_slice(b"\x03\x01s\x00\x01\x00\x00\x00M\x00\0\0\0\0\0\0");
        want.extend_from_slice(b"\x04\x01s\x00\x03\x00\x00\x00e.E\x00\0\0\0\0");
        want.extend_from_slice(b"\x05\x01u\x00\x0d\x0c\x0b\x0a");
        want.extend_from_slice(b"\x06\x01s\x00\x01\x00\x00\x00d\x00\0\0\0\0\0\0");
        want.extend_from_slice(b"\x07\x01s\x00\x04\x00\x00\x00:1.2\x00\0\0\0");
        want.extend_from_slice(b"\x08\x01g\x00\x01u\x00\0");
        want.extend_from_slice(b"\x09\x01u\x00\x01\x00\x00\x00");
        want.extend_from_slice(b"\x04\x03\x02\x01"); // the body, already 8-aligned
        assert_eq!(hex(&m.encode(0x77)), hex(&want));
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
    fn every_type_round_trips_in_both_byte_orders() {
        for big_endian in [false, true] {
            let mut w = Writer::with_byte_order(big_endian);
            w.byte(0xff)
                .bool(false)
                .u64(u64::MAX - 1)
                .str("")
                .u32(u32::MAX);
            w.str("ünïcode").sig("").sig(&"a".repeat(255)).bool(true);
            let mut r = Reader::new(&w.buf, big_endian);
            assert_eq!(r.byte().unwrap(), 0xff);
            assert!(!r.bool().unwrap());
            assert_eq!(r.u64().unwrap(), u64::MAX - 1);
            assert_eq!(r.str().unwrap(), "");
            assert_eq!(r.u32().unwrap(), u32::MAX);
            assert_eq!(r.str().unwrap(), "ünïcode");
            assert_eq!(r.sig().unwrap(), "");
            assert_eq!(r.sig().unwrap(), "a".repeat(255));
            assert!(r.bool().unwrap());
            assert!(r.at_end());
        }
        let be = Writer::with_byte_order(true).u32(0x0102_0304).buf.clone();
        assert_eq!(be, [1, 2, 3, 4]);
        let le = Writer::new().u32(0x0102_0304).buf.clone();
        assert_eq!(le, [4, 3, 2, 1]);
    }

    #[test]
    fn variants_of_each_basic_type_are_read() {
        let mut w = Writer::new();
        w.sig("s").str("stopping").sig("h").u32(0).sig("u").u32(7);
        w.sig("o")
            .str("/x")
            .sig("g")
            .sig("a{sv}")
            .sig("t")
            .u64(1 << 40);
        w.sig("y").byte(9);
        let mut r = Reader::new(&w.buf, false);
        assert_eq!(r.variant().unwrap(), Value::Str("stopping".into()));
        assert_eq!(r.variant().unwrap(), Value::U32(0));
        assert_eq!(r.variant().unwrap(), Value::U32(7));
        assert_eq!(r.variant().unwrap(), Value::Str("/x".into()));
        assert_eq!(r.variant().unwrap(), Value::Str("a{sv}".into()));
        assert_eq!(r.variant().unwrap(), Value::U64(1 << 40));
        // Bytes (and booleans) in variants are not needed by the runtime.
        assert!(r.variant().is_err());
        // Containers are not basic values.
        let mut w = Writer::new();
        w.sig("as").u32(0);
        assert!(Reader::new(&w.buf, false).variant().is_err());
    }

    #[test]
    fn values_past_the_end_or_malformed_are_errors() {
        // Truncated numbers, also when only the padding fits.
        assert!(Reader::new(&[1, 2, 3], false).u32().is_err());
        assert!(Reader::new(&[0; 7], false).u64().is_err());
        let mut r = Reader::new(&[9, 0, 0, 0, 1, 2, 3, 4], false);
        r.byte().unwrap();
        assert!(r.u64().is_err(), "padding to 8 runs out");
        // Strings must end within the buffer, with a nul, in UTF-8.
        assert!(Reader::new(b"\x09\x00\x00\x00abc", false).str().is_err());
        assert!(Reader::new(b"\x02\x00\x00\x00abc", false).str().is_err());
        assert!(Reader::new(b"\x02\x00\x00\x00\xff\xfe\x00", false)
            .str()
            .is_err());
        assert!(Reader::new(b"\xff\xff\xff\xffab\x00", false).str().is_err());
        assert!(Reader::new(b"\x05ab\x00", false).sig().is_err());
        assert!(Reader::new(&[0xff; 8], false).variant().is_err());
        // A boolean must be 0 or 1.
        assert!(Reader::new(&2u32.to_le_bytes(), false).bool().is_err());
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
        m.fds = vec![fd(), fd()];
        let mut bytes = m.encode(42);
        bytes.extend_from_slice(b"next message");
        let mut fds: Vec<OwnedFd> = m.fds.drain(..).collect();
        fds.push(fd());
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
        assert_eq!(fds.len(), 1, "only the claimed fds are taken");
        let mut r = d.body();
        assert_eq!(r.str().unwrap(), "org.freedesktop.login1.Manager");
        assert_eq!(r.str().unwrap(), "Delay");
        assert!(r.at_end());
    }

    #[test]
    fn big_endian_messages_are_read_and_written_back_big_endian() {
        let mut b = Vec::new();
        b.extend_from_slice(b"B\x04\x00\x01");
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(&9u32.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes()); // fields, unpadded
        b.extend_from_slice(b"\x08\x01g\x00\x01b\x00\x00"); // SIGNATURE "b"
        b.extend_from_slice(&1u32.to_be_bytes());
        let (m, len) = Message::decode(&b, &mut Vec::new()).unwrap().unwrap();
        assert_eq!((m.kind, m.serial, len), (SIGNAL, 9, b.len()));
        assert!(m.big_endian());
        assert_eq!(m.field(SIGNATURE), "b");
        assert!(m.body().bool().unwrap());
        assert_eq!(
            Reader::new(&[0, 0, 0, 0, 0, 0, 1, 2], true).u64().unwrap(),
            258
        );
        // The body is kept as it came, so the message is written back in
        // its own byte order: the same bytes here.
        assert_eq!(hex(&m.encode(9)), hex(&b));
        assert!(decode(&m.encode(9)).body().bool().unwrap());
        // A body written big-endian makes a big-endian message.
        let m = signal("S").with_body("t", Writer::with_byte_order(true).u64(258));
        let bytes = m.encode(3);
        assert_eq!(bytes[0], b'B');
        let d = decode(&bytes);
        assert_eq!((d.serial, d.body().u64().unwrap()), (3, 258));
        assert!(d.is("org.example.X", "S"));
    }

    #[test]
    fn incomplete_input_waits() {
        let m = signal("S").with_body("b", Writer::new().bool(true));
        let bytes = m.encode(3);
        for cut in 0..bytes.len() {
            assert!(
                Message::decode(&bytes[..cut], &mut Vec::new())
                    .unwrap()
                    .is_none(),
                "cut at {cut}"
            );
        }
        assert_eq!(message_len(&bytes[..15]).unwrap(), None);
        assert_eq!(message_len(&bytes[..16]).unwrap(), Some(bytes.len()));
    }

    #[test]
    fn a_bad_fixed_header_is_an_error() {
        let bytes = signal("S").encode(3);
        let mut wrong = bytes.clone();
        wrong[0] = b'x';
        assert_eq!(decode_err(&wrong), "D-Bus: unknown byte order");
        assert!(message_len(&wrong[..16]).is_err());
        let mut version = bytes.clone();
        version[3] = 2;
        assert_eq!(decode_err(&version), "D-Bus: unknown protocol version");
    }

    #[test]
    fn bad_header_fields_are_errors() {
        // A known field with another type than the specification's: the
        // signature as a string could not be written back (its length is
        // one byte), the path as a string would be written as `o`.
        let f = b"\x08\x01s\x00\x01\x00\x00\x00b\x00";
        assert_eq!(
            decode_err(&raw(b'l', f, &[])),
            "D-Bus: header field of the wrong type"
        );
        let f = b"\x01\x01s\x00\x02\x00\x00\x00/x\x00";
        assert!(decode_err(&raw(b'l', f, &[])).contains("wrong type"));
        let f = b"\x05\x01s\x00\x01\x00\x00\x00x\x00";
        assert!(decode_err(&raw(b'l', f, &[])).contains("wrong type"));
        let f = b"\x09\x01t\x00\x00\x00\x00\x00\x01\0\0\0\0\0\0\0";
        assert!(decode_err(&raw(b'l', f, &[])).contains("wrong type"));
        // Fields that end past their declared length.
        let mut bytes = raw(b'l', b"\x03\x01s\x00\x01\x00\x00\x00M\x00", &[0; 16]);
        bytes[12] = 8; // declares 8 bytes of fields; they take 10
        assert_eq!(decode_err(&bytes), "D-Bus: header fields overrun");
        // A field that runs past the whole message.
        let bytes = raw(b'l', b"\x03\x01s\x00\xff\x00\x00\x00M\x00", &[]);
        assert_eq!(decode_err(&bytes), "D-Bus: truncated value");
        // A field whose variant is a container.
        let bytes = raw(b'l', b"\x0a\x02as\x00\x00\x00\x00", &[]);
        assert_eq!(decode_err(&bytes), "D-Bus: unsupported variant type");
    }

    #[test]
    fn unknown_header_fields_of_basic_types_are_ignored() {
        let f = b"\x0a\x01o\x00\x02\x00\x00\x00/c\x00\0\0\0\0\0\x03\x01s\x00\x01\x00\x00\x00M\x00";
        let m = decode(&raw(b'l', f, &[]));
        assert_eq!(m.field(MEMBER), "M");
        assert_eq!(m.fields.iter().filter(|f| !f.is_empty()).count(), 1);
        // Code 0 is not a field either.
        let m = decode(&raw(b'l', b"\x00\x01u\x00\x01\x00\x00\x00", &[]));
        assert_eq!(m.reply_serial, 0);
    }

    #[test]
    fn fds_claimed_but_not_received_are_an_error() {
        let m = Message {
            fds: vec![fd(), fd()],
            ..Message::default()
        };
        let bytes = m.encode(4);
        let mut fds = vec![fd()];
        assert_eq!(
            Message::decode(&bytes, &mut fds).unwrap_err().to_string(),
            "D-Bus: message claims fds that did not arrive"
        );
        assert_eq!(fds.len(), 1, "nothing taken");
    }

    #[test]
    fn a_message_over_64_kib_is_an_error_before_it_is_all_there() {
        let mut w = Writer::new();
        w.str(&"y".repeat(MAX_MESSAGE));
        let bytes = signal("Big").with_body("s", &w).encode(7);
        assert!(bytes.len() > MAX_MESSAGE);
        assert_eq!(message_len(&bytes[..16]).unwrap(), Some(bytes.len()));
        assert_eq!(decode_err(&bytes[..16]), "D-Bus: message too long");
        // Exactly 64 KiB is accepted, one byte more is not.
        let header = signal("B").with_body("s", &Writer::new()).encode(1).len();
        let of_len = |n: usize| {
            let mut w = Writer::new();
            w.str(&"y".repeat(n - header - 5));
            signal("B").with_body("s", &w).encode(1)
        };
        let bytes = of_len(MAX_MESSAGE);
        assert_eq!(bytes.len(), MAX_MESSAGE);
        let (m, len) = Message::decode(&bytes, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(
            (len, m.body().str().unwrap().len()),
            (MAX_MESSAGE, MAX_MESSAGE - header - 5)
        );
        assert_eq!(
            decode_err(&of_len(MAX_MESSAGE + 1)),
            "D-Bus: message too long"
        );
    }

    #[test]
    fn the_largest_lengths_do_not_overflow() {
        let mut b = raw(b'l', &[], &[]);
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let want: u64 = 0x1_0000_0010 + 0xffff_ffff; // 16 + fields, padded, + body
        assert_eq!(message_len(&b).unwrap(), Some(want as usize));
        assert_eq!(decode_err(&b), "D-Bus: message too long");
    }

    fn authenticated() -> Incoming {
        let mut incoming = Incoming::default();
        incoming.push(b"OK 1234deadbeef\r\nAGREE_UNIX_FD\r\n");
        assert!(incoming.parse().unwrap().is_none());
        incoming
    }

    #[test]
    fn the_servers_answer_comes_before_the_messages() {
        let hello_reply = Message {
            kind: METHOD_RETURN,
            reply_serial: 1,
            ..Message::default()
        }
        .with_body("s", Writer::new().str(":1.42"));
        let mut stream = b"OK 1234deadbeef\r\nERROR\r\n".to_vec();
        stream.extend(hello_reply.encode(1));
        // Byte by byte: nothing is read before it is whole.
        let mut incoming = Incoming::default();
        let mut got = Vec::new();
        for b in &stream {
            incoming.push(&[*b]);
            got.extend(incoming.parse().unwrap());
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].reply_serial, 1);
        assert_eq!(got[0].body().str().unwrap(), ":1.42");
        assert_eq!(incoming.buffered(), 0);

        let mut refused = Incoming::default();
        refused.push(b"REJECTED EXTERNAL\r\n");
        assert_eq!(
            refused.parse().unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn an_authentication_line_over_1_kib_is_an_error_however_it_arrives() {
        let mut incoming = Incoming::default();
        incoming.push(b"OK ");
        for _ in 0..MAX_AUTH_LINE / 64 {
            assert!(incoming.parse().unwrap().is_none());
            incoming.push(&[b'a'; 64]);
        }
        assert_eq!(
            incoming.parse().unwrap_err().to_string(),
            "D-Bus: authentication line too long"
        );
        // The same line in one read with its end (found by fuzzing: it
        // was accepted so, and refused in pieces).
        let line = |len: usize| {
            let mut b = b"OK ".to_vec();
            b.resize(len, b'a');
            b.extend_from_slice(b"\r\nAGREE_UNIX_FD\r\n");
            b
        };
        for chunk in [1, 64, 2048] {
            let mut longest = Incoming::default();
            for piece in line(MAX_AUTH_LINE).chunks(chunk) {
                longest.push(piece);
                assert!(longest.parse().unwrap().is_none(), "reads of {chunk}");
            }
            assert_eq!(longest.auth_lines, 2, "reads of {chunk}");
            let mut long = Incoming::default();
            let refused = line(MAX_AUTH_LINE + 1).chunks(chunk).any(|piece| {
                long.push(piece);
                long.parse().is_err()
            });
            assert!(refused, "reads of {chunk}");
        }
    }

    #[test]
    fn a_message_too_long_is_skipped_as_it_arrives() {
        let mut w = Writer::new();
        w.str(&"y".repeat(MAX_MESSAGE * 2));
        let big = signal("Big").with_body("s", &w);
        let small = signal("Small");
        let mut stream = big.encode(7);
        stream.extend(small.encode(8));

        let mut incoming = authenticated();
        // Fds that came with the long message are dropped with it.
        incoming.push_fds([fd()]);
        let mut got = Vec::new();
        for chunk in stream.chunks(2048) {
            incoming.push(chunk);
            while let Some(m) = incoming.parse().unwrap() {
                got.push(m.serial);
            }
            assert!(
                incoming.buffered() <= MAX_MESSAGE,
                "buffered {}",
                incoming.buffered()
            );
        }
        assert_eq!(got, [8], "the long one skipped, the next one read");
        assert!(incoming.fds.is_empty());
        assert_eq!(incoming.buffered(), 0);
    }

    #[test]
    fn garbage_claiming_a_huge_length_is_an_error_not_skipped() {
        // The skip rule is for messages; bytes that do not start one (a
        // bad byte order or version) break the stream whatever their
        // "length" would be.
        let mut big = signal("Big").encode(1);
        big[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        for (at, byte) in [(0, b'x'), (3, 2)] {
            let mut bytes = big.clone();
            bytes[at] = byte;
            let mut incoming = authenticated();
            incoming.push(&bytes);
            assert!(incoming.parse().is_err(), "byte {at} = {byte}");
        }
        let mut incoming = authenticated();
        incoming.push(&big);
        assert!(incoming.parse().unwrap().is_none(), "a real one is skipped");
    }

    #[test]
    fn messages_are_taken_out_one_at_a_time_with_their_fds() {
        let mut incoming = authenticated();
        let mut with_fd = signal("A");
        with_fd.fds = vec![fd()];
        let mut stream = with_fd.encode(1);
        stream.extend(signal("B").encode(2));
        stream.extend(&signal("C").encode(3)[..20]);
        incoming.push(&stream);
        incoming.push_fds(with_fd.fds.drain(..));
        let a = incoming.parse().unwrap().unwrap();
        assert_eq!((a.serial, a.fds.len()), (1, 1));
        let b = incoming.parse().unwrap().unwrap();
        assert_eq!((b.serial, b.fds.len()), (2, 0));
        assert!(incoming.parse().unwrap().is_none());
        assert_eq!(incoming.buffered(), 20);
        // Garbage after a message is an error once it is read.
        incoming.push(&signal("C").encode(3)[20..]);
        incoming.push(b"garbage, not a message");
        assert_eq!(incoming.parse().unwrap().unwrap().serial, 3);
        assert!(incoming.parse().is_err());
    }
}
