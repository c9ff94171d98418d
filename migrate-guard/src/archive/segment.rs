//! A segment: the committed WAL frames of one archiving round, zstd-compressed.
//!
//! After decompression: the magic `BLYSEG1\n`, the page size (u32) and the WAL's two salts
//! (u32 each); then records, each a tag byte: `F` a frame (page number u32, then the page),
//! `C` the commit that ends the frames before it (commit id u64, commit time in milliseconds
//! since the Unix epoch i64, database size in pages u32, the WAL frame index of the commit
//! u32, the WAL checksum chain after it 2 × u32, the database's page hash after it, 32 bytes).
//! Integers are little-endian. Frames after the last `C` do not belong to any commit and a
//! well-formed segment has none.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;
use crate::files::durable::Staged;

const MAGIC: &[u8; 8] = b"BLYSEG1\n";

/// One commit as a segment records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The commit's id in the archive (consecutive across it).
    pub id: u64,
    /// When the archiver saw it committed (ms since the Unix epoch).
    pub at_ms: i64,
    /// Pages in the database after it.
    pub pages: u32,
    /// The WAL frame that committed it.
    pub wal_frame: u32,
    /// The WAL checksum chain after that frame.
    pub checksum: [u32; 2],
    /// The page hash of the database after it (hex).
    pub hash: String,
}

/// What a segment holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A page written.
    Frame {
        /// Its number.
        pgno: u32,
        /// Its bytes.
        page: Vec<u8>,
    },
    /// The end of a transaction.
    Commit(Commit),
}

/// A segment being written (to a staged file, published by [`Writer::finish`]).
pub struct Writer {
    staged: Staged,
    out: zstd::Encoder<'static, Hashing<BufWriter<File>>>,
}

/// A writer that counts and hashes what passes through it.
pub(super) struct Hashing<W: Write> {
    pub(super) out: W,
    pub(super) hash: Sha256,
    pub(super) bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub(super) fn new(out: W) -> Self {
        Self {
            out,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes, and returns the bytes written and their SHA-256.
    pub(super) fn done(&mut self) -> std::io::Result<Written> {
        self.out.flush()?;
        Ok(Written {
            bytes: self.bytes,
            sha256: crate::vocab::hex::hex(&self.hash.clone().finalize()),
        })
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A finished segment file: its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Compressed bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

impl Writer {
    /// Starts a segment at `path` (staged beside it).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be created.
    pub fn create(path: &Path, page_size: u32, salt: [u32; 2]) -> Result<Self, Error> {
        let (staged, file) = Staged::create(crate::files::durable::temp_path(path))?;
        let sink = Hashing::new(BufWriter::new(file));
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // Level 1: the archiver keeps up with busy writers on one core; level 3 saved only a
        // few percent more of the WAL's bytes (docs/benchmarks.md).
        let mut out = zstd::Encoder::new(sink, 1).map_err(io)?;
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&page_size.to_le_bytes()).map_err(io)?;
        out.write_all(&salt[0].to_le_bytes()).map_err(io)?;
        out.write_all(&salt[1].to_le_bytes()).map_err(io)?;
        Ok(Self { staged, out })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> Error + '_ {
        |source| Error::Io {
            path: self.staged.path().to_path_buf(),
            source,
        }
    }

    /// Adds a frame.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the write fails.
    pub fn frame(&mut self, pgno: u32, page: &[u8]) -> Result<(), Error> {
        let r = (|| {
            self.out.write_all(b"F")?;
            self.out.write_all(&pgno.to_le_bytes())?;
            self.out.write_all(page)
        })();
        r.map_err(self.io())
    }

    /// Ends the frames since the last commit with `commit`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the write fails; [`Error::Internal`] for a hash that is not 64 hex
    /// digits.
    pub fn commit(&mut self, commit: &Commit) -> Result<(), Error> {
        let hash = unhex(&commit.hash).ok_or_else(|| Error::Internal {
            reason: format!("page hash {:?} is not 32 bytes of hex", commit.hash),
        })?;
        let r = (|| {
            self.out.write_all(b"C")?;
            self.out.write_all(&commit.id.to_le_bytes())?;
            self.out.write_all(&commit.at_ms.to_le_bytes())?;
            self.out.write_all(&commit.pages.to_le_bytes())?;
            self.out.write_all(&commit.wal_frame.to_le_bytes())?;
            self.out.write_all(&commit.checksum[0].to_le_bytes())?;
            self.out.write_all(&commit.checksum[1].to_le_bytes())?;
            self.out.write_all(&hash)
        })();
        r.map_err(self.io())
    }

    /// Finishes the file and renames it into place at `to`, synced.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the write, sync or rename fails.
    pub fn finish(self, to: &Path) -> Result<Written, Error> {
        let path = self.staged.path().to_path_buf();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut sink = self.out.finish().map_err(io)?;
        let written = sink.done().map_err(io)?;
        drop(sink);
        self.staged.publish(to)?;
        Ok(written)
    }
}

/// Reads the segment at `path`, handing each record to `each` in order; refused unless the
/// file's SHA-256 is `sha256`.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the file is missing, does not match its hash, or is not a
/// well-formed segment; whatever `each` returns.
pub fn read(
    path: &Path,
    sha256: &str,
    mut each: impl FnMut(Record) -> Result<(), Error>,
) -> Result<(u32, [u32; 2]), Error> {
    let corrupt = |reason: String| Error::BackupCorrupt {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| corrupt(format!("cannot be read: {e}")))?;
    let found = crate::vocab::hex::hex(&Sha256::digest(&bytes));
    if found != sha256 {
        return Err(corrupt(format!(
            "its SHA-256 is {found}, the archive's index says {sha256}"
        )));
    }
    let mut r = BufReader::new(
        zstd::Decoder::new(&bytes[..]).map_err(|e| corrupt(format!("not zstd: {e}")))?,
    );
    let bad = |e: std::io::Error| corrupt(format!("not a whole segment: {e}"));
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(bad)?;
    if &magic != MAGIC {
        return Err(corrupt("not a segment (wrong magic)".into()));
    }
    let page_size = u32_of(&mut r).map_err(bad)?;
    let salt = [u32_of(&mut r).map_err(bad)?, u32_of(&mut r).map_err(bad)?];
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(corrupt(format!("page size {page_size}")));
    }
    let mut page = vec![0u8; page_size as usize];
    loop {
        let mut tag = [0u8; 1];
        if r.read(&mut tag).map_err(bad)? == 0 {
            break;
        }
        match tag[0] {
            b'F' => {
                let pgno = u32_of(&mut r).map_err(bad)?;
                r.read_exact(&mut page).map_err(bad)?;
                each(Record::Frame {
                    pgno,
                    page: page.clone(),
                })?;
            }
            b'C' => {
                let id = u64_of(&mut r).map_err(bad)?;
                let at_ms = u64_of(&mut r).map_err(bad)? as i64;
                let pages = u32_of(&mut r).map_err(bad)?;
                let wal_frame = u32_of(&mut r).map_err(bad)?;
                let checksum = [u32_of(&mut r).map_err(bad)?, u32_of(&mut r).map_err(bad)?];
                let mut hash = [0u8; 32];
                r.read_exact(&mut hash).map_err(bad)?;
                each(Record::Commit(Commit {
                    id,
                    at_ms,
                    pages,
                    wal_frame,
                    checksum,
                    hash: crate::vocab::hex::hex(&hash),
                }))?;
            }
            other => return Err(corrupt(format!("unknown record tag {other:#x}"))),
        }
    }
    Ok((page_size, salt))
}

fn u32_of(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn u64_of(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// 64 hex digits to 32 bytes.
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A segment's file name: its first commit id, zero-padded so names sort as ids do.
pub fn file_name(first: u64) -> String {
    format!("{first:016}.seg")
}

/// A compacted segment's file name: its first and last commit ids.
pub fn merged_name(first: u64, last: u64) -> String {
    format!("{first:016}-{last:016}.seg")
}

/// The path of a segment named in the index, refused unless it is a name this archive writes
/// (manifests are data, never paths): `{first}.seg` or `{first}-{last}.seg`, ids of 16 digits.
pub fn path_in(generation: &Path, name: &str) -> Option<PathBuf> {
    let digits = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit());
    let stem = name.strip_suffix(".seg")?;
    let ok = match stem.split_once('-') {
        None => digits(stem),
        Some((first, last)) => digits(first) && digits(last),
    };
    ok.then(|| generation.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_reads_back_what_was_written_and_refuses_a_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(7));
        let mut w = Writer::create(&path, 512, [1, 2]).unwrap();
        w.frame(3, &[9u8; 512]).unwrap();
        let c = Commit {
            id: 7,
            at_ms: 1_700_000_000_000,
            pages: 3,
            wal_frame: 1,
            checksum: [5, 6],
            hash: "ab".repeat(32),
        };
        w.commit(&c).unwrap();
        let written = w.finish(&path).unwrap();
        let mut seen = Vec::new();
        let (ps, salt) = read(&path, &written.sha256, |r| {
            seen.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!((ps, salt), (512, [1, 2]));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1], Record::Commit(c));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let e = read(&path, &written.sha256, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("SHA-256"), "{e}");
        assert!(path_in(dir.path(), "../x.seg").is_none());
        assert!(path_in(dir.path(), &file_name(7)).is_some());
        assert!(unhex("zz").is_none());
    }

    /// `bytes` compressed as a segment file, with its SHA-256.
    fn forged(dir: &Path, bytes: &[u8]) -> (PathBuf, String) {
        let path = dir.join(file_name(1));
        let packed = zstd::encode_all(bytes, 1).unwrap();
        std::fs::write(&path, &packed).unwrap();
        (path, crate::vocab::hex::hex(&Sha256::digest(&packed)))
    }

    #[test]
    fn a_file_that_matches_its_hash_but_is_not_a_segment_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let header = |page_size: u32| {
            let mut h = MAGIC.to_vec();
            h.extend_from_slice(&page_size.to_le_bytes());
            h.extend_from_slice(&[0; 8]);
            h
        };
        let cases: [(Vec<u8>, &str); 4] = [
            (b"NOTASEG!".to_vec(), "wrong magic"),
            (header(3000), "page size 3000"),
            ([header(512), vec![0x7f]].concat(), "unknown record tag"),
            (MAGIC[..4].to_vec(), "not a whole segment"),
        ];
        for (bytes, why) in cases {
            let (path, sha) = forged(dir.path(), &bytes);
            let e = read(&path, &sha, |_| Ok(())).unwrap_err();
            assert!(
                matches!(&e, Error::BackupCorrupt { reason, .. } if reason.contains(why)),
                "{why}: {e}"
            );
        }
        // Not zstd at all, its hash right.
        let path = dir.path().join(file_name(2));
        std::fs::write(&path, b"plain").unwrap();
        let sha = crate::vocab::hex::hex(&Sha256::digest(b"plain"));
        assert!(read(&path, &sha, |_| Ok(())).is_err());
        // A commit whose page hash is not 32 bytes of hex is never written.
        let mut w = Writer::create(&dir.path().join(file_name(3)), 512, [1, 2]).unwrap();
        let c = Commit {
            id: 3,
            at_ms: 0,
            pages: 1,
            wal_frame: 1,
            checksum: [0, 0],
            hash: "not hex".into(),
        };
        assert!(matches!(w.commit(&c), Err(Error::Internal { .. })));
    }
}
