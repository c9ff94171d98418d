//! The one runner of SQLite's b-tree checks (`quick_check`, `integrity_check`), whole file or
//! one table, keeping what SQLite reported before it gave up; and SQLite's messages as text.
//! Used by the check, its parallel pieces, the object map, the run's check before COMMIT and
//! the restore's check of the live file.

use rusqlite::Connection;

use crate::integrity::finding::{self, Finding, FindingKind};
use crate::integrity::report::Depth;
use crate::vocab::sql::quote_ident;
use crate::vocab::verdict::{Stop, classify, message};

/// A finding for an error that stopped part of a check while `doing` something: of kind
/// `damage` when SQLite called the bytes damaged, else [`FindingKind::Unchecked`] naming the
/// obstacle.
pub(crate) fn stopped(doing: &str, e: &rusqlite::Error, damage: FindingKind) -> Finding {
    let (kind, obstacle) = match classify(e) {
        Stop::Damage => (damage, None),
        Stop::Obstacle(o) => (FindingKind::Unchecked, Some(o)),
    };
    Finding {
        kind,
        page: None,
        root: None,
        object: None,
        table: None,
        message: format!("{doing} failed: {}", message(e)),
        obstacle,
    }
}

/// A foreign-key check SQLite could not finish. A constraint whose parent key is neither the
/// primary key nor UNIQUE ("foreign key mismatch") is a schema problem of the application's,
/// reported like a violation; damage is damage; anything else stopped the check.
pub(crate) fn foreign_failure(child: &str, e: &rusqlite::Error) -> Finding {
    let mut finding = stopped(
        &format!("checking the foreign keys of {child}"),
        e,
        FindingKind::Unreadable,
    );
    if message(e).contains("foreign key mismatch") {
        finding.kind = FindingKind::ForeignKey;
        finding.obstacle = None;
    }
    finding.object = Some(child.to_owned());
    finding.table = Some(child.to_owned());
    finding
}

/// What the b-tree check answered (for callers that run it on a connection of their own, such
/// as the migration engine's check before COMMIT, inside its transaction): the finding lines (none when SQLite said exactly `ok`),
/// and what stopped it, when SQLite gave no complete answer for a reason that is not damage.
pub struct Answer {
    /// Lines in SQLite's wording (locate them with `Objects::locate_all`).
    pub lines: Vec<String>,
    /// What kept SQLite from finishing (locked, recovery pending, out of time, ...).
    pub unchecked: Option<Finding>,
}

impl Answer {
    /// Every problem as a line, what stopped the check included: for callers that fail on any
    /// answer but `ok` (the check before COMMIT, the restore's check of its copy).
    pub fn into_lines(self) -> Vec<String> {
        let mut lines = self.lines;
        lines.extend(self.unchecked.map(|f| f.message));
        lines
    }
}

/// The b-tree check's answer. A check SQLite abandons with damage before answering is a
/// finding; at full depth it is retried as a quick check, which reads less and often gets
/// further, for the locations. A check abandoned for any other reason is unchecked, with the
/// lines SQLite gave before it stopped.
pub fn btree_check(conn: &Connection, depth: Depth, table: Option<&str>) -> Answer {
    let (rows, error) = pragma_rows(conn, depth, table);
    let Some(e) = error else {
        return Answer {
            lines: finding::lines_of(&rows),
            unchecked: None,
        };
    };
    let mut lines = if rows.is_empty() {
        Vec::new()
    } else {
        finding::lines_of(&rows)
    };
    if let Stop::Obstacle(_) = classify(&e) {
        return Answer {
            lines,
            unchecked: Some(stopped(depth.pragma(), &e, FindingKind::Unreadable)),
        };
    }
    let stop = format!("{} stopped: {}", depth.pragma(), message(&e));
    lines.push(stop.clone());
    if depth == Depth::Full && rows.is_empty() {
        let (quick, error) = pragma_rows(conn, Depth::Quick, table);
        if error.is_none() || !quick.is_empty() {
            lines.extend(
                finding::lines_of(&quick)
                    .into_iter()
                    .filter(|l| !stop.ends_with(l.as_str())),
            );
        }
    }
    Answer {
        lines,
        unchecked: None,
    }
}

/// The rows SQLite answers to `quick_check` / `integrity_check`, of the whole file or of one
/// table, as it wrote them (turn them into findings with `finding::lines_of`), and the error
/// that stopped it part-way, if one did: SQLite may give up (SQLITE_CORRUPT) after reporting
/// what it found, or be interrupted.
pub(crate) fn pragma_rows(
    conn: &Connection,
    depth: Depth,
    table: Option<&str>,
) -> (Vec<String>, Option<rusqlite::Error>) {
    let sql = match table {
        // A pragma's argument cannot be a bound parameter; the name is quoted instead.
        Some(t) => format!("PRAGMA {}({})", depth.pragma(), quote_ident(t)),
        None => format!("PRAGMA {}", depth.pragma()),
    };
    let mut answer = Vec::new();
    let mut stmt = match conn.prepare(&sql) {
        Ok(stmt) => stmt,
        Err(e) => return (answer, Some(e)),
    };
    let mut rows = match stmt.query([]) {
        Ok(rows) => rows,
        Err(e) => return (answer, Some(e)),
    };
    loop {
        match rows
            .next()
            .and_then(|row| row.map(|r| r.get::<_, String>(0)).transpose())
        {
            Ok(Some(row)) => answer.push(row),
            Ok(None) => return (answer, None),
            Err(e) => return (answer, Some(e)),
        }
    }
}
