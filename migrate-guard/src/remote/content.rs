//! What an object holds, as this tool checks it: its size and SHA-256; and reading a file in
//! whole parts.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// An object's size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the file.
pub fn fill(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match from.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The SHA-256 (lowercase hex) of the file at `path`, read through.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = fill(&mut file, &mut buf)?;
        hasher.update(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    Ok(crate::vocab::hex::hex(&hasher.finalize()))
}
