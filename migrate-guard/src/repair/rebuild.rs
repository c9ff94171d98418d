//! Rebuilding a damaged database into a fresh file: its settings and schema, then every table's
//! rows (in one statement when the table reads cleanly, row by row around damaged pages
//! otherwise), rows lost in the damage fetched from a verified backup where it has them, then
//! indexes, orphans quarantined, views and triggers last (so they never fire on the copy).

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Statement};
use serde::Serialize;

use crate::Error;
use crate::repair::quarantine::{self, Quarantined, UniqueKey};
use crate::repair::salvage::{self, Gap, Rows};
use crate::vocab::error::SqliteContext;
use crate::vocab::sql::quote_ident;

/// Rows brought back from a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// Their table.
    pub table: String,
    /// The backup they came from.
    pub backup: String,
    /// When that backup was taken: the rows hold their values of then, and may have changed
    /// since (those later changes are lost).
    pub taken_at: String,
    /// Their row ids.
    pub rowids: Vec<i64>,
}

/// Rows the repair could not save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lost {
    /// Their table.
    pub table: String,
    /// The row ids known to be lost (from the table's indexes, or a row whose id was readable).
    pub rowids: Vec<i64>,
    /// When which rows were on the damaged pages is not known: the range of row ids they had.
    pub between: Option<Gap>,
    /// What happened, in words.
    pub detail: String,
}

/// Rows a backup has that the repaired table does not, and that no other entry names: deleted
/// since the backup, or lost in damage no check could see (a page of this table swapped into
/// another's b-tree passes SQLite's checks). Listed, never restored: only the application's
/// owner can tell which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Absent {
    /// Their table.
    pub table: String,
    /// The backup that has them.
    pub backup: String,
    /// When it was taken.
    pub taken_at: String,
    /// Their row ids.
    pub rowids: Vec<i64>,
}

/// What a rebuild did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    /// Tables copied in one statement.
    pub copied: Vec<String>,
    /// Tables read row by row around damage.
    pub salvaged: Vec<String>,
    /// Rows written into the new file.
    pub rows: u64,
    /// Rows moved into quarantine.
    pub quarantined: Vec<Quarantined>,
    /// Rows fetched from a backup.
    pub recovered: Vec<Recovered>,
    /// Rows the backup has that the rebuilt tables lack, not named elsewhere.
    pub absent: Vec<Absent>,
    /// Rows that could not be saved.
    pub lost: Vec<Lost>,
}

/// A verified backup image to recover lost rows from.
pub(crate) struct BackupImage<'a> {
    pub id: &'a str,
    /// When the backup was taken (its manifest's `created_at`).
    pub taken_at: &'a str,
    pub path: &'a Path,
}

const TEXT_ENCODINGS: [&str; 3] = ["UTF-8", "UTF-16le", "UTF-16be"];

/// Rebuilds the database at `damaged` into the new file `out`.
///
/// # Errors
///
/// [`Error::Sqlite`] when the damaged database cannot be opened or its schema read (nothing
/// can be rebuilt then), or writing the new file fails.
pub(crate) fn rebuild(
    damaged: &Path,
    out: &Path,
    backup: Option<BackupImage<'_>>,
    at: &str,
) -> Result<Rebuilt, Error> {
    let settings = Settings::read(damaged)?;
    let conn = Connection::open(out).context("creating the rebuilt database")?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA page_size = {}; PRAGMA auto_vacuum = {}; \
         PRAGMA encoding = '{}'; PRAGMA cache_size = -65536; PRAGMA cell_size_check = ON;",
        settings.page_size, settings.auto_vacuum, settings.encoding
    ))
    .context("preparing the rebuilt database")?;
    conn.execute(
        "ATTACH DATABASE ?1 AS old",
        [crate::database::db::read_only_uri(damaged)],
    )
    .context("reading the damaged database's schema")?;
    if let Some(b) = &backup {
        conn.execute(
            "ATTACH DATABASE ?1 AS bak",
            [crate::database::db::read_only_uri(b.path)],
        )
        .context("attaching the backup image")?;
    }
    // Rows are read from the damaged file on a connection of their own: once a statement meets
    // damage (SQLITE_CORRUPT), SQLite refuses further writes in that connection's transaction.
    let reader = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .context("opening the damaged database")?;
    reader
        .execute_batch("PRAGMA cell_size_check = ON")
        .context("opening the damaged database")?;
    let schema = Schema::read(&conn)?;
    // The new file is scratch until checked and installed: each table is copied in its own
    // transaction, because a write statement that meets damage (SQLITE_CORRUPT) leaves its
    // transaction unable to write until it is rolled back whole.
    conn.execute_batch("PRAGMA main.synchronous = OFF; PRAGMA main.journal_mode = MEMORY;")
        .context("preparing the rebuilt database")?;
    let mut rebuilt = Rebuilt::default();
    let tables = schema.create_tables(&conn)?;
    for table in &tables {
        copy_table(&conn, &reader, table, backup.as_ref(), at, &mut rebuilt)?;
    }
    if let Some(b) = &backup {
        for table in &tables {
            absent_from(&conn, &Shape::read(&conn, "main", table)?, b, &mut rebuilt)?;
        }
    }
    conn.execute_batch("BEGIN")
        .context("beginning the rebuild")?;
    copy_sequence(&conn, &schema);
    for index in schema.of_type("index") {
        create_index(&conn, index, at, &mut rebuilt)?;
    }
    let (orphans, _) = quarantine::quarantine_orphans(&conn, at)?;
    rebuilt.quarantined.extend(orphans);
    for entry in schema.of_type("view").chain(schema.of_type("trigger")) {
        conn.execute_batch(&entry.sql)
            .context(&format!("recreating {} {}", entry.kind, entry.name))?;
    }
    conn.execute_batch(&format!(
        "PRAGMA main.user_version = {}; PRAGMA main.application_id = {};",
        settings.user_version, settings.application_id
    ))
    .context("copying the header fields")?;
    conn.execute_batch("COMMIT")
        .context("committing the rebuild")?;
    if schema.had_stats {
        conn.execute_batch("ANALYZE main")
            .context("recomputing statistics")?;
    }
    if settings.wal {
        conn.query_row("PRAGMA main.journal_mode = WAL", [], |_| Ok(()))
            .context("switching the rebuilt database to WAL")?;
    }
    Ok(rebuilt)
}

/// The damaged file's settings, carried over to the new one.
struct Settings {
    page_size: i64,
    auto_vacuum: i64,
    encoding: &'static str,
    user_version: i64,
    application_id: i64,
    wal: bool,
}

impl Settings {
    fn read(damaged: &Path) -> Result<Self, Error> {
        let conn = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the damaged database")?;
        let int = |pragma: &str| -> Result<i64, Error> {
            conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .context("reading the damaged database's settings")
        };
        let encoding: String = conn
            .query_row("PRAGMA encoding", [], |r| r.get(0))
            .context("reading the damaged database's settings")?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .context("reading the damaged database's settings")?;
        Ok(Self {
            page_size: int("page_size")?,
            auto_vacuum: int("auto_vacuum")?,
            encoding: TEXT_ENCODINGS
                .into_iter()
                .find(|e| e.eq_ignore_ascii_case(&encoding))
                .unwrap_or("UTF-8"),
            user_version: int("user_version")?,
            application_id: int("application_id")?,
            wal: mode.eq_ignore_ascii_case("wal"),
        })
    }
}

struct Entry {
    kind: String,
    name: String,
    table: String,
    sql: String,
}

struct Schema {
    entries: Vec<Entry>,
    had_sequence: bool,
    had_stats: bool,
}

impl Schema {
    fn read(conn: &Connection) -> Result<Self, Error> {
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name, sql FROM old.sqlite_schema ORDER BY rowid")
            .context("reading the damaged database's schema")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .context("reading the damaged database's schema")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading the damaged database's schema")?;
        let mut schema = Schema {
            entries: Vec::new(),
            had_sequence: false,
            had_stats: false,
        };
        for (kind, name, table, sql) in rows {
            schema.had_sequence |= name == "sqlite_sequence";
            schema.had_stats |= name.starts_with("sqlite_stat");
            let (Some(sql), false) = (sql, name.starts_with("sqlite_")) else {
                continue;
            };
            schema.entries.push(Entry {
                kind,
                name,
                table,
                sql,
            });
        }
        Ok(schema)
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.kind == kind)
    }

    /// Creates every table (virtual ones first: they create their shadow tables), returning
    /// the tables whose rows are to be copied.
    fn create_tables(&self, conn: &Connection) -> Result<Vec<String>, Error> {
        let is_virtual = |e: &&Entry| {
            e.sql
                .trim_start()
                .get(..20)
                .is_some_and(|h| h.eq_ignore_ascii_case("CREATE VIRTUAL TABLE"))
        };
        let mut copy = Vec::new();
        for entry in self.of_type("table").filter(is_virtual) {
            conn.execute_batch(&entry.sql)
                .context(&format!("recreating virtual table {}", entry.name))?;
        }
        for entry in self.of_type("table").filter(|e| !is_virtual(e)) {
            let exists: bool = conn
                .query_row(
                    "SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
                    [&entry.name],
                    |r| r.get(0),
                )
                .context("reading the new schema")?;
            if exists {
                // A virtual table's shadow table: its old rows replace the new ones.
                conn.execute_batch(&format!("DELETE FROM main.{}", quote_ident(&entry.name)))
                    .context(&format!("emptying {}", entry.name))?;
            } else {
                conn.execute_batch(&entry.sql)
                    .context(&format!("recreating table {}", entry.name))?;
            }
            copy.push(entry.name.clone());
        }
        Ok(copy)
    }
}

/// A table's columns as SQL, with the row id first when it has one.
struct Shape {
    table: String,
    columns: Vec<String>,
    rowid: Option<&'static str>,
}

impl Shape {
    fn read(conn: &Connection, schema: &str, table: &str) -> Result<Self, Error> {
        let columns = quarantine::columns(conn, schema, table)?;
        let rowid = if quarantine::has_rowid(conn, schema, table)? {
            ["rowid", "_rowid_", "oid"]
                .into_iter()
                .find(|alias| !columns.iter().any(|c| c.eq_ignore_ascii_case(alias)))
        } else {
            None
        };
        Ok(Self {
            table: table.to_owned(),
            columns,
            rowid,
        })
    }

    /// `rowid, "a", "b"`.
    fn list(&self) -> String {
        self.rowid
            .into_iter()
            .map(str::to_owned)
            .chain(self.columns.iter().map(|c| quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn select(&self, schema: &str, rest: &str) -> String {
        format!(
            "SELECT {} FROM {schema}.{} {rest}",
            self.list(),
            quote_ident(&self.table)
        )
    }

    fn insert(&self) -> String {
        let n = self.columns.len() + usize::from(self.rowid.is_some());
        let marks = (1..=n)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO main.{} ({}) VALUES ({marks})",
            quote_ident(&self.table),
            self.list()
        )
    }
}

/// SQLite error codes that mean "the source cannot be read here" rather than "the new file
/// cannot be written".
fn is_read_damage(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase, SystemIoFailure};
    matches!(
        e.sqlite_error_code(),
        Some(DatabaseCorrupt | NotADatabase | SystemIoFailure)
    ) || matches!(
        e,
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::Utf8Error(..)
    )
}

fn copy_table(
    conn: &Connection,
    reader: &Connection,
    table: &str,
    backup: Option<&BackupImage<'_>>,
    at: &str,
    rebuilt: &mut Rebuilt,
) -> Result<(), Error> {
    let shape = Shape::read(conn, "old", table)?;
    let mut sink = Sink::new(conn, &shape, backup, at)?;
    conn.execute_batch("BEGIN").context("copying rows")?;
    let bulk = conn.execute(
        &format!(
            "INSERT INTO main.{} ({}) {}",
            quote_ident(&shape.table),
            shape.list(),
            shape.select("old", "")
        ),
        [],
    );
    // The gaps salvage found; `None` when the table copied whole.
    let gaps = match bulk {
        Ok(rows) => {
            sink.stored += rows as u64;
            rebuilt.copied.push(shape.table.clone());
            None
        }
        Err(_) => {
            conn.execute_batch("ROLLBACK; BEGIN")
                .context("copying rows")?;
            rebuilt.salvaged.push(shape.table.clone());
            if shape.rowid.is_none() {
                salvage_without_rowid(reader, &shape, &mut sink, rebuilt)?;
                sink.finish(rebuilt)?;
                return conn.execute_batch("COMMIT").context("copying rows");
            }
            let mut rows = SqlRows::new(reader, &shape, &mut sink)?;
            Some(salvage::salvage(&mut rows)?)
        }
    };
    if shape.rowid.is_some() {
        // The indexes list every row the table had: rows they list that the copy lacks were
        // lost in the damage, even where reading the table raised no error (a damaged interior
        // page can hide a whole subtree from a scan).
        match indexed_but_missing(conn, reader, &shape, &sink.refused) {
            Some(missing) if !missing.is_empty() => {
                account_for(
                    conn,
                    &shape,
                    Missing::Known(missing),
                    backup,
                    &mut sink,
                    rebuilt,
                )?;
            }
            Some(_) => {}
            None if gaps.is_some() => {
                // No index to say which rows were lost, and a damaged interior page can hide
                // rows from every read without an error (so the gaps salvage found may not be
                // all): the whole table is the gap.
                let whole = Gap::Between {
                    after: None,
                    before: None,
                };
                account_for(
                    conn,
                    &shape,
                    Missing::Range(whole),
                    backup,
                    &mut sink,
                    rebuilt,
                )?;
            }
            None => {}
        }
    }
    sink.finish(rebuilt)?;
    conn.execute_batch("COMMIT").context("copying rows")
}

/// Rows lost in the damage: known by id, or only as a range of ids.
enum Missing {
    Known(Vec<i64>),
    Range(Gap),
}

/// Row ids the damaged table's indexes list that the new table does not have (nor quarantine),
/// or `None` when no index of the table could be read whole.
fn indexed_but_missing(
    conn: &Connection,
    reader: &Connection,
    shape: &Shape,
    refused: &[i64],
) -> Option<Vec<i64>> {
    let rowid = shape.rowid?;
    let indexes: Vec<String> = reader
        .prepare("SELECT name FROM pragma_index_list(?1, 'main') WHERE NOT partial")
        .and_then(|mut s| {
            s.query_map([&shape.table], |r| r.get(0))?
                .collect::<Result<_, _>>()
        })
        .unwrap_or_default();
    let t = quote_ident(&shape.table);
    let ids = |conn: &Connection, sql: &str| -> rusqlite::Result<BTreeSet<i64>> {
        conn.prepare(sql)?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect()
    };
    let mut listed: Option<BTreeSet<i64>> = None;
    for index in &indexes {
        let sql = format!(
            "SELECT {rowid} FROM main.{t} INDEXED BY {}",
            quote_ident(index)
        );
        if let Ok(found) = ids(reader, &sql) {
            listed.get_or_insert_with(BTreeSet::new).extend(found);
        }
    }
    let listed = listed?;
    let present = ids(conn, &format!("SELECT {rowid} FROM main.{t}")).ok()?;
    Some(
        listed
            .difference(&present)
            .filter(|id| !refused.contains(id))
            .copied()
            .collect(),
    )
}

/// Where a row being stored came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Damaged,
    Backup,
}

/// Where a stored row ended up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placed {
    /// In the rebuilt table (for a refused damaged row: the backup's version of it).
    Table,
    /// Only in the quarantine table.
    Quarantine,
}

/// Where salvaged rows go: the new table, or quarantine when the new table refuses them (a
/// NOT NULL, CHECK or UNIQUE constraint the damage broke). A refused row is replaced by the
/// backup's row with the same id, when there is one the table accepts.
struct Sink<'c> {
    conn: &'c Connection,
    insert: Statement<'c>,
    /// Reads one row of the backup's table by row id, when the backup has the same table.
    /// The backup's row reader, id and time taken.
    from_backup: Option<(Statement<'c>, String, String)>,
    table: String,
    width: usize,
    at: String,
    stored: u64,
    refused: Vec<i64>,
    refused_rows: u64,
    replaced: Vec<i64>,
}

impl<'c> Sink<'c> {
    fn new(
        conn: &'c Connection,
        shape: &Shape,
        backup: Option<&BackupImage<'_>>,
        at: &str,
    ) -> Result<Self, Error> {
        let from_backup = match (backup, shape.rowid) {
            (Some(b), Some(rowid)) if backup_matches(conn, shape) => Some((
                conn.prepare(&shape.select("bak", &format!("WHERE {rowid} = ?1")))
                    .context("reading the backup")?,
                b.id.to_owned(),
                b.taken_at.to_owned(),
            )),
            _ => None,
        };
        Ok(Self {
            conn,
            insert: conn.prepare(&shape.insert()).context("copying rows")?,
            from_backup,
            table: shape.table.clone(),
            width: shape.columns.len() + usize::from(shape.rowid.is_some()),
            at: at.to_owned(),
            stored: 0,
            refused: Vec::new(),
            refused_rows: 0,
            replaced: Vec::new(),
        })
    }

    /// Stores one row (`values` with the row id first when the table has one), saying where
    /// it went.
    fn store(
        &mut self,
        rowid: Option<i64>,
        values: &[Value],
        origin: Origin,
    ) -> Result<Placed, Error> {
        let e = match self.insert.execute(rusqlite::params_from_iter(values)) {
            Ok(_) => {
                self.stored += 1;
                return Ok(Placed::Table);
            }
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => e,
            Err(e) => {
                return Err(e)
                    .context(&format!("writing {} into the rebuilt database", self.table));
            }
        };
        let columns = if rowid.is_some() {
            &values[1..]
        } else {
            values
        };
        let source = match origin {
            Origin::Damaged => "old",
            Origin::Backup => "bak",
        };
        quarantine::put_row(
            self.conn,
            source,
            &self.table,
            rowid,
            columns,
            &format!("rejected by the rebuilt table: {e}"),
            &self.at,
        )?;
        self.refused.extend(rowid);
        self.refused_rows += 1;
        if let (Origin::Damaged, Some(id)) = (origin, rowid)
            && let Some(good) = self.backup_row(id)
            && self
                .insert
                .execute(rusqlite::params_from_iter(&good))
                .is_ok()
        {
            self.stored += 1;
            self.replaced.push(id);
            return Ok(Placed::Table);
        }
        Ok(Placed::Quarantine)
    }

    fn backup_row(&mut self, rowid: i64) -> Option<Vec<Value>> {
        let width = self.width;
        let (stmt, _, _) = self.from_backup.as_mut()?;
        stmt.query_row([rowid], |r| (0..width).map(|i| r.get(i)).collect())
            .ok()
    }

    fn finish(self, rebuilt: &mut Rebuilt) -> Result<(), Error> {
        rebuilt.rows += self.stored;
        if let (Some((_, backup, taken_at)), false) = (&self.from_backup, self.replaced.is_empty())
        {
            rebuilt.recovered.push(Recovered {
                table: self.table.clone(),
                backup: backup.clone(),
                taken_at: taken_at.clone(),
                rowids: self.replaced.clone(),
            });
        }
        if self.refused_rows > 0 {
            rebuilt.quarantined.push(Quarantined {
                into: quarantine::table_for(&self.table),
                table: self.table,
                reason: "rejected by the rebuilt table (a constraint the damage broke); the backup's version replaced it where there was one"
                    .to_owned(),
                rowids: self.refused,
                rows: self.refused_rows,
            });
        }
        Ok(())
    }
}

/// Lists the rows of `shape`'s table that backup `b` has and the rebuilt table lacks, leaving
/// out those the report already names (as lost, or moved into quarantine).
fn absent_from(
    conn: &Connection,
    shape: &Shape,
    b: &BackupImage<'_>,
    rebuilt: &mut Rebuilt,
) -> Result<(), Error> {
    let Some(rowid) = shape.rowid.filter(|_| backup_matches(conn, shape)) else {
        return Ok(());
    };
    let t = quote_ident(&shape.table);
    let sql = format!("SELECT {rowid} FROM bak.{t} EXCEPT SELECT {rowid} FROM main.{t} ORDER BY 1");
    let named = |id: &i64| {
        rebuilt.lost.iter().any(|l| {
            l.table == shape.table
                && (l.rowids.contains(id) || l.between.is_some_and(|g| g.contains(*id)))
        }) || rebuilt
            .quarantined
            .iter()
            .any(|q| q.table == shape.table && q.rowids.contains(id))
    };
    let rowids: Vec<i64> = conn
        .prepare(&sql)
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .context("comparing the rebuilt table with the backup")?;
    let rowids: Vec<i64> = rowids.into_iter().filter(|id| !named(id)).collect();
    if !rowids.is_empty() {
        rebuilt.absent.push(Absent {
            table: shape.table.clone(),
            backup: b.id.to_owned(),
            taken_at: b.taken_at.to_owned(),
            rowids,
        });
    }
    Ok(())
}

/// Whether the backup has `shape`'s table with the same columns.
fn backup_matches(conn: &Connection, shape: &Shape) -> bool {
    table_exists(conn, &shape.table)
        && Shape::read(conn, "bak", &shape.table)
            .is_ok_and(|b| b.columns == shape.columns && b.rowid.is_some())
}

/// The damaged table read through SQL, rows stored into a [`Sink`].
struct SqlRows<'c, 's> {
    conn: &'c Connection,
    scan_all: String,
    scan_after: String,
    next_id: String,
    read_one: String,
    width: usize,
    sink: &'s mut Sink<'c>,
}

impl<'c, 's> SqlRows<'c, 's> {
    fn new(conn: &'c Connection, shape: &Shape, sink: &'s mut Sink<'c>) -> Result<Self, Error> {
        let rowid = shape.rowid.expect("a rowid table");
        let t = quote_ident(&shape.table);
        Ok(Self {
            conn,
            scan_all: shape.select("main", &format!("ORDER BY {rowid}")),
            scan_after: shape.select("main", &format!("WHERE {rowid} > ?1 ORDER BY {rowid}")),
            next_id: format!(
                "SELECT {rowid} FROM main.{t} WHERE {rowid} >= ?1 ORDER BY {rowid} LIMIT 1"
            ),
            read_one: shape.select("main", &format!("WHERE {rowid} = ?1")),
            width: shape.columns.len() + 1,
            sink,
        })
    }

    /// Runs `sql` with `param`, storing each row (those at or below `floor` aside: damage can
    /// return ids out of order); `Ok(Err)` on a read error.
    fn pump(
        &mut self,
        sql: &str,
        param: Option<i64>,
        floor: Option<i64>,
        stored: &mut dyn FnMut(i64),
    ) -> Result<Result<(), ()>, Error> {
        let Ok(mut stmt) = self.conn.prepare(sql) else {
            return Ok(Err(()));
        };
        let rows = match param {
            Some(p) => stmt.query([p]),
            None => stmt.query([]),
        };
        let Ok(mut rows) = rows else {
            return Ok(Err(()));
        };
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(Ok(())),
                Err(e) if is_read_damage(&e) => return Ok(Err(())),
                Err(e) => return Err(e).context("reading the damaged database"),
            };
            let values: Result<Vec<Value>, _> = (0..self.width).map(|i| row.get(i)).collect();
            let Ok(values) = values else {
                return Ok(Err(()));
            };
            let Value::Integer(id) = values[0] else {
                return Ok(Err(()));
            };
            if floor.is_some_and(|f| id <= f) {
                // Out of order: stored already, or inside a reported gap.
                continue;
            }
            self.sink.store(Some(id), &values, Origin::Damaged)?;
            stored(id);
        }
    }
}

impl Rows for SqlRows<'_, '_> {
    type Fatal = Error;

    fn scan(
        &mut self,
        after: Option<i64>,
        stored: &mut dyn FnMut(i64),
    ) -> Result<Result<(), ()>, Error> {
        let sql = if after.is_some() {
            self.scan_after.clone()
        } else {
            self.scan_all.clone()
        };
        self.pump(&sql, after, after, stored)
    }

    fn next_id(&mut self, after: Option<i64>) -> Result<Option<i64>, ()> {
        // Sought as `>= after + 1`, never `> after`: SQLite seeks `> K` from the leaf that holds
        // K, so when K is the last row id of a damaged leaf that seek fails, and the first row
        // of the next (readable) leaf would be skipped into the gap.
        let from = match after {
            None => i64::MIN,
            Some(a) => match a.checked_add(1) {
                Some(from) => from,
                None => return Ok(None),
            },
        };
        let result = self
            .conn
            .prepare_cached(&self.next_id)
            .and_then(|mut s| s.query_row([from], |r| r.get::<_, i64>(0)));
        match result {
            Ok(id) => Ok(Some(id)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(_) => Err(()),
        }
    }

    fn read(&mut self, rowid: i64) -> Result<Result<(), ()>, Error> {
        let sql = self.read_one.clone();
        let mut any = false;
        let result = self.pump(&sql, Some(rowid), None, &mut |_| any = true)?;
        Ok(result.and(if any { Ok(()) } else { Err(()) }))
    }
}

/// Fetches missing rows from the backup where possible; reports the rest as lost.
fn account_for(
    conn: &Connection,
    shape: &Shape,
    missing: Missing,
    backup: Option<&BackupImage<'_>>,
    sink: &mut Sink<'_>,
    rebuilt: &mut Rebuilt,
) -> Result<(), Error> {
    let rowid = shape.rowid.expect("a rowid table");
    let usable = backup.filter(|_| backup_matches(conn, shape));
    // Rows of the backup now in the table, and those the table refused (in quarantine now).
    let mut fetched = Vec::new();
    let mut refused = Vec::new();
    if let Some(b) = usable {
        let ids: Vec<(i64, i64)> = match &missing {
            Missing::Known(ids) => ids.iter().map(|id| (*id, *id)).collect(),
            Missing::Range(Gap::Between { after, before }) => vec![(
                after.map_or(i64::MIN, |a| a + 1),
                before.map_or(i64::MAX, |b| b - 1),
            )],
            Missing::Range(Gap::Row { rowid }) => vec![(*rowid, *rowid)],
        };
        let sql = shape.select(
            "bak",
            &format!(
                "WHERE {rowid} BETWEEN ?1 AND ?2 AND {rowid} NOT IN (SELECT {rowid} FROM main.{})",
                quote_ident(&shape.table)
            ),
        );
        let mut stmt = conn.prepare(&sql).context("reading the backup")?;
        for (lo, hi) in ids {
            let mut rows = stmt.query([lo, hi]).context("reading the backup")?;
            while let Some(row) = rows.next().context("reading the backup")? {
                let values: Vec<Value> = (0..shape.columns.len() + 1)
                    .map(|i| row.get(i))
                    .collect::<Result<_, _>>()
                    .context("reading the backup")?;
                let Value::Integer(id) = values[0] else {
                    continue;
                };
                match sink.store(Some(id), &values, Origin::Backup)? {
                    Placed::Table => fetched.push(id),
                    Placed::Quarantine => refused.push(id),
                }
            }
        }
        if !fetched.is_empty() {
            rebuilt.recovered.push(Recovered {
                table: shape.table.clone(),
                backup: b.id.to_owned(),
                taken_at: b.taken_at.to_owned(),
                rowids: fetched.clone(),
            });
        }
    }
    let source = usable.map_or_else(
        || "there is no verified backup to fetch them from".to_owned(),
        |b| format!("backup {} does not have them", b.id),
    );
    match missing {
        Missing::Known(ids) => {
            let lost: Vec<i64> = ids
                .into_iter()
                .filter(|id| !fetched.contains(id) && !refused.contains(id))
                .collect();
            if !lost.is_empty() {
                rebuilt.lost.push(Lost {
                    table: shape.table.clone(),
                    rowids: lost,
                    between: None,
                    detail: format!(
                        "on damaged pages (their ids are still in the table's indexes); {source}"
                    ),
                });
            }
        }
        Missing::Range(gap) => rebuilt.lost.push(Lost {
            table: shape.table.clone(),
            rowids: Vec::new(),
            between: Some(gap),
            detail: match usable {
                Some(b) => format!(
                    "the table is damaged and has no index to list the rows it lost; {} row(s) that backup {} has and the damaged table did not give back were fetched from it: rows added after that backup in the damaged parts are lost, and rows deleted after it came back",
                    fetched.len(),
                    b.id
                ),
                None => format!(
                    "the table is damaged and has no index to list the rows it lost; {source}"
                ),
            },
        }),
    }
    Ok(())
}

fn table_exists(conn: &Connection, table: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM bak.sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// A WITHOUT ROWID table is read in key order until the damage; the rows after it cannot be
/// addressed by row id, so what is lost is reported as "the rows after the N-th".
fn salvage_without_rowid(
    reader: &Connection,
    shape: &Shape,
    sink: &mut Sink<'_>,
    rebuilt: &mut Rebuilt,
) -> Result<(), Error> {
    let mut read = 0u64;
    let complete = {
        let mut stmt = reader
            .prepare(&shape.select("main", ""))
            .context("reading the damaged database")?;
        let mut rows = stmt.query([]).context("reading the damaged database")?;
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    let values: Result<Vec<Value>, _> =
                        (0..shape.columns.len()).map(|i| row.get(i)).collect();
                    let Ok(values) = values else { break false };
                    sink.store(None, &values, Origin::Damaged)?;
                    read += 1;
                }
                Ok(None) => break true,
                Err(_) => break false,
            }
        }
    };
    if !complete {
        rebuilt.lost.push(Lost {
            table: shape.table.clone(),
            rowids: Vec::new(),
            between: None,
            detail: format!(
                "a WITHOUT ROWID table: the rows after the first {read} in key order could not be read"
            ),
        });
    }
    Ok(())
}

/// Copies AUTOINCREMENT counters, so new rows never reuse the ids of deleted ones.
fn copy_sequence(conn: &Connection, schema: &Schema) {
    if schema.had_sequence {
        // Only present when an AUTOINCREMENT table was created; best effort otherwise.
        let _ = conn.execute_batch(
            "DELETE FROM main.sqlite_sequence;
             INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM old.sqlite_sequence;",
        );
    }
}

/// Creates an index; when a UNIQUE index is refused because damage let duplicates in, the
/// later duplicates are quarantined and the index created again.
fn create_index(
    conn: &Connection,
    index: &Entry,
    at: &str,
    rebuilt: &mut Rebuilt,
) -> Result<(), Error> {
    let context = format!("recreating index {} on {}", index.name, index.table);
    match conn.execute_batch(&index.sql) {
        Ok(()) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            let Some(key) = UniqueKey::read(conn, "old", &index.name)? else {
                return Err(e).context(&context);
            };
            let dups = key.duplicates(conn)?;
            rebuilt.quarantined.push(quarantine::move_rows(
                conn,
                &key.table,
                &dups,
                &format!("duplicate key under UNIQUE index {}", index.name),
                at,
            )?);
            conn.execute_batch(&index.sql).context(&context)
        }
        Err(e) => Err(e).context(&context),
    }
}
