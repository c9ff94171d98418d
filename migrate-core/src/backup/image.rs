//! Moving database images between files in bounded memory: hashing, compressing and
//! decompressing as streams, with 1 MiB buffers whatever the database size.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::checksum::hex;

const CHUNK: usize = 1 << 20;

/// What a stream carried: its length and SHA-256.
pub(crate) struct Digested {
    pub bytes: u64,
    pub sha256: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `reader` to `writer` in chunks, hashing what passes.
fn pump(
    mut reader: impl Read,
    mut writer: impl Write,
    from: &Path,
    to: &Path,
) -> Result<Digested, Error> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(from)(e)),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(io(to))?;
        bytes += n as u64;
    }
    writer.flush().map_err(io(to))?;
    Ok(Digested {
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

/// The length and SHA-256 of a file.
pub(crate) fn digest(path: &Path) -> Result<Digested, Error> {
    let file = File::open(path).map_err(io(path))?;
    pump(file, std::io::sink(), path, path)
}

/// Compresses the image at `from` into the (new, empty) file `to` with zstd, hashing the
/// uncompressed bytes on the way.
pub(crate) fn compress(from: &Path, to: &mut File, to_path: &Path) -> Result<Digested, Error> {
    let input = File::open(from).map_err(io(from))?;
    let mut encoder = zstd::stream::Encoder::new(to, LEVEL).map_err(io(to_path))?;
    // Both cores: compression, not the copy, is the slow half of a compressed backup.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    encoder.multithread(workers).map_err(io(to_path))?;
    let digested = pump(input, &mut encoder, from, to_path)?;
    encoder.finish().map_err(io(to_path))?;
    Ok(digested)
}

/// zstd level 3 (zstd's default): about 3x smaller than the image for typical tables, at
/// several hundred MB/s per core.
const LEVEL: i32 = 3;

/// Decompresses `from` into the (new, empty) file `to`, hashing the uncompressed bytes.
pub(crate) fn decompress(from: &Path, to: &mut File, to_path: &Path) -> Result<Digested, Error> {
    let input = File::open(from).map_err(io(from))?;
    let decoder = zstd::stream::Decoder::new(BufReader::new(input)).map_err(io(from))?;
    pump(decoder, to, from, to_path)
}
