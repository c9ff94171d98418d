//! The full check split into pieces that run on parallel read-only connections.
//!
//! `PRAGMA integrity_check` is one thread's work, and most of it is one table's: every row is
//! looked up in each of its indexes. Checking table by table on separate connections is bounded
//! by the largest table, so the pieces here are smaller than a table:
//!
//! - the structure of the whole file (`quick_check`: every page, cell and row, page accounting,
//!   the freelist, NOT NULL and CHECK);
//! - for each ordinary rowid table, ranges of row ids: every row in the range is looked up in
//!   each of its indexes (a covering-index search on the indexed values and the row id) and its
//!   record decoded column by column;
//! - for each index, its entry count against the table's row count (one statement, so one
//!   snapshot) and, for a UNIQUE index, no two entries with the same non-NULL key;
//! - tables whose indexes this cannot express in SQL (WITHOUT ROWID, expression or partial
//!   indexes, a column that shadows `rowid`, virtual tables) get SQLite's own
//!   `integrity_check(T)`.
//!
//! Findings use SQLite's own wording ("row R missing from index I", "wrong # of entries in index
//! I", "non-unique entry in index I") so they parse and locate like the sequential check's.
//! [`plan`] is pure; [`run`] does the I/O.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use super::Depth;
use super::finding::{Finding, FindingKind};
use crate::foreign_keys::tasks as foreign;
use crate::integrity::pragma::{Answer, btree_check, foreign_failure, stopped};
use crate::vocab::sql::quote_ident;

/// Page cache for each worker connection (negative: KiB). Index lookups revisit interior pages
/// constantly; a cache this size keeps them in memory without holding the whole file.
const WORKER_CACHE: &str = "PRAGMA cache_size = -65536";

/// Tables smaller than this many row ids are one piece.
const MIN_RANGE: i64 = 65_536;

/// Pieces per worker for each large table, so that workers finishing early find more to do.
const PIECES_PER_WORKER: i64 = 16;

/// One index of a table, as the range check looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexShape {
    pub name: String,
    /// Key columns in order, each with the collation the index compares it by.
    pub columns: Vec<(String, String)>,
    pub unique: bool,
}

/// How a table can be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Layout {
    /// An ordinary rowid table: checked in row-id ranges.
    Rows {
        /// The lowest and highest row id; `None` when empty.
        bounds: Option<(i64, i64)>,
        /// Stored columns, all decoded by the range check.
        columns: Vec<String>,
        indexes: Vec<IndexShape>,
    },
    /// Anything else: `integrity_check(T)` on one connection.
    Whole,
}

/// A table and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableShape {
    pub name: String,
    pub layout: Layout,
}

/// One piece of work for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Task {
    /// `quick_check` of the whole file, or of one table when the check is limited.
    Structure { table: Option<String> },
    /// `integrity_check(T)`.
    Whole { table: String },
    /// Rows `from..=to` of `table`: index entries present, records decodable.
    Rows {
        table: String,
        from: i64,
        to: i64,
        columns: Vec<String>,
        indexes: Vec<IndexShape>,
    },
    /// An index's entry count, and uniqueness where declared.
    Entries { table: String, index: IndexShape },
    /// One foreign-key check.
    Foreign(foreign::Task),
}

impl Task {
    /// The table a task's unlocated findings belong to.
    pub(super) fn table(&self) -> Option<&str> {
        match self {
            Task::Structure { table } => table.as_deref(),
            Task::Whole { table } | Task::Rows { table, .. } | Task::Entries { table, .. } => {
                Some(table)
            }
            Task::Foreign(task) => Some(task.child()),
        }
    }
}

/// The pieces of a check of `tables` (every table when `whole_file`) at `depth`, with the
/// foreign-key checks `foreign`, for `workers` connections. The longest pieces come first.
pub(super) fn plan(
    tables: &[TableShape],
    (whole_file, depth): (bool, Depth),
    foreign: Vec<foreign::Task>,
    workers: usize,
) -> Vec<Task> {
    let mut tasks = Vec::new();
    if whole_file {
        tasks.push(Task::Structure { table: None });
    }
    if depth == Depth::Quick {
        if !whole_file {
            tasks.extend(tables.iter().map(|t| Task::Structure {
                table: Some(t.name.clone()),
            }));
        }
        tasks.extend(foreign.into_iter().map(Task::Foreign));
        return tasks;
    }
    let pieces = PIECES_PER_WORKER * workers.max(1) as i64;
    let mut ranges = Vec::new();
    for table in tables {
        match &table.layout {
            Layout::Whole => tasks.push(Task::Whole {
                table: table.name.clone(),
            }),
            Layout::Rows {
                bounds,
                columns,
                indexes,
            } => {
                if !whole_file {
                    tasks.push(Task::Structure {
                        table: Some(table.name.clone()),
                    });
                }
                tasks.extend(indexes.iter().map(|index| Task::Entries {
                    table: table.name.clone(),
                    index: index.clone(),
                }));
                if let Some((low, high)) = *bounds {
                    for (from, to) in split(low, high, pieces) {
                        ranges.push(Task::Rows {
                            table: table.name.clone(),
                            from,
                            to,
                            columns: columns.clone(),
                            indexes: indexes.clone(),
                        });
                    }
                }
            }
        }
    }
    tasks.extend(foreign.into_iter().map(Task::Foreign));
    tasks.extend(ranges);
    tasks
}

/// `low..=high` in at most `pieces` contiguous ranges of at least [`MIN_RANGE`] ids.
fn split(low: i64, high: i64, pieces: i64) -> Vec<(i64, i64)> {
    let span = (i128::from(high) - i128::from(low) + 1).max(1);
    let count = (span / i128::from(MIN_RANGE)).clamp(1, i128::from(pieces.max(1)));
    let step = (span + count - 1) / count;
    let mut out = Vec::new();
    let mut from = i128::from(low);
    while from <= i128::from(high) {
        let to = (from + step - 1).min(i128::from(high));
        out.push((from as i64, to as i64));
        from = to + 1;
    }
    out
}

/// Reads how each of `tables` can be checked.
pub(super) fn shapes(conn: &Connection, tables: &[String]) -> Vec<TableShape> {
    tables
        .iter()
        .map(|name| TableShape {
            name: name.clone(),
            layout: layout(conn, name).unwrap_or(Layout::Whole),
        })
        .collect()
}

fn layout(conn: &Connection, table: &str) -> rusqlite::Result<Layout> {
    let (kind, without_rowid): (String, bool) = conn.query_row(
        "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let all_columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_xinfo(?1)")?
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let shadows_rowid = all_columns
        .iter()
        .any(|c| ["rowid", "oid", "_rowid_"].contains(&c.to_ascii_lowercase().as_str()));
    if kind != "table" || without_rowid || shadows_rowid {
        return Ok(Layout::Whole);
    }
    let listed: Vec<(String, bool, bool)> = conn
        .prepare("SELECT name, \"unique\", partial FROM pragma_index_list(?1)")?
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut indexes = Vec::new();
    for (name, unique, partial) in listed {
        let keys: Vec<(i64, Option<String>, String)> = conn
            .prepare(
                "SELECT cid, name, coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
            )?
            .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let columns: Option<Vec<(String, String)>> = keys
            .into_iter()
            .map(|(cid, column, coll)| column.filter(|_| cid >= 0).map(|c| (c, coll)))
            .collect();
        match columns {
            Some(columns) if !partial && !columns.is_empty() => indexes.push(IndexShape {
                name,
                columns,
                unique,
            }),
            _ => return Ok(Layout::Whole),
        }
    }
    let bounds: (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT min(rowid), max(rowid) FROM {}", quote_ident(table)),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Layout::Rows {
        bounds: bounds.0.zip(bounds.1),
        columns: crate::database::db::stored_columns(conn, "main", table)?,
        indexes,
    })
}

/// What a task found: finding lines in SQLite's wording, foreign-key violations, or a
/// foreign-key check that failed, with the table it checked.
pub(super) struct Output {
    pub table: Option<String>,
    pub lines: Vec<String>,
    pub violations: Vec<foreign::Violation>,
    pub failures: Vec<Finding>,
}

/// Runs `tasks` on `workers` read-only connections to `db`, each taking the next task when it
/// finishes one. A connection that cannot be opened reports why as a line.
pub(super) fn run(
    db: &Path,
    busy_timeout: Duration,
    tasks: Vec<Task>,
    workers: usize,
) -> Vec<Output> {
    let queue = Mutex::new(tasks.into_iter().collect::<VecDeque<_>>());
    let outputs = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                let conn = match open(db, busy_timeout) {
                    Ok(conn) => conn,
                    Err(e) => {
                        push(
                            &outputs,
                            Output {
                                table: None,
                                lines: Vec::new(),
                                violations: Vec::new(),
                                failures: vec![stopped(
                                    "opening a checking connection",
                                    &e,
                                    FindingKind::Unreadable,
                                )],
                            },
                        );
                        return;
                    }
                };
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(task) = next else { break };
                    let out = perform(&conn, &task);
                    if !out.lines.is_empty()
                        || !out.violations.is_empty()
                        || !out.failures.is_empty()
                    {
                        push(&outputs, out);
                    }
                }
            });
        }
    });
    outputs.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// A small page cache on `conn` while this lives. The structure pass reads every page once,
/// in file order, and revisits only the interior pages above it: a large cache (or a mapped
/// file, which counts every page read as resident memory) buys nothing there. Measured on 1 GB
/// beside a backup (the safe run): mapped 3.7-4.4 s and 1 GB resident, with the worker's
/// 64 MiB cache 3.6 s and 106 MB, with this one 3.5 s and 45 MB (docs/benchmarks.md).
struct SmallCache<'c>(&'c Connection);

impl<'c> SmallCache<'c> {
    /// 8 MiB.
    const SIZE: &'static str = "PRAGMA cache_size = -8192";

    fn new(conn: &'c Connection) -> Self {
        let _ = conn.execute_batch(Self::SIZE);
        SmallCache(conn)
    }
}

impl Drop for SmallCache<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch(WORKER_CACHE);
    }
}

fn push(outputs: &Mutex<Vec<Output>>, out: Output) {
    outputs.lock().unwrap_or_else(|p| p.into_inner()).push(out);
}

fn open(db: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = crate::database::db::open_to_check(db, busy_timeout)?;
    conn.execute_batch(&format!("PRAGMA cell_size_check = ON; {WORKER_CACHE}"))?;
    Ok(conn)
}

fn perform(conn: &Connection, task: &Task) -> Output {
    let mut out = Output {
        table: task.table().map(str::to_owned),
        lines: Vec::new(),
        violations: Vec::new(),
        failures: Vec::new(),
    };
    let result = match task {
        Task::Structure { table } => {
            let _small = SmallCache::new(conn);
            Ok(answer(
                btree_check(conn, Depth::Quick, table.as_deref()),
                &mut out,
            ))
        }
        Task::Whole { table } => Ok(answer(
            btree_check(conn, Depth::Full, Some(table)),
            &mut out,
        )),
        Task::Rows {
            table,
            from,
            to,
            columns,
            indexes,
        } => rows(conn, table, (*from, *to), columns, indexes),
        Task::Entries { table, index } => entries(conn, table, index),
        Task::Foreign(fk) => {
            match foreign::run(conn, fk) {
                Ok(found) => out.violations = found,
                Err(e) => out.failures.push(foreign_failure(fk.child(), &e)),
            }
            Ok(Vec::new())
        }
    };
    match result {
        Ok(lines) => out.lines = lines,
        Err(e) => {
            let mut failure = stopped(
                &format!("checking {}", describe(task)),
                &e,
                FindingKind::Unknown,
            );
            failure.table = task.table().map(str::to_owned);
            if failure.obstacle.is_some() {
                out.failures.push(failure);
            } else {
                // Damage: located like SQLite's own lines.
                out.lines = vec![failure.message];
            }
        }
    }
    out
}

/// The lines of a b-tree check's answer; what stopped it, among the task's failures.
fn answer(answer: Answer, out: &mut Output) -> Vec<String> {
    if let Some(mut unchecked) = answer.unchecked {
        unchecked.table = out.table.clone();
        out.failures.push(unchecked);
    }
    answer.lines
}

fn describe(task: &Task) -> String {
    match task {
        Task::Structure { table: None } => "the file's structure".to_owned(),
        Task::Structure { table: Some(t) } => format!("the structure of {t}"),
        Task::Whole { table } => format!("table {table}"),
        Task::Rows {
            table, from, to, ..
        } => format!("rows {from}..{to} of {table}"),
        Task::Entries { index, .. } => format!("index {}", index.name),
        Task::Foreign(fk) => format!("the foreign keys of {}", fk.child()),
    }
}

/// `EXISTS` for one row's entry in `index`: a covering-index search on its key and row id.
fn entry_exists(table: &str, index: &IndexShape) -> String {
    let keys = index
        .columns
        .iter()
        .map(|(column, coll)| {
            let c = quote_ident(column);
            format!("x.{c} IS t.{c} COLLATE {}", quote_ident(coll))
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "EXISTS (SELECT 1 FROM {} AS x INDEXED BY {} WHERE {keys} AND x.rowid = t.rowid)",
        quote_ident(table),
        quote_ident(&index.name)
    )
}

/// Row ids in the range lacking an index entry, or whose record does not decode (an error).
pub(super) fn rows(
    conn: &Connection,
    table: &str,
    (from, to): (i64, i64),
    columns: &[String],
    indexes: &[IndexShape],
) -> rusqlite::Result<Vec<String>> {
    let exists: Vec<String> = indexes.iter().map(|i| entry_exists(table, i)).collect();
    let all_present = if exists.is_empty() {
        "1".to_owned()
    } else {
        exists.join(" AND ")
    };
    // typeof() of every stored column makes SQLite decode the whole record; the concatenation
    // is never NULL, so this only forces the decoding.
    let decoded = if columns.is_empty() {
        "0".to_owned()
    } else {
        columns
            .iter()
            .map(|c| format!("typeof(t.{})", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" || ")
            + " IS NULL"
    };
    let flags = if exists.is_empty() {
        String::new()
    } else {
        format!(", {}", exists.join(", "))
    };
    let sql = format!(
        "SELECT t.rowid{flags} FROM {} AS t NOT INDEXED \
         WHERE t.rowid BETWEEN ?1 AND ?2 AND (NOT ({all_present}) OR {decoded})",
        quote_ident(table)
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut found = stmt.query([from, to])?;
    let mut lines = Vec::new();
    while let Some(row) = found.next()? {
        let rowid: i64 = row.get(0)?;
        for (i, index) in indexes.iter().enumerate() {
            if !row.get::<_, bool>(i + 1)? {
                lines.push(format!("row {rowid} missing from index {}", index.name));
            }
        }
    }
    Ok(lines)
}

/// The index holds as many entries as the table has rows; a UNIQUE index no duplicate key.
pub(super) fn entries(
    conn: &Connection,
    table: &str,
    index: &IndexShape,
) -> rusqlite::Result<Vec<String>> {
    let t = quote_ident(table);
    let i = quote_ident(&index.name);
    let mut lines = Vec::new();
    // One statement, one read snapshot: a writer between two counts cannot make them differ.
    let (in_index, in_table): (i64, i64) = conn.query_row(
        &format!("SELECT (SELECT count(*) FROM {t} INDEXED BY {i}), (SELECT count(*) FROM {t} NOT INDEXED)"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if in_index != in_table {
        lines.push(format!("wrong # of entries in index {}", index.name));
    }
    if index.unique {
        let keys: Vec<String> = index
            .columns
            .iter()
            .map(|(c, coll)| format!("{} COLLATE {}", quote_ident(c), quote_ident(coll)))
            .collect();
        let not_null = index
            .columns
            .iter()
            .map(|(c, _)| format!("{} IS NOT NULL", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {t} INDEXED BY {i} WHERE {not_null} GROUP BY {} HAVING count(*) > 1)",
            keys.join(", ")
        );
        let duplicated: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        if duplicated > 0 {
            lines.push(format!("non-unique entry in index {}", index.name));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_table(name: &str, bounds: Option<(i64, i64)>) -> TableShape {
        TableShape {
            name: name.to_owned(),
            layout: Layout::Rows {
                bounds,
                columns: vec!["a".to_owned()],
                indexes: vec![IndexShape {
                    name: format!("{name}_a"),
                    columns: vec![("a".to_owned(), "BINARY".to_owned())],
                    unique: false,
                }],
            },
        }
    }

    #[test]
    fn layouts_send_what_sql_cannot_express_to_integrity_check() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, city TEXT);
             CREATE INDEX people_name ON people (name);
             CREATE UNIQUE INDEX people_pair ON people (city COLLATE RTRIM, name);
             CREATE TABLE partial (a INT); CREATE INDEX partial_a ON partial (a) WHERE a > 0;
             CREATE TABLE expr (a TEXT); CREATE INDEX expr_a ON expr (lower(a));
             CREATE TABLE wr (k TEXT PRIMARY KEY) WITHOUT ROWID;
             CREATE TABLE shadow (oid TEXT);
             INSERT INTO people VALUES (5, 'a', 'b'), (9, 'c', 'd');",
        )
        .unwrap();
        let names: Vec<String> = ["people", "partial", "expr", "wr", "shadow"]
            .map(str::to_owned)
            .to_vec();
        let shapes = shapes(&conn, &names);
        let Layout::Rows {
            bounds, indexes, ..
        } = &shapes[0].layout
        else {
            panic!("{:?}", shapes[0])
        };
        assert_eq!(*bounds, Some((5, 9)));
        let pair = indexes.iter().find(|i| i.name == "people_pair").unwrap();
        assert!(pair.unique);
        assert_eq!(
            pair.columns,
            [
                ("city".to_owned(), "RTRIM".to_owned()),
                ("name".to_owned(), "NOCASE".to_owned())
            ]
        );
        assert!(
            shapes[1..].iter().all(|s| s.layout == Layout::Whole),
            "{shapes:?}"
        );
    }

    #[test]
    fn split_covers_the_range_exactly_once() {
        for (low, high, pieces) in [
            (1, 1, 4),
            (1, 100, 4),
            (-5, 1_000_000, 7),
            (1, 10_000_000, 32),
        ] {
            let ranges = split(low, high, pieces);
            assert!(ranges.len() as i64 <= pieces);
            assert_eq!(ranges[0].0, low);
            assert_eq!(ranges.last().unwrap().1, high);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1 + 1, pair[1].0);
            }
        }
        assert_eq!(
            split(1, 100, 8),
            vec![(1, 100)],
            "small tables are one piece"
        );
        assert_eq!(split(i64::MIN, i64::MAX, 2).len(), 2);
    }

    #[test]
    fn plan_puts_the_whole_file_first_and_ranges_last() {
        let tables = [
            rows_table("big", Some((1, 10_000_000))),
            TableShape {
                name: "odd".to_owned(),
                layout: Layout::Whole,
            },
            rows_table("empty", None),
        ];
        let tasks = plan(&tables, (true, Depth::Full), Vec::new(), 2);
        assert_eq!(tasks[0], Task::Structure { table: None });
        let first_range = tasks
            .iter()
            .position(|t| matches!(t, Task::Rows { .. }))
            .unwrap();
        assert!(
            tasks[first_range..]
                .iter()
                .all(|t| matches!(t, Task::Rows { .. }))
        );
        assert_eq!(first_range, 4, "structure, big's index, odd, empty's index");
        assert_eq!(tasks.len() - first_range, 32);
        assert!(tasks.contains(&Task::Whole {
            table: "odd".to_owned()
        }));
    }

    #[test]
    fn a_limited_check_checks_each_tables_structure() {
        let tasks = plan(
            &[rows_table("t", Some((1, 10)))],
            (false, Depth::Full),
            Vec::new(),
            2,
        );
        assert_eq!(
            tasks[0],
            Task::Structure {
                table: Some("t".to_owned())
            }
        );
        assert_eq!(tasks.len(), 3);
    }
}
