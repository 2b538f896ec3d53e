//! A minimal D-Bus client: just what bgapp's runtime needs to talk to
//! logind and systemd, in some 850 lines (tests apart) instead of a D-Bus
//! crate, since the runtime ships in every app binary.
//!
//! It reads bytes any local process can send (a signal may be addressed
//! to any connection), so it is kept apart, unit-tested and fuzzed (see
//! `fuzz/` in the repository). Two halves:
//!
//! - **The codec** ([`Message`], [`Writer`], [`Reader`], [`Incoming`]):
//!   the wire format over byte slices, no system calls. The basic types
//!   (`y b u t s o g h`), variants of them, and the header's array of
//!   `(byte, variant)` structs. Messages are written little-endian; both
//!   byte orders are read. A message over [`MAX_MESSAGE`] (64 KiB) is
//!   skipped as it arrives, never buffered whole.
//! - **The connection** ([`Conn`]): a Unix socket (`unix:path=` or
//!   `unix:abstract=`). SASL `AUTH EXTERNAL <hex uid>`,
//!   `NEGOTIATE_UNIX_FD`, `BEGIN` and the `Hello` call are written in one
//!   go (as sd-bus does); the server answers in order, so nothing waits
//!   for a round trip. Blocking I/O and no dispatcher: one thread reads
//!   messages with [`Conn::next`] and matches replies to calls by serial;
//!   any thread may [`Conn::send`] meanwhile. Synchronous code is a
//!   fraction of the size of the async equivalent, and a thread blocked in
//!   `poll` costs no wake-ups. Unix fds arrive with `SCM_RIGHTS` and are
//!   attached to the message whose `UNIX_FDS` header field claims them.
//!
//! Not a general D-Bus library: no containers beyond the header's, no
//! introspection, no reconnection. Its API follows the runtime's needs and
//! is not stable.

mod codec;
mod conn;

pub use codec::{
    client_greeting, message_len, Incoming, Message, Reader, Value, Writer, DESTINATION, ERROR,
    ERROR_NAME, INTERFACE, MAX_MESSAGE, MEMBER, METHOD_CALL, METHOD_RETURN, NO_REPLY_EXPECTED,
    PATH, REPLY_SERIAL, SENDER, SIGNAL, SIGNATURE, UNIX_FDS,
};
pub use conn::{system_bus_address, Conn};
