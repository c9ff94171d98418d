//! The one runner of SQLite's b-tree checks (`quick_check`, `integrity_check`), whole file or
//! one table, keeping what SQLite reported before it gave up; and SQLite's messages as text.
//! Used by the check, its parallel pieces, the object map, the run's check before COMMIT and
//! the restore's check of the live file.

use rusqlite::Connection;

use crate::integrity::finding::{self, Finding, FindingKind};
use crate::integrity::report::Depth;
use crate::sql::quote_ident;

/// SQLite's own message for an error (without rusqlite's wrapping).
pub(crate) fn message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    }
}

/// A foreign-key check SQLite could not finish. A constraint whose parent key is neither the
/// primary key nor UNIQUE ("foreign key mismatch") is a schema problem of the application's,
/// reported like a violation; any other failure is damage.
pub(crate) fn foreign_failure(child: &str, e: &rusqlite::Error) -> Finding {
    let text = message(e);
    Finding {
        kind: if text.contains("foreign key mismatch") {
            FindingKind::ForeignKey
        } else {
            FindingKind::Unreadable
        },
        page: None,
        root: None,
        object: Some(child.to_owned()),
        table: Some(child.to_owned()),
        message: format!("checking the foreign keys of {child} failed: {text}"),
    }
}

/// The finding lines of the b-tree check (none when SQLite said exactly `ok`). A check SQLite
/// abandons before answering is a finding; at full depth it is retried as a quick check, which
/// reads less and often gets further, for the locations.
pub(crate) fn btree_check(conn: &Connection, depth: Depth, table: Option<&str>) -> Vec<String> {
    match pragma_rows(conn, depth, table) {
        Ok(rows) => finding::lines_of(&rows),
        Err(e) => {
            let mut lines = vec![format!("{} stopped: {}", depth.pragma(), message(&e))];
            if depth == Depth::Full
                && let Ok(rows) = pragma_rows(conn, Depth::Quick, table)
            {
                let stopped = lines[0].clone();
                lines.extend(
                    finding::lines_of(&rows)
                        .into_iter()
                        .filter(|l| !stopped.ends_with(l.as_str())),
                );
            }
            lines
        }
    }
}

/// The rows SQLite answers to `quick_check` / `integrity_check`, of the whole file or of one
/// table, as it wrote them (turn them into findings with `finding::lines_of`).
pub(crate) fn pragma_rows(
    conn: &Connection,
    depth: Depth,
    table: Option<&str>,
) -> rusqlite::Result<Vec<String>> {
    let sql = match table {
        // A pragma's argument cannot be a bound parameter; the name is quoted instead.
        Some(t) => format!("PRAGMA {}({})", depth.pragma(), quote_ident(t)),
        None => format!("PRAGMA {}", depth.pragma()),
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut answer = Vec::new();
    // SQLite may give up part-way through (SQLITE_CORRUPT) after reporting what it found:
    // keep those rows, and its last word as one more.
    loop {
        match rows.next() {
            Ok(Some(row)) => answer.push(row.get::<_, String>(0)?),
            Ok(None) => return Ok(answer),
            Err(e) if !answer.is_empty() => {
                answer.push(message(&e));
                return Ok(answer);
            }
            Err(e) => return Err(e),
        }
    }
}
