//! Running the checks: the file header against the file, `quick_check` or `integrity_check`
//! (whole, or table by table), and `foreign_key_check`, each message parsed into a
//! [`Finding`] and mapped to its table through the root pages in `sqlite_schema`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::Error;
use crate::integrity::finding::{self, Finding, FindingKind, Parsed};
use crate::integrity::foreign::{self, Violation};
use crate::integrity::parallel;
use crate::sql::quote_ident;

/// How thorough the b-tree check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// `PRAGMA quick_check`: every page and row, NOT NULL and CHECK, but not indexes against
    /// their tables. O(N).
    Quick,
    /// `PRAGMA integrity_check`: also every index entry against its table. O(N log N).
    Full,
}

impl Depth {
    fn pragma(self) -> &'static str {
        match self {
            Depth::Quick => "quick_check",
            Depth::Full => "integrity_check",
        }
    }
}

/// At most this many findings are listed; the count says how many there were.
const MAX_LISTED: usize = 1000;

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when nothing was found.
    pub ok: bool,
    /// The database checked.
    pub database: String,
    /// How thoroughly.
    pub depth: Depth,
    /// How many connections checked at once.
    pub workers: usize,
    /// The tables checked, when the check was limited to some.
    pub tables: Option<Vec<String>>,
    /// How many problems were found.
    pub count: usize,
    /// The problems (the first 1,000).
    pub findings: Vec<Finding>,
    /// How long the check took.
    pub duration_ms: u64,
}

/// What to check, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Quick or full.
    pub depth: Depth,
    /// Limits the b-tree and foreign-key checks to these tables (and their indexes); empty
    /// checks everything.
    pub tables: Vec<String>,
    /// How long to wait for a writer's lock.
    pub busy_timeout: Duration,
    /// Connections a full check runs on. 1 runs SQLite's `integrity_check` as one statement;
    /// more split it into pieces (see the `parallel` module's documentation).
    pub workers: usize,
}

impl Options {
    /// A check of everything at `depth`, on one connection, waiting up to 5 s for locks.
    pub fn new(depth: Depth) -> Self {
        Options {
            depth,
            tables: Vec::new(),
            busy_timeout: Duration::from_secs(5),
            workers: 1,
        }
    }
}

/// The number of connections a parallel check uses by default: one per core.
pub fn available_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Checks the database at `db`, read-only.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when there is no database at `db` or a named table does not
/// exist. Damage is not an error: it is what the report lists.
pub fn check(db: &Path, options: &Options) -> Result<Report, Error> {
    let Options {
        depth,
        ref tables,
        busy_timeout,
        workers,
    } = *options;
    let workers = workers.max(1);
    let started = Instant::now();
    let size = std::fs::metadata(db)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .ok_or_else(|| Error::InvalidRequest {
            reason: format!("there is no database file at {}", db.display()),
        })?
        .len();
    let mut findings = Vec::new();
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY);
    let conn = match conn {
        Ok(conn) => {
            let _ = conn.busy_timeout(busy_timeout);
            // Every page's cell offsets and sizes are checked as it is loaded, so a cell
            // pointer past the page's end is a finding rather than bytes read from beyond it.
            let _ = conn.execute_batch("PRAGMA cell_size_check = ON");
            conn
        }
        Err(e) => {
            findings.push(unreadable(&e));
            return Ok(report(db, (depth, workers), tables, findings, started));
        }
    };
    findings.extend(header(&conn, db, size));
    let names = Names::read(&conn);
    for table in tables {
        if !names.is_table(table) {
            return Err(Error::InvalidRequest {
                reason: format!("there is no table `{table}` in {}", db.display()),
            });
        }
    }
    if workers > 1 {
        let scope = if tables.is_empty() {
            names.tables.clone()
        } else {
            tables.clone()
        };
        let shapes = match depth {
            Depth::Full => parallel::shapes(&conn, &scope),
            Depth::Quick => Vec::new(),
        };
        let foreign = foreign::tasks(&conn, &scope);
        let tasks = parallel::plan(&shapes, (tables.is_empty(), depth), foreign, workers);
        let mut violations = Vec::new();
        for out in parallel::run(db, busy_timeout, tasks, workers) {
            findings.extend(names.locate_all(&out.lines, out.table.as_deref()));
            violations.extend(out.violations);
        }
        if tables.is_empty() {
            attribute_unlocated(&conn, &names, &mut findings);
        }
        // The range pieces decoded their tables' records; the rest get the record pass.
        let whole: Vec<String> = shapes
            .into_iter()
            .filter(|s| s.layout == parallel::Layout::Whole)
            .map(|s| s.name)
            .collect();
        records(&conn, &whole, &mut findings);
        violations.sort_by(|a, b| (&a.table, a.rowid).cmp(&(&b.table, b.rowid)));
        findings.extend(violations.into_iter().map(violation));
        return Ok(report(db, (depth, workers), tables, findings, started));
    }
    let lines = if tables.is_empty() {
        btree_check(&conn, depth, None)
    } else {
        let mut all = Ok(Vec::new());
        for table in tables {
            match (btree_check(&conn, depth, Some(table)), &mut all) {
                (Ok(lines), Ok(all)) => all.extend(lines),
                (Err(e), all) => *all = Err(e),
                _ => {}
            }
        }
        all
    };
    match lines {
        Ok(lines) => findings.extend(names.locate_all(&lines, None)),
        Err(e) => findings.push(unreadable(&e)),
    }
    if tables.is_empty() {
        attribute_unlocated(&conn, &names, &mut findings);
    }
    if depth == Depth::Full {
        let scope = if tables.is_empty() {
            &names.tables
        } else {
            tables
        };
        records(&conn, scope, &mut findings);
    }
    let scope = if tables.is_empty() {
        &names.tables
    } else {
        tables
    };
    for task in foreign::tasks(&conn, scope) {
        // A database too damaged for this check has already reported why.
        let found = foreign::run(&conn, &task).unwrap_or_default();
        findings.extend(found.into_iter().map(violation));
    }
    Ok(report(db, (depth, workers), tables, findings, started))
}

fn report(
    db: &Path,
    (depth, workers): (Depth, usize),
    tables: &[String],
    mut findings: Vec<Finding>,
    started: Instant,
) -> Report {
    let count = findings.len();
    findings.truncate(MAX_LISTED);
    Report {
        ok: count == 0,
        database: db.display().to_string(),
        depth,
        workers,
        tables: (!tables.is_empty()).then(|| tables.to_vec()),
        count,
        findings,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// SQLite's own message of an error, without rusqlite's wrapping.
pub(super) fn message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    }
}

fn unreadable(e: &rusqlite::Error) -> Finding {
    Finding {
        kind: FindingKind::Unreadable,
        page: None,
        root: None,
        object: None,
        table: None,
        message: format!("SQLite cannot read the database: {e}"),
    }
}

/// Damage SQLite reported without a location ("database disk image is malformed") is traced to
/// its tables by checking each table on its own; what a table's check finds replaces the
/// unlocated report.
fn attribute_unlocated(conn: &Connection, names: &Names, findings: &mut Vec<Finding>) {
    let unlocated =
        |f: &Finding| f.table.is_none() && matches!(f.kind, FindingKind::Page | FindingKind::Other);
    if !findings.iter().any(unlocated) {
        return;
    }
    let located: Vec<Finding> = names
        .tables
        .iter()
        .filter_map(|t| {
            let lines = btree_check(conn, Depth::Quick, Some(t)).ok()?;
            Some(names.locate_all(&lines, Some(t)))
        })
        .flatten()
        .collect();
    if !located.is_empty() {
        findings.retain(|f| !unlocated(f));
        findings.extend(located);
    }
}

/// Decodes every record of each table in `scope` that has no finding yet. `integrity_check`
/// parses a row's record only to check NOT NULL columns and index entries, so in a table with
/// neither, a damaged record header goes unseen until a query reads the row.
fn records(conn: &Connection, scope: &[String], findings: &mut Vec<Finding>) {
    for table in scope {
        if findings.iter().any(|f| f.table.as_ref() == Some(table)) {
            continue;
        }
        let columns = crate::db::stored_columns(conn, "main", table).unwrap_or_default();
        let virtual_table: bool = conn
            .query_row(
                "SELECT type <> 'table' FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap_or(true);
        if columns.is_empty() || virtual_table {
            continue;
        }
        let types = columns
            .iter()
            .map(|c| format!("typeof({})", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {types} FROM {}", quote_ident(table));
        let mut read = 0u64;
        let result = conn.prepare(&sql).and_then(|mut stmt| {
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {
                read += 1;
            }
            Ok(())
        });
        if let Err(e) = result {
            findings.push(Finding {
                kind: FindingKind::Page,
                page: None,
                root: None,
                object: Some(table.clone()),
                table: Some(table.clone()),
                message: format!(
                    "reading the rows of {table} failed after {read} row(s): {}",
                    message(&e)
                ),
            });
        }
    }
}

/// Runs the b-tree check; a full check SQLite abandons half-way is retried as a quick check,
/// which reads less and often gets further.
fn btree_check(
    conn: &Connection,
    depth: Depth,
    table: Option<&str>,
) -> rusqlite::Result<Vec<String>> {
    match (pragma_lines(conn, depth, table), depth) {
        (Err(_), Depth::Full) => pragma_lines(conn, Depth::Quick, table),
        (result, _) => result,
    }
}

/// The lines of `quick_check` / `integrity_check`, of the whole file or of one table.
pub(super) fn pragma_lines(
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
    let mut lines = Vec::new();
    // SQLite may give up part-way through (SQLITE_CORRUPT) after reporting what it found:
    // keep those lines, and its last word as one more.
    loop {
        match rows.next() {
            Ok(Some(row)) => lines.push(row.get::<_, String>(0)?),
            Ok(None) => return Ok(lines),
            Err(e) if !lines.is_empty() => {
                lines.push(message(&e));
                return Ok(lines);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The header's page count against the file's size (outside WAL mode, where the newest pages
/// may live in the WAL instead).
fn header(conn: &Connection, db: &Path, size: u64) -> Option<Finding> {
    let read = || -> rusqlite::Result<(u64, u64, String)> {
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        Ok((page_size as u64, page_count as u64, mode))
    };
    let (page_size, page_count) = match read() {
        Ok((_, _, mode)) if mode.eq_ignore_ascii_case("wal") => return None,
        Ok((size, count, _)) => (size, count),
        // SQLite cannot even read the header through its own API: read the 100 bytes directly.
        // (Only here: a second descriptor on a database this process has locked would drop
        // those locks when closed, but nothing can be locked on a file SQLite cannot read.)
        Err(_) => raw_header(db)?,
    };
    let expected = page_size * page_count;
    (expected != size).then(|| Finding {
        kind: FindingKind::Header,
        page: None,
        root: None,
        object: None,
        table: None,
        message: format!(
            "the header says {page_count} pages of {page_size} bytes ({expected} bytes) but the file holds {size} bytes{}",
            if size < expected { ": the file is truncated" } else { "" }
        ),
    })
}

fn raw_header(db: &Path) -> Option<(u64, u64)> {
    use std::io::Read;
    let mut bytes = [0u8; 100];
    std::fs::File::open(db).ok()?.read_exact(&mut bytes).ok()?;
    if &bytes[..16] != b"SQLite format 3\0" {
        return None;
    }
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let page_count = u64::from(u32::from_be_bytes([
        bytes[28], bytes[29], bytes[30], bytes[31],
    ]));
    Some((page_size, page_count))
}

fn violation(v: Violation) -> Finding {
    let row = v
        .rowid
        .map_or_else(|| "a row".to_owned(), |r| format!("rowid {r}"));
    Finding {
        kind: FindingKind::ForeignKey,
        page: None,
        root: None,
        object: Some(v.table.clone()),
        message: format!(
            "{row} of {} references a missing row of {}",
            v.table, v.parent
        ),
        table: Some(v.table),
    }
}

/// Tables and indexes by name and by root page, from `sqlite_schema` (empty when unreadable).
struct Names {
    by_root: HashMap<u64, (String, String)>,
    table_of: HashMap<String, String>,
    tables: Vec<String>,
}

impl Names {
    fn read(conn: &Connection) -> Self {
        let rows: Vec<(String, String, String, Option<i64>)> = conn
            .prepare("SELECT type, name, tbl_name, rootpage FROM sqlite_schema")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .unwrap_or_default();
        let mut names = Names {
            by_root: HashMap::new(),
            table_of: HashMap::new(),
            tables: Vec::new(),
        };
        for (kind, name, table, root) in rows {
            if let Some(root) = root.filter(|r| *r > 0) {
                names
                    .by_root
                    .insert(root as u64, (name.clone(), table.clone()));
            }
            if kind == "table" {
                names.tables.push(name.clone());
            }
            names.table_of.insert(name, table);
        }
        names
    }

    fn is_table(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }

    /// Parses check output, locating each finding; `checked` is the table a per-table check
    /// ran on, the owner of anything it reports without a location.
    fn locate_all(&self, lines: &[String], checked: Option<&str>) -> Vec<Finding> {
        lines
            .iter()
            .filter_map(|l| finding::parse(l))
            .map(|p| {
                let mut f = self.locate(p);
                if f.table.is_none() {
                    f.table = checked.map(str::to_owned);
                }
                f
            })
            .collect()
    }

    fn locate(&self, p: Parsed) -> Finding {
        let (object, table) = match (&p.named, p.root) {
            (Some(named), _) => (
                Some(named.clone()),
                self.table_of
                    .get(named)
                    .cloned()
                    .or_else(|| Some(named.clone())),
            ),
            (None, Some(root)) => match self.by_root.get(&root) {
                Some((name, table)) => (Some(name.clone()), Some(table.clone())),
                None => (None, None),
            },
            (None, None) => (None, None),
        };
        Finding {
            kind: p.kind,
            page: p.page,
            root: p.root,
            object,
            table,
            message: p.message,
        }
    }
}
