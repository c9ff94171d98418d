//! Backup ids: how they are made (time, then reason, so that sorting sorts by age) and which
//! strings may be one (so that an id from the command line never leaves the backup directory).

/// Whether `id` can name a backup: ASCII letters, digits, `-` and `_` only, so that an id from
/// the command line can never leave the backup directory.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new id: the UTC time to the millisecond, then the reason, e.g.
/// `20261122T041500123Z-manual`. Sorting ids sorts backups by age.
pub fn new_id(created_at: &str, reason: &str) -> String {
    let digits: String = created_at
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T' || *c == 'Z')
        .collect();
    format!("{digits}-{reason}")
}
