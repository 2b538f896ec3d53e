//! The bodies of the fuzz targets, one function per target: each parses
//! arbitrary bytes, must not panic, and checks a property of what it
//! parsed. `fuzz_targets/<name>.rs` hands each to libFuzzer;
//! `tests/corpus.rs` runs each over its seed corpus, `corpus/<name>/`, in
//! a plain `cargo test`.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::time::Duration;

use bgapp_dbus::{message_len, Incoming, Message, MAX_MESSAGE};
use bgapp_manifest::control::ControlMessage;
use bgapp_manifest::{
    decode_records, format_duration, format_systemd, parse_duration, validate_calendar, Calendar,
    CivilTime, TaskManifest,
};

/// A target's body: parses the input, panics on a broken property.
pub type Body = fn(&[u8]);

/// Every target, by name (the name of its binary and corpus directory).
pub const TARGETS: &[(&str, Body)] = &[
    ("dbus_message", dbus_message),
    ("dbus_stream", dbus_stream),
    ("control", control),
    ("calendar", calendar),
    ("duration", duration),
    ("manifest", manifest),
];

/// Fds a message may claim, as if they had arrived with it.
const SPARE_FDS: usize = 4;

fn spare_fds() -> Vec<OwnedFd> {
    static DEV_NULL: OnceLock<File> = OnceLock::new();
    let f = DEV_NULL.get_or_init(|| File::open("/dev/null").expect("/dev/null opens"));
    (0..SPARE_FDS)
        .map(|_| OwnedFd::from(f.try_clone().expect("dup /dev/null")))
        .collect()
}

/// The same message, as far as the wire can tell.
fn assert_same(a: &Message, b: &Message) {
    assert_eq!(
        (a.kind, a.flags, a.serial, a.reply_serial, a.big_endian()),
        (b.kind, b.flags, b.serial, b.reply_serial, b.big_endian())
    );
    assert_eq!(a.fields, b.fields);
    assert_eq!(a.body, b.body);
    assert_eq!(a.fds.len(), b.fds.len());
}

/// One D-Bus message. Property: what decodes re-encodes to a message that
/// decodes the same, and whose encoding is then stable; the length is
/// the fixed header's; a prefix is incomplete, never an error.
pub fn dbus_message(data: &[u8]) {
    let mut fds = spare_fds();
    let Ok(Some((m, len))) = Message::decode(data, &mut fds) else {
        return;
    };
    assert!(len <= data.len() && len <= MAX_MESSAGE);
    assert_eq!(message_len(data).unwrap(), Some(len));
    assert!(matches!(
        Message::decode(&data[..len - 1], &mut Vec::new()),
        Ok(None)
    ));
    let bytes = m.encode(m.serial);
    let mut fds: Vec<OwnedFd> = m.fds.iter().map(|f| f.try_clone().unwrap()).collect();
    let (again, again_len) = Message::decode(&bytes, &mut fds)
        .expect("a re-encoded message decodes")
        .expect("a re-encoded message is whole");
    assert_eq!(again_len, bytes.len());
    assert_same(&m, &again);
    assert_eq!(again.encode(again.serial), bytes);
}

/// What `Incoming` yields for `stream`, worked out on the whole stream at
/// once: the messages, then the first error (as text) if any.
fn expected_stream(stream: &[u8]) -> (Vec<Message>, Option<String>) {
    let mut rest = stream;
    let mut out = Vec::new();
    // The two authentication lines, each at most 1 KiB.
    for line in 0..2 {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            let error = (rest.len() > 1025).then_some("D-Bus: authentication line too long");
            return (out, error.map(String::from));
        };
        if end > 1024 {
            return (out, Some("D-Bus: authentication line too long".into()));
        }
        if line == 0 && !rest.starts_with(b"OK ") {
            return (out, Some("D-Bus authentication refused".into()));
        }
        rest = &rest[end + 2..];
    }
    loop {
        match message_len(rest) {
            Err(e) => return (out, Some(e.to_string())),
            Ok(None) => return (out, None),
            Ok(Some(len)) if len > MAX_MESSAGE => match rest.get(len..) {
                Some(after) => rest = after,
                None => return (out, None),
            },
            Ok(Some(_)) => match Message::decode(rest, &mut Vec::new()) {
                Err(e) => return (out, Some(e.to_string())),
                Ok(None) => return (out, None),
                Ok(Some((m, len))) => {
                    out.push(m);
                    rest = &rest[len..];
                }
            },
        }
    }
}

/// A connection's incoming bytes: the server's authentication answer (a
/// valid one is put first unless the input starts with `OK `), then
/// messages. The first byte sets the size of the reads it arrives in.
/// Property: what `Incoming` yields does not depend on how the bytes are
/// cut, and it never holds a whole message over 64 KiB (nor an
/// authentication line over 1 KiB).
pub fn dbus_stream(data: &[u8]) {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let chunk = 1 + usize::from(cut) * 8;
    let mut stream = Vec::new();
    if !data.starts_with(b"OK ") {
        stream.extend_from_slice(b"OK 0123456789abcdef0123456789abcdef\r\nAGREE_UNIX_FD\r\n");
    }
    stream.extend_from_slice(data);
    let (want, want_error) = expected_stream(&stream);

    let mut incoming = Incoming::default();
    let mut got = Vec::new();
    let mut error = None;
    'read: for piece in stream.chunks(chunk) {
        incoming.push(piece);
        loop {
            match incoming.parse() {
                Ok(Some(m)) => got.push(m),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.to_string());
                    break 'read;
                }
            }
        }
        assert!(
            incoming.buffered() < MAX_MESSAGE,
            "holds {} bytes",
            incoming.buffered()
        );
    }
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(&want) {
        assert_same(a, b);
    }
    assert_eq!(error, want_error);
}

/// Control-channel lines, read as the runtime reads them (lossy UTF-8,
/// split at `\n`). Property: a parsed message displays as one line that
/// parses back to it.
pub fn control(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        match line.parse::<ControlMessage>() {
            Ok(m) => {
                let shown = m.to_string();
                assert!(!shown.contains('\n'), "{shown:?}");
                assert_eq!(shown.parse::<ControlMessage>(), Ok(m), "{shown:?}");
            }
            Err(e) => drop(e.to_string()),
        }
    }
}

/// Base times for the calendar: the epoch, 2023-11-14, a leap day, the
/// last second before 2200, 1900.
const BASES: &[i64] = &[0, 1_700_000_000, 951_782_400, 7_258_118_399, -2_208_988_800];

/// A calendar expression. Properties: `validate_calendar` agrees with
/// `Calendar::parse`; the next elapse after a time is later, a real civil
/// time before 2200, and the first one after the second before it.
pub fn calendar(data: &[u8]) {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Calendar::parse(spec);
    assert_eq!(
        validate_calendar(spec),
        parsed.as_ref().map(drop).map_err(Clone::clone)
    );
    let cal = match parsed {
        Ok(cal) => cal,
        Err(e) => return drop(e.to_string()),
    };
    for &base in BASES {
        let after = CivilTime::from_unix_utc(base);
        let Some(next) = cal.next_after(after) else {
            continue;
        };
        assert!(next > after, "{spec:?}: {next:?} after {after:?}");
        assert!(next.year <= 2199);
        let secs = next.to_unix_utc();
        assert_eq!(CivilTime::from_unix_utc(secs), next);
        let before = CivilTime::from_unix_utc(secs - 1);
        assert_eq!(
            cal.next_after(before),
            Some(next),
            "{spec:?} after {before:?}"
        );
    }
}

/// A duration attribute. Property: a parsed duration is whole
/// milliseconds, and formats to text that parses back to it.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(text) {
        Ok(d) => {
            assert_eq!(d.subsec_nanos() % 1_000_000, 0);
            assert!(d <= Duration::from_millis(u64::MAX));
            let shown = format_duration(d);
            assert_eq!(parse_duration(&shown), Ok(d), "{text:?} shown as {shown:?}");
            drop(format_systemd(d));
        }
        Err(e) => drop(e.to_string()),
    }
}

/// A manifest link section. Property: every record decoded re-encodes to
/// a record that decodes to the same manifest, alone and in a section.
pub fn manifest(data: &[u8]) {
    let tasks = match decode_records(data) {
        Ok(tasks) => tasks,
        Err(e) => return drop(e.to_string()),
    };
    let mut section = Vec::new();
    for task in &tasks {
        let record = task.to_record();
        assert_eq!(&TaskManifest::from_record(&record).unwrap(), task);
        section.extend_from_slice(&record);
    }
    assert_eq!(decode_records(&section).unwrap(), tasks);
}
