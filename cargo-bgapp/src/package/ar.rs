//! A writer for the `ar` archives that hold a `.deb`: a global header, then
//! per member a fixed 60-byte header and the data padded to an even length.
//! Owners, modes and times are fixed so that the output is reproducible.

use std::io::{self, Write};

pub struct ArWriter<W: Write> {
    out: W,
    mtime: u64,
}

impl<W: Write> ArWriter<W> {
    pub fn new(mut out: W, mtime: u64) -> io::Result<ArWriter<W>> {
        out.write_all(b"!<arch>\n")?;
        Ok(ArWriter { out, mtime })
    }

    /// Appends a member; `name` must fit the 16-byte field, as every member
    /// of a `.deb` does.
    pub fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        assert!(
            name.len() <= 16 && !name.contains('/'),
            "ar member name `{name}`"
        );
        // name, mtime, uid, gid, mode (octal), size, end marker: dpkg's layout.
        let header = format!(
            "{name:<16}{mtime:<12}{uid:<6}{gid:<6}{mode:<8o}{size:<10}`\n",
            mtime = self.mtime,
            uid = 0,
            gid = 0,
            mode = 0o100644,
            size = data.len()
        );
        debug_assert_eq!(header.len(), 60);
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(data)?;
        if data.len() % 2 == 1 {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn finish(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_dpkg_layout() {
        let mut ar = ArWriter::new(Vec::new(), 1_700_000_000).unwrap();
        ar.append("debian-binary", b"2.0\n").unwrap();
        ar.append("odd", b"abc").unwrap();
        let out = ar.finish();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "!<arch>\n\
             debian-binary   1700000000  0     0     100644  4         `\n2.0\n\
             odd             1700000000  0     0     100644  3         `\nabc\n"
        );
    }
}
