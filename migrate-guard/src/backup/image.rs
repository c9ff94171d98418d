//! Moving database images between files in bounded memory: hashing, compressing and
//! decompressing as streams, with 1 MiB buffers whatever the database size.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::vocab::hex::hex;

const CHUNK: usize = 1 << 20;

/// What a stream carried: its length and SHA-256.
pub(crate) struct Digested {
    pub bytes: u64,
    pub sha256: String,
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `reader` to `writer` in chunks, hashing what passes. Read errors name `from`,
/// write errors `to`.
fn pump(
    mut reader: impl Read,
    writer: impl Write,
    from: &Path,
    to: &Path,
) -> Result<Digested, Error> {
    let mut out = HashingWriter::new(writer);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(from)(e)),
        };
        out.write_all(&buf[..n]).map_err(io(to))?;
    }
    let (_, digested) = out.finish().map_err(io(to))?;
    Ok(digested)
}

/// A writer that hashes and counts what passes through it. Bytes are gathered into 1 MiB
/// chunks and hashed on a thread of their own, so hashing overlaps reading, compressing and
/// writing; at most four chunks wait for the hasher, which bounds memory. Dropped unfinished
/// (on an error), its channel closes and the hashing thread ends by itself.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    chunk: Vec<u8>,
    bytes: u64,
    to_hasher: SyncSender<Vec<u8>>,
    hasher: JoinHandle<[u8; 32]>,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        let (to_hasher, chunks) = sync_channel::<Vec<u8>>(4);
        let hasher = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk);
            }
            hasher.finalize().into()
        });
        Self {
            inner,
            chunk: Vec::with_capacity(CHUNK),
            bytes: 0,
            to_hasher,
            hasher,
        }
    }

    fn send_chunk(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.inner.write_all(&full)?;
        self.to_hasher
            .send(full)
            .map_err(|_| std::io::Error::other("the hashing thread stopped"))
    }

    /// Flushes, and returns the inner writer with what went through.
    pub fn finish(mut self) -> std::io::Result<(W, Digested)> {
        self.send_chunk()?;
        self.inner.flush()?;
        let HashingWriter {
            inner,
            bytes,
            to_hasher,
            hasher,
            ..
        } = self;
        drop(to_hasher);
        let digest = hasher
            .join()
            .map_err(|_| std::io::Error::other("the hashing thread panicked"))?;
        Ok((
            inner,
            Digested {
                bytes,
                sha256: hex(&digest),
            },
        ))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        self.bytes += n as u64;
        if self.chunk.len() == CHUNK {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file being written that starts pushing its pages to disk every 64 MiB, on a thread of its
/// own, so that the fsync that publishes it finds little left to write: the disk works while
/// pages are still being read and compressed.
pub(crate) struct EarlyFlush {
    file: File,
    since: u64,
    wake: SyncSender<()>,
}

const FLUSH_EVERY: u64 = 64 << 20;

impl EarlyFlush {
    pub fn new(file: File, path: &Path) -> Result<Self, Error> {
        let flushing = file.try_clone().map_err(io(path))?;
        let (wake, wakes) = sync_channel::<()>(1);
        std::thread::spawn(move || {
            for () in wakes {
                // Errors surface at the final fsync, which is checked.
                let _ = flushing.sync_data();
            }
        });
        Ok(Self {
            file,
            since: 0,
            wake,
        })
    }
}

impl Write for EarlyFlush {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.since >= FLUSH_EVERY {
            self.since = 0;
            // A flush already under way covers these pages too.
            let _ = self.wake.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A zstd encoder on `file`, using every core: compression, not reading, is the slow half of
/// a compressed backup. Its frame carries zstd's content checksum (XXH64 of what went in),
/// which the decoder checks by itself: what lets [`decodes_whole`] verify a backup just
/// written without a second SHA-256 pass.
pub(crate) fn encoder<W: Write>(
    file: W,
    path: &Path,
) -> Result<zstd::stream::Encoder<'static, W>, Error> {
    let mut encoder = zstd::stream::Encoder::new(file, LEVEL).map_err(io(path))?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    encoder.multithread(workers).map_err(io(path))?;
    encoder.include_checksum(true).map_err(io(path))?;
    Ok(encoder)
}

/// The zstd frame magic number, as it is stored (little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Whether the zstd file at `from` starts with a frame that carries a content checksum
/// (bit 2 of the frame header descriptor, RFC 8878 section 3.1.1.1.1).
fn has_content_checksum(from: &Path) -> Result<bool, Error> {
    let mut head = [0u8; 5];
    File::open(from)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(io(from))?;
    Ok(head[..4] == ZSTD_MAGIC && head[4] & 0b100 != 0)
}

/// Decompresses the zstd file at `from` to nowhere and returns its uncompressed length, every
/// frame's content checksum checked by the decoder on the way: the file decodes whole to
/// exactly the bytes its encoder was given. A frame without a checksum proves nothing that way
/// and is refused (`InvalidData`): such a file is verified by [`digest_compressed`] instead.
pub(crate) fn decodes_whole(from: &Path) -> Result<u64, Error> {
    if !has_content_checksum(from)? {
        return Err(io(from)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "its zstd frame carries no content checksum",
        )));
    }
    let input = File::open(from).map_err(io(from))?;
    let mut decoder = zstd::stream::Decoder::with_buffer(BufReader::with_capacity(CHUNK, input))
        .map_err(io(from))?;
    std::io::copy(&mut decoder, &mut std::io::sink()).map_err(io(from))
}

/// Copies the file at `from` into `to`.
pub(crate) fn copy_file(from: &Path, to: &mut impl Write, to_path: &Path) -> Result<(), Error> {
    let input = File::open(from).map_err(io(from))?;
    pump(input, to, from, to_path).map(drop)
}

/// The length and SHA-256 of a file.
pub(crate) fn digest(path: &Path) -> Result<Digested, Error> {
    let file = File::open(path).map_err(io(path))?;
    pump(file, std::io::sink(), path, path)
}

/// zstd level -3 (`--fast=3`): on database pages about 2x smaller than the image, as small as
/// level -1 and 10% larger than level 1, but some 30% faster than level 1 on two cores, which
/// keeps a compressed backup within 2x the time of a durable copy (docs/benchmarks.md).
pub(crate) const LEVEL: i32 = -3;

/// Decompresses `from` into the (new, empty) file `to`, hashing the uncompressed bytes.
pub(crate) fn decompress(from: &Path, to: &mut File, to_path: &Path) -> Result<Digested, Error> {
    let input = File::open(from).map_err(io(from))?;
    let decoder = zstd::stream::Decoder::with_buffer(BufReader::with_capacity(CHUNK, input))
        .map_err(io(from))?;
    pump(decoder, to, from, to_path)
}

/// The length and SHA-256 of the uncompressed content of a zstd file.
pub(crate) fn digest_compressed(from: &Path) -> Result<Digested, Error> {
    let input = File::open(from).map_err(io(from))?;
    let decoder = zstd::stream::Decoder::with_buffer(BufReader::with_capacity(CHUNK, input))
        .map_err(io(from))?;
    pump(decoder, std::io::sink(), from, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of exactly two chunks is counted and hashed whole, its last chunk sent as it
    /// fills (nothing left for `finish`), and flushes reach the inner writer.
    #[test]
    fn whole_chunks_are_hashed_once_each() {
        let data: Vec<u8> = (0..2 * CHUNK).map(|i| (i % 251) as u8).collect();
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(&data[..CHUNK + 7]).unwrap();
        writer.flush().unwrap();
        writer.write_all(&data[CHUNK + 7..]).unwrap();
        assert!(writer.chunk.is_empty());
        let (inner, digested) = writer.finish().unwrap();
        assert!(inner == data, "the inner writer got other bytes");
        assert_eq!(digested.bytes, 2 * CHUNK as u64);
        assert_eq!(digested.sha256, hex(&Sha256::digest(&data)));
    }

    /// `copy_file` copies a file's bytes, and names the file it could not open.
    #[test]
    fn copy_file_copies_and_names_a_missing_source() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("image");
        std::fs::write(&from, b"pages").unwrap();
        let mut out = Vec::new();
        copy_file(&from, &mut out, Path::new("sink")).unwrap();
        assert_eq!(out, b"pages");

        let missing = dir.path().join("missing");
        let e = copy_file(&missing, &mut out, Path::new("sink")).unwrap_err();
        assert!(
            matches!(&e, Error::Io { path, source } if path == &missing && source.kind() == std::io::ErrorKind::NotFound),
            "{e}"
        );
    }

    /// A read error names the file read, a write error the file written.
    #[test]
    fn pump_names_the_side_that_failed() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("bad sector"))
            }
        }
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk gone"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (from, to) = (Path::new("from"), Path::new("to"));
        let Err(e) = pump(Failing, Vec::new(), from, to) else {
            panic!("a failing read was not reported")
        };
        assert!(matches!(&e, Error::Io { path, .. } if path == from), "{e}");
        assert!(e.to_string().contains("bad sector"), "{e}");
        let Err(e) = pump(&[1u8; 10][..], Failing, from, to) else {
            panic!("a failing write was not reported")
        };
        assert!(matches!(&e, Error::Io { path, .. } if path == to), "{e}");
        assert!(e.to_string().contains("disk gone"), "{e}");
    }
}
