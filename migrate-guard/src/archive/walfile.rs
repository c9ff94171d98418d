//! The WAL file read as SQLite's own recovery reads it: a header with two salts, then frames
//! chained by a running checksum; a frame counts only while its salts match the header and its
//! checksum continues the chain, and a transaction only once its commit frame (the one that
//! records the database size) is in that chain. Nothing here opens SQLite, so reading the WAL
//! never checkpoints it.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Bytes of the WAL header.
pub const HEADER_BYTES: u64 = 32;
/// Bytes of a frame header.
pub const FRAME_HEADER_BYTES: u64 = 24;

/// Where in a WAL the archive stands: the last frame read, in the WAL whose header carried
/// these salts, and the running checksum after it (`frame` 0: the header's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The header's two salts, which change each time the WAL restarts.
    pub salt: [u32; 2],
    /// The last frame taken (1-based; 0 before the first).
    pub frame: u32,
    /// The checksum chain after that frame.
    pub checksum: [u32; 2],
}

/// A WAL's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Checksums read words big-endian (magic 0x377f0683) or little-endian (0x377f0682).
    pub big_endian: bool,
    /// The database's page size.
    pub page_size: u32,
    /// The salts.
    pub salt: [u32; 2],
    /// The header's checksum, where the frames' chain starts.
    pub checksum: [u32; 2],
}

impl Header {
    /// The position before this WAL's first frame.
    pub fn start(&self) -> Position {
        Position {
            salt: self.salt,
            frame: 0,
            checksum: self.checksum,
        }
    }
}

/// One valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its index (1-based).
    pub index: u32,
    /// The page it holds.
    pub pgno: u32,
    /// For a commit frame, the database's size in pages after the commit; else 0.
    pub commit_size: u32,
    /// The chain after it.
    pub checksum: [u32; 2],
    /// The page.
    pub page: Vec<u8>,
}

/// The `-wal` file beside a database.
pub fn wal_path(db: &Path) -> PathBuf {
    crate::database::db::sibling(db, "-wal")
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
pub fn checksum(big_endian: bool, data: &[u8], s: [u32; 2]) -> [u32; 2] {
    let (mut s0, mut s1) = (s[0], s[1]);
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    [s0, s1]
}

fn be(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// An open WAL file, read frame by frame.
pub struct WalFile {
    path: PathBuf,
    file: Option<File>,
    /// Read ahead for frames read in order ([`WalFile::next`]): the offset of `ahead`'s first
    /// byte. Other reads go to the file.
    ahead_at: u64,
    ahead: Vec<u8>,
}

/// How much [`WalFile::next`] reads at once.
const READ_AHEAD: usize = 1 << 20;

impl WalFile {
    /// Opens the WAL of `db` (absent is a WAL of no frames).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it exists but cannot be read.
    pub fn open(db: &Path) -> Result<Self, Error> {
        let path = wal_path(db);
        let file = match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Self {
            path,
            file,
            ahead_at: 0,
            ahead: Vec::new(),
        })
    }

    /// The file's size now (0 when absent).
    pub fn len(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len())
    }

    /// Whether there is no WAL file, or an empty one.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The header, or `None` when the file is absent, shorter than a header, or its header is
    /// not valid (SQLite treats all three as a WAL of no frames).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the read fails.
    pub fn header(&mut self) -> Result<Option<Header>, Error> {
        let mut b = [0u8; HEADER_BYTES as usize];
        if !self.read_at(0, &mut b)? {
            return Ok(None);
        }
        let magic = be(&b, 0);
        if magic & !1 != 0x377f_0682 {
            return Ok(None);
        }
        let big_endian = magic & 1 == 1;
        let page_size = be(&b, 8);
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Ok(None);
        }
        let checksum = [be(&b, 24), be(&b, 28)];
        if self::checksum(big_endian, &b[..24], [0, 0]) != checksum {
            return Ok(None);
        }
        Ok(Some(Header {
            big_endian,
            page_size,
            salt: [be(&b, 16), be(&b, 20)],
            checksum,
        }))
    }

    /// The frame after `after` if it is valid (its salts match, its checksum continues the
    /// chain), else `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the read fails.
    pub fn next(&mut self, header: &Header, after: &Position) -> Result<Option<Frame>, Error> {
        let index = after.frame + 1;
        let size = FRAME_HEADER_BYTES + u64::from(header.page_size);
        let mut buf = vec![0u8; size as usize];
        if !self.read_ahead(HEADER_BYTES + u64::from(after.frame) * size, &mut buf)? {
            return Ok(None);
        }
        let (head, page) = buf.split_at(FRAME_HEADER_BYTES as usize);
        if [be(head, 8), be(head, 12)] != header.salt || after.salt != header.salt {
            return Ok(None);
        }
        let pgno = be(head, 0);
        let chain = checksum(header.big_endian, &head[..8], after.checksum);
        let chain = checksum(header.big_endian, page, chain);
        if pgno == 0 || chain != [be(head, 16), be(head, 20)] {
            return Ok(None);
        }
        Ok(Some(Frame {
            index,
            pgno,
            commit_size: be(head, 4),
            checksum: chain,
            page: page.to_vec(),
        }))
    }

    /// Whether the frame at `position.frame` is still the one the position names (its salts and
    /// chain value unchanged): the WAL has neither restarted nor been rewritten there.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the read fails.
    pub fn still_at(&mut self, header: &Header, position: &Position) -> Result<bool, Error> {
        if header.salt != position.salt {
            return Ok(false);
        }
        if position.frame == 0 {
            return Ok(header.checksum == position.checksum);
        }
        let size = FRAME_HEADER_BYTES + u64::from(header.page_size);
        let mut head = [0u8; FRAME_HEADER_BYTES as usize];
        if !self.read_at(
            HEADER_BYTES + u64::from(position.frame - 1) * size,
            &mut head,
        )? {
            return Ok(false);
        }
        Ok([be(&head, 8), be(&head, 12)] == position.salt
            && [be(&head, 16), be(&head, 20)] == position.checksum)
    }

    /// The last commit frame of the valid chain after `from`, as a position, or `from` when
    /// no whole transaction follows it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a read fails.
    pub fn last_commit(&mut self, header: &Header, from: &Position) -> Result<Position, Error> {
        let mut at = *from;
        let mut last = *from;
        while let Some(frame) = self.next(header, &at)? {
            at = Position {
                salt: header.salt,
                frame: frame.index,
                checksum: frame.checksum,
            };
            if frame.commit_size != 0 {
                last = at;
            }
        }
        Ok(last)
    }

    /// Bytes of valid frames after `from`, committed or not.
    pub fn bytes_after(&self, header: &Header, frames: u32) -> u64 {
        let size = FRAME_HEADER_BYTES + u64::from(header.page_size);
        self.len()
            .saturating_sub(HEADER_BYTES + u64::from(frames) * size)
    }

    /// Reads `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the WAL is shorter (it was cut back meanwhile); [`Error::Io`].
    pub fn read_page(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        if self.read_at(offset, buf)? {
            Ok(())
        } else {
            Err(Error::Internal {
                reason: format!("{} ended before offset {offset}", self.path.display()),
            })
        }
    }

    /// [`WalFile::read_at`] through the read-ahead: one read of up to [`READ_AHEAD`] bytes
    /// serves the frames after it. Each frame is still checked against the checksum chain, so
    /// one read a little earlier than its frame's turn is as good as a read then.
    fn read_ahead(&mut self, offset: u64, buf: &mut [u8]) -> Result<bool, Error> {
        let end = offset + buf.len() as u64;
        let cached = offset >= self.ahead_at && end <= self.ahead_at + self.ahead.len() as u64;
        if !cached {
            let Some(file) = self.file.as_ref() else {
                return Ok(false);
            };
            self.ahead.resize(READ_AHEAD.max(buf.len()), 0);
            let mut filled = 0;
            while filled < self.ahead.len() {
                match std::os::unix::fs::FileExt::read_at(
                    file,
                    &mut self.ahead[filled..],
                    offset + filled as u64,
                ) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(source) => {
                        self.ahead.clear();
                        return Err(Error::Io {
                            path: self.path.clone(),
                            source,
                        });
                    }
                }
            }
            self.ahead.truncate(filled);
            self.ahead_at = offset;
            if filled < buf.len() {
                // The end of the file: the next call reads again (the WAL may have grown).
                self.ahead.clear();
                return Ok(false);
            }
        }
        let from = (offset - self.ahead_at) as usize;
        buf.copy_from_slice(&self.ahead[from..from + buf.len()]);
        Ok(true)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<bool, Error> {
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        match file.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
            Err(source) => Err(Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_db() -> (tempfile::TempDir, PathBuf, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);",
        )
        .unwrap();
        (dir, db, conn)
    }

    #[test]
    fn reads_the_commits_sqlite_wrote_and_stops_at_a_broken_chain() {
        let (_dir, db, conn) = wal_db();
        for i in 0..5 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        let mut wal = WalFile::open(&db).unwrap();
        let header = wal.header().unwrap().unwrap();
        assert_eq!(header.page_size, 4096);
        let end = wal.last_commit(&header, &header.start()).unwrap();
        assert!(end.frame >= 6, "{end:?}");
        assert!(wal.still_at(&header, &end).unwrap());
        assert!(wal.next(&header, &end).unwrap().is_none());
        // A flipped byte in the third frame's page ends the chain before it.
        let mut bytes = std::fs::read(wal_path(&db)).unwrap();
        let at =
            (HEADER_BYTES + 2 * (FRAME_HEADER_BYTES + 4096) + FRAME_HEADER_BYTES + 100) as usize;
        bytes[at] ^= 0xff;
        let copy = db.with_file_name("copy.db");
        std::fs::write(wal_path(&copy), &bytes).unwrap();
        let mut broken = WalFile::open(&copy).unwrap();
        let h = broken.header().unwrap().unwrap();
        assert!(broken.last_commit(&h, &h.start()).unwrap().frame < 3);
        // `still_at` looks at the one frame only: frames before it were taken already.
        assert!(broken.still_at(&h, &end).unwrap());
        let at =
            (HEADER_BYTES + u64::from(end.frame - 1) * (FRAME_HEADER_BYTES + 4096) + 16) as usize;
        bytes[at] ^= 0xff;
        std::fs::write(wal_path(&copy), &bytes).unwrap();
        let mut rewritten = WalFile::open(&copy).unwrap();
        assert!(!rewritten.still_at(&h, &end).unwrap());
        assert_eq!(rewritten.bytes_after(&h, end.frame), 0);
    }

    #[test]
    fn no_wal_and_junk_are_no_frames() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("none.db");
        let mut wal = WalFile::open(&db).unwrap();
        assert!(wal.is_empty());
        assert!(wal.header().unwrap().is_none());
        std::fs::write(wal_path(&db), vec![7u8; 100]).unwrap();
        let mut wal = WalFile::open(&db).unwrap();
        assert!(wal.header().unwrap().is_none());
    }

    #[test]
    fn a_header_with_a_bad_page_size_or_checksum_is_no_wal_and_a_cut_wal_ends_early() {
        let (_dir, db, conn) = wal_db();
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let bytes = std::fs::read(wal_path(&db)).unwrap();
        let copy = db.with_file_name("copy.db");
        let mut wal = WalFile::open(&db).unwrap();
        let h = wal.header().unwrap().unwrap();
        let end = wal.last_commit(&h, &h.start()).unwrap();
        // Page size 3000: not a power of two.
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&3000u32.to_be_bytes());
        // The header's checksum made to match, so that the page size is what refuses it.
        let big_endian = bad[3] & 1 == 1;
        let sum = checksum(big_endian, &bad[..24], [0, 0]);
        bad[24..28].copy_from_slice(&sum[0].to_be_bytes());
        bad[28..32].copy_from_slice(&sum[1].to_be_bytes());
        std::fs::write(wal_path(&copy), &bad).unwrap();
        assert!(WalFile::open(&copy).unwrap().header().unwrap().is_none());
        // A header whose checksum does not match it.
        let mut bad = bytes.clone();
        bad[24] ^= 0xff;
        std::fs::write(wal_path(&copy), &bad).unwrap();
        assert!(WalFile::open(&copy).unwrap().header().unwrap().is_none());
        // Cut inside the last frame: the position is no longer there, and a page read past
        // the end says where.
        let last_frame = HEADER_BYTES + u64::from(end.frame - 1) * (FRAME_HEADER_BYTES + 4096);
        std::fs::write(wal_path(&copy), &bytes[..last_frame as usize + 10]).unwrap();
        let mut cut = WalFile::open(&copy).unwrap();
        let hc = cut.header().unwrap().unwrap();
        assert!(!cut.still_at(&hc, &end).unwrap());
        let mut page = vec![0u8; 4096];
        let e = cut.read_page(bytes.len() as u64, &mut page).unwrap_err();
        assert!(e.to_string().contains("ended before offset"), "{e}");
        // A WAL that is a directory cannot be read, and says which path.
        let odd = db.with_file_name("odd.db");
        std::fs::create_dir(wal_path(&odd)).unwrap();
        match WalFile::open(&odd).and_then(|mut w| w.header()) {
            Err(Error::Io { path, .. }) => assert_eq!(path, wal_path(&odd)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn checksums_agree_both_ways_round() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_ne!(
            checksum(true, &data, [0, 0]),
            checksum(false, &data, [0, 0])
        );
        assert_eq!(checksum(true, &[], [3, 4]), [3, 4]);
    }
}
