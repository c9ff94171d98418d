//! Checksums of migration files: SHA-256 (lower-case hex) of the text after removing a UTF-8
//! BOM and turning CRLF into LF, so a checkout on another OS does not look like an edit.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// Removes a leading UTF-8 BOM and turns every CRLF into LF.
pub fn normalize(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// SHA-256 of `text` as 64 lower-case hex digits. The text is hashed as given: call
/// [`normalize`] first for file contents.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_crlf_do_not_change_the_checksum() {
        let unix = "CREATE TABLE t (id INTEGER);\nSELECT 1;\n";
        let windows = "\u{feff}CREATE TABLE t (id INTEGER);\r\nSELECT 1;\r\n";
        assert_eq!(
            sha256_hex(&normalize(unix)),
            sha256_hex(&normalize(windows))
        );
    }

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn lone_carriage_returns_are_kept() {
        assert_eq!(normalize("a\rb"), "a\rb");
    }
}
