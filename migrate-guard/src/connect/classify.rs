//! What a SQLite error means to a writer: try again, the disk is full, an I/O failure the
//! breaker counts, or the application's own error (a constraint, a syntax error) that no retry
//! will change. Pure.

use rusqlite::ErrorCode;

/// The kind of a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `SQLITE_BUSY` or `SQLITE_LOCKED`: another connection holds the lock; try again.
    Busy,
    /// `SQLITE_FULL`: no room.
    Full,
    /// `SQLITE_IOERR`, `SQLITE_CANTOPEN`, `SQLITE_READONLY`: the file cannot be written.
    Io,
    /// Anything else: the statement's own failure.
    Other,
}

/// Classifies `e`.
pub fn classify(e: &rusqlite::Error) -> Failure {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Failure::Busy,
        Some(ErrorCode::DiskFull) => Failure::Full,
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen | ErrorCode::ReadOnly) => {
            Failure::Io
        }
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn each_result_code_is_read_as_the_writer_needs() {
        assert_eq!(classify(&code(rusqlite::ffi::SQLITE_BUSY)), Failure::Busy);
        assert_eq!(classify(&code(rusqlite::ffi::SQLITE_LOCKED)), Failure::Busy);
        assert_eq!(
            classify(&code(rusqlite::ffi::SQLITE_BUSY_SNAPSHOT)),
            Failure::Busy
        );
        assert_eq!(classify(&code(rusqlite::ffi::SQLITE_FULL)), Failure::Full);
        assert_eq!(
            classify(&code(rusqlite::ffi::SQLITE_IOERR_WRITE)),
            Failure::Io
        );
        assert_eq!(classify(&code(rusqlite::ffi::SQLITE_READONLY)), Failure::Io);
        assert_eq!(
            classify(&code(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)),
            Failure::Other
        );
        assert_eq!(
            classify(&rusqlite::Error::QueryReturnedNoRows),
            Failure::Other
        );
    }
}
