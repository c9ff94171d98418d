//! Running the checks: the file header against the file, `quick_check` or `integrity_check`
//! (whole, or table by table), and `foreign_key_check`, each message parsed into a
//! [`Finding`] and mapped to its table through the root pages in `sqlite_schema`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::Error;
use crate::foreign_keys::tasks::{self as foreign, Violation};
use crate::integrity::finding::{Finding, FindingKind};
use crate::integrity::objects::{self, Objects, PageMap};
use crate::integrity::parallel;
use crate::integrity::pragma::{btree_check, foreign_failure, stopped};
pub use crate::integrity::report::{Depth, Report};
use crate::vocab::sql::quote_ident;
use crate::vocab::verdict::{Obstacle, Verdict};

/// At most this many findings are listed; the count says how many there were.
const MAX_LISTED: usize = 1000;

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
    /// Whether the foreign-key constraints are checked too.
    pub foreign_keys: ForeignKeys,
}

/// Whether a check includes the foreign-key constraints. Violations are the data's, not damage
/// (see [`Report::ok`]); a caller that finds them elsewhere, later and only where needed (the
/// run's check before COMMIT), leaves them out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForeignKeys {
    /// Every constraint of the tables checked (the default).
    #[default]
    Checked,
    /// None: the report is about the file's structure only.
    Skipped,
}

impl Options {
    /// A check of everything at `depth`, on one connection, waiting up to 5 s for locks.
    pub fn new(depth: Depth) -> Self {
        Options {
            depth,
            tables: Vec::new(),
            busy_timeout: Duration::from_secs(5),
            workers: 1,
            foreign_keys: ForeignKeys::Checked,
        }
    }
}

/// The number of connections a parallel check uses by default: one per core.
pub fn available_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Checks the database at `db`, read-only.
///
/// The report is `ok` only when SQLite answered exactly `ok` to every check it ran and the
/// foreign-key check found nothing: every other answer, an error part-way included, is a
/// finding (see the `finding` module).
///
/// # Errors
///
/// [`Error::InvalidRequest`] when there is no database at `db` or a named table does not
/// exist. Damage is not an error: it is what the report lists.
#[tracing::instrument(name = "integrity_check", level = "debug", skip_all, fields(db = %db.display(), depth = ?options.depth, verdict = tracing::field::Empty), err(level = "warn"))]
pub fn check(db: &Path, options: &Options) -> Result<Report, Error> {
    let Options {
        depth,
        ref tables,
        busy_timeout,
        workers,
        foreign_keys,
    } = *options;
    let workers = workers.max(1);
    let started = Instant::now();
    if crate::database::db::regular_file(db)?.is_none() {
        return Err(Error::NoDatabase {
            path: db.to_path_buf(),
        });
    }
    let mut findings = Vec::new();
    let conn = crate::database::db::open_to_check(db, busy_timeout);
    let conn = match conn {
        Ok(conn) => {
            // Every page's cell offsets and sizes are checked as it is loaded, so a cell
            // pointer past the page's end is a finding rather than bytes read from beyond it.
            let _ = conn.execute_batch("PRAGMA cell_size_check = ON");
            conn
        }
        Err(e) => {
            findings.push(unreadable(db, "opening the database", &e));
            return Ok(report(db, (depth, workers), tables, findings, started));
        }
    };
    let mut schema_read = true;
    let objects = match Objects::read(&conn) {
        Ok(objects) => objects,
        Err(e) => {
            let finding = unreadable(db, "reading the schema", &e);
            let stop = finding.obstacle.is_some();
            findings.push(finding);
            if stop {
                // What stopped SQLite (a lock, a recovery it may not run) stops every part.
                return Ok(report(db, (depth, workers), tables, findings, started));
            }
            schema_read = false;
            Objects::none()
        }
    };
    // Names resolve as SQLite resolves them: ASCII letters in any case.
    let mut named = Vec::with_capacity(tables.len());
    for table in tables {
        match objects
            .tables
            .iter()
            .find(|t| t.eq_ignore_ascii_case(table))
        {
            Some(found) => named.push(found.clone()),
            // A schema SQLite calls damaged lists nothing: the name is checked as given.
            None if !schema_read => named.push(table.clone()),
            None => {
                return Err(Error::NoSuchTable {
                    path: db.to_path_buf(),
                    table: table.to_owned(),
                });
            }
        }
    }
    let scope = if tables.is_empty() {
        objects.tables.clone()
    } else {
        named
    };
    let foreign = match foreign_keys {
        ForeignKeys::Checked => foreign::tasks(&conn, &scope),
        ForeignKeys::Skipped => Vec::new(),
    };
    if workers > 1 {
        in_parallel(
            (db, &conn, &objects),
            (depth, tables.is_empty(), &scope),
            (busy_timeout, workers),
            foreign,
            &mut findings,
        );
    } else {
        in_sequence(
            (&conn, &objects),
            (depth, tables),
            (&scope, foreign),
            &mut findings,
        );
    }
    attribute(&conn, &objects, &scope, &mut findings);
    Ok(report(db, (depth, workers), tables, findings, started))
}

/// SQLite's single statements on this one connection: the b-tree check (whole, or table by
/// table), at full depth the record pass, then every foreign-key constraint.
fn in_sequence(
    (conn, objects): (&Connection, &Objects),
    (depth, tables): (Depth, &[String]),
    (scope, foreign): (&[String], Vec<foreign::Task>),
    findings: &mut Vec<Finding>,
) {
    let parts: Vec<Option<&str>> = if tables.is_empty() {
        vec![None]
    } else {
        tables.iter().map(|t| Some(t.as_str())).collect()
    };
    for part in parts {
        let answer = btree_check(conn, depth, part);
        findings.extend(objects.locate_all(&answer.lines, part));
        if let Some(mut unchecked) = answer.unchecked {
            unchecked.table = part.map(str::to_owned);
            findings.push(unchecked);
            // The rest would wait on the same lock, or run past the same budget.
            return;
        }
    }
    if findings.iter().any(|f| f.obstacle.is_some()) {
        return;
    }
    if depth == Depth::Full {
        records(conn, scope, findings);
        if findings.iter().any(|f| f.obstacle.is_some()) {
            return;
        }
    }
    for task in foreign {
        match foreign::run(conn, &task) {
            Ok(found) => findings.extend(found.into_iter().map(violation)),
            Err(e) => {
                let failure = foreign_failure(task.child(), &e);
                let stop = failure.obstacle.is_some();
                findings.push(failure);
                if stop {
                    return;
                }
            }
        }
    }
}

/// The check split into pieces on `workers` connections (see the `parallel` module).
fn in_parallel(
    (db, conn, objects): (&Path, &Connection, &Objects),
    (depth, whole_file, scope): (Depth, bool, &[String]),
    (busy_timeout, workers): (Duration, usize),
    foreign: Vec<foreign::Task>,
    findings: &mut Vec<Finding>,
) {
    let shapes = match depth {
        Depth::Full => parallel::shapes(conn, scope),
        // A quick check of named tables plans a b-tree check of each (without them the plan
        // held none, and a damaged table was called ok); no record pass follows.
        Depth::Quick => scope
            .iter()
            .map(|name| parallel::TableShape {
                name: name.clone(),
                layout: parallel::Layout::Whole,
            })
            .collect(),
    };
    let tasks = parallel::plan(&shapes, (whole_file, depth), foreign, workers);
    let mut violations = Vec::new();
    for out in parallel::run(db, busy_timeout, tasks, workers) {
        findings.extend(objects.locate_all(&out.lines, out.table.as_deref()));
        findings.extend(out.failures);
        violations.extend(out.violations);
    }
    // The range pieces decoded their tables' records; the rest get the record pass (a full
    // check's only).
    let whole: Vec<String> = shapes
        .into_iter()
        .filter(|s| s.layout == parallel::Layout::Whole)
        .map(|s| s.name)
        .collect();
    if depth == Depth::Full {
        records(conn, &whole, findings);
    }
    violations.sort_by(|a, b| (&a.table, a.rowid).cmp(&(&b.table, b.rowid)));
    findings.extend(violations.into_iter().map(violation));
}

fn report(
    db: &Path,
    (depth, workers): (Depth, usize),
    tables: &[String],
    mut findings: Vec<Finding>,
    started: Instant,
) -> Report {
    let count = findings.len();
    let damage = findings.iter().filter(|f| f.is_damage()).count();
    let obstacle = findings.iter().find_map(|f| f.obstacle);
    let verdict = match (damage, obstacle) {
        (0, None) => Verdict::Ok,
        (0, Some(_)) => Verdict::CouldNotCheck,
        _ => Verdict::Damaged,
    };
    tracing::Span::current().record("verdict", tracing::field::debug(verdict));
    match verdict {
        Verdict::Ok => tracing::debug!(findings = count, "SQLite said ok"),
        Verdict::Damaged => tracing::warn!(
            db = %db.display(),
            damage,
            findings = count,
            "SQLite called the database damaged"
        ),
        Verdict::CouldNotCheck => tracing::warn!(
            db = %db.display(),
            obstacle = ?obstacle,
            "the database could not be checked"
        ),
    }
    // Damage first, so that the listed findings include it when there are many.
    findings.sort_by_key(|f| !f.is_damage());
    findings.truncate(MAX_LISTED);
    Report {
        ok: count == 0,
        verdict,
        obstacle,
        damage,
        database: db.display().to_string(),
        depth,
        workers,
        tables: (!tables.is_empty()).then(|| tables.to_vec()),
        count,
        findings,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// What stopped the check from reading the file at all. SQLite refusing a file that looks like
/// a database (`SQLITE_NOTADB`, or a generic error such as "unsupported file format" where its
/// header holds values SQLite never writes) is damage to it; `SQLITE_NOTADB` on a file that
/// does not even look like one is not: nothing says it ever was a database.
fn unreadable(db: &Path, doing: &str, e: &rusqlite::Error) -> Finding {
    let mut finding = stopped(doing, e, FindingKind::Unreadable);
    use rusqlite::ffi;
    let refused = matches!(e, rusqlite::Error::SqliteFailure(err, _)
        if matches!(err.extended_code & 0xff, ffi::SQLITE_NOTADB | ffi::SQLITE_ERROR));
    if refused {
        if crate::database::db::looks_like_database(db) {
            finding.kind = FindingKind::Unreadable;
            finding.obstacle = None;
        } else {
            finding.kind = FindingKind::Unchecked;
            finding.obstacle = Some(Obstacle::NotADatabase);
        }
    }
    finding
}

/// Names the table or index of every damage finding that has none yet. A page is looked up in
/// the b-trees (walked one object at a time); damage SQLite reported with no location at all
/// ("database disk image is malformed", an unknown line) is traced by checking each table of
/// `scope` on its own and walking each b-tree: what those find, located, replaces it. When they
/// find nothing, the finding stays as it was: unlocated, still a finding.
fn attribute(conn: &Connection, objects: &Objects, scope: &[String], findings: &mut Vec<Finding>) {
    let unlocated =
        |f: &Finding| f.table.is_none() && f.is_damage() && f.kind != FindingKind::Header;
    if !findings.iter().any(unlocated) {
        return;
    }
    let pages = PageMap::read(conn, objects);
    pages.locate(findings);
    let nowhere = |f: &Finding| unlocated(f) && f.page.is_none();
    if !findings.iter().any(nowhere) {
        return;
    }
    let mut located: Vec<Finding> = Vec::new();
    for table in scope {
        let answer = btree_check(conn, Depth::Quick, Some(table));
        located.extend(objects.locate_all(&answer.lines, Some(table)));
    }
    for (object, why) in &pages.unwalkable {
        if scope.contains(&object.table) || object.root == 1 {
            located.push(objects::unwalkable(object, why));
        }
    }
    if !located.is_empty() {
        findings.retain(|f| !nowhere(f));
        for f in located {
            if !findings.contains(&f) {
                findings.push(f);
            }
        }
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
        let shape = crate::database::db::stored_columns(conn, "main", table).and_then(|columns| {
            let virtual_table: bool = conn.query_row(
                "SELECT type <> 'table' FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
                [table],
                |r| r.get(0),
            )?;
            Ok((columns, virtual_table))
        });
        let columns = match shape {
            Ok((_, true)) => continue,
            Ok((columns, false)) if columns.is_empty() => continue,
            Ok((columns, false)) => columns,
            Err(e) => {
                let mut f = stopped(
                    &format!("reading the columns of {table}"),
                    &e,
                    FindingKind::Unreadable,
                );
                f.table = Some(table.clone());
                f.object = Some(table.clone());
                findings.push(f);
                continue;
            }
        };
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
            let mut f = stopped(
                &format!("reading the rows of {table} after {read} row(s)"),
                &e,
                FindingKind::Page,
            );
            f.object = Some(table.clone());
            f.table = Some(table.clone());
            let stop = f.obstacle.is_some();
            findings.push(f);
            if stop {
                return;
            }
        }
    }
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
        obstacle: None,
    }
}
