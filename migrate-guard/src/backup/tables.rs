//! Restoring selected tables from a backup: each table's rows replaced by the backup's inside
//! one transaction, columns matched by name, foreign keys checked before commit. A table whose
//! schema differs from the backup's, or that has triggers (which would change other tables),
//! is refused before anything changes.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::Error;
use crate::backup::store;
use crate::backup::verify;
use crate::database::lock::MigrationLock;
use crate::database::record::{Change, Recorder};
use crate::foreign_keys::{self as fk, EnforcementOff};
use crate::integrity::Depth;
use crate::vocab::error::SqliteContext;
use crate::vocab::sql::quote_ident;

/// One restored table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredTable {
    /// Its name.
    pub table: String,
    /// Rows it held before.
    pub rows_before: u64,
    /// Rows it holds now (the backup's).
    pub rows_after: u64,
}

/// What a selective restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TablesReport {
    /// The backup used.
    pub id: String,
    /// The tables restored.
    pub tables: Vec<RestoredTable>,
}

/// The schema name the backup image is attached under.
const ATTACHED: &str = "migrate_backup";

fn refuse(table: &str, reason: impl Into<String>) -> Error {
    Error::TableRestoreRefused {
        table: table.to_owned(),
        reason: reason.into(),
    }
}

/// Replaces the rows of `tables` in the database at `db` with those of backup `id`.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the backup fails verification; [`Error::TableRestoreRefused`]
/// for a table missing on either side, whose columns differ, that has triggers, or whose
/// restored rows would violate foreign keys; [`Error::LockTimeout`]; [`Error::Sqlite`].
/// On any error the database is unchanged. `recorder` is told before and after, under the lock.
#[tracing::instrument(name = "restore_tables", level = "info", skip_all, fields(db = %db.display(), id = %id, tables = ?tables), err(level = "warn"))]
pub fn restore_tables(
    db: &Path,
    dir: &Path,
    (id, tables): (&str, &[String]),
    timeout: Duration,
    recorder: &mut dyn Recorder,
) -> Result<TablesReport, Error> {
    if tables.is_empty() {
        return Err(Error::InvalidRequest {
            reason: "no table named to restore".to_owned(),
        });
    }
    let _lock = MigrationLock::acquire(db, timeout)?;
    // `latest` is the newest backup once the lock is held (a run that finished meanwhile took a
    // newer one).
    let manifest = store::find(dir, id)?;
    let image = verify::stage(
        dir,
        &manifest,
        &dir.join(format!(".{}.tables.tmp", manifest.id)),
        Depth::Quick,
    )?;
    let conn = crate::database::db::open(db, timeout)?;
    recorder.starting(&conn);
    conn.execute(
        "ATTACH DATABASE ?1 AS migrate_backup",
        [crate::database::db::read_only_uri(image.path())],
    )
    .context("attaching the backup image")?;
    let result = replace_all(&conn, tables);
    let _ = conn.execute_batch("DETACH DATABASE migrate_backup");
    let restored = result?;
    let names: Vec<String> = restored.iter().map(|t| t.table.clone()).collect();
    recorder.done(
        db,
        &conn,
        &Change::TablesRestored {
            backup: &manifest.id,
            tables: &names,
        },
    );
    Ok(TablesReport {
        id: manifest.id,
        tables: restored,
    })
}

fn replace_all(conn: &Connection, tables: &[String]) -> Result<Vec<RestoredTable>, Error> {
    let mut plans = Vec::with_capacity(tables.len());
    for table in tables {
        plans.push(plan_table(conn, table)?);
    }
    let _enforcement = EnforcementOff::new(conn).context("switching foreign keys off")?;
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .context("beginning the restore")?;
    let before = fk::violations(&tx).context("checking foreign keys")?;
    let mut restored = Vec::with_capacity(plans.len());
    for plan in &plans {
        let q = quote_ident(&plan.table);
        let rows_before = count(&tx, &format!("SELECT count(*) FROM main.{q}"))?;
        tx.execute(&format!("DELETE FROM main.{q}"), [])
            .context(&format!("emptying {}", plan.table))?;
        let rows_after =
            tx.execute(
                &format!(
                    "INSERT INTO main.{q} ({cols}) SELECT {cols} FROM {ATTACHED}.{q}",
                    cols = plan.columns
                ),
                [],
            )
            .context(&format!("copying {} from the backup", plan.table))? as u64;
        restored.push(RestoredTable {
            table: plan.table.clone(),
            rows_before,
            rows_after,
        });
    }
    let introduced = fk::introduced(
        &before,
        fk::violations(&tx).context("checking foreign keys")?,
    );
    if let Some(first) = introduced.first() {
        return Err(refuse(
            &first.table,
            format!(
                "restoring would leave {} row(s) violating foreign keys (first: {} rowid {} -> {}); nothing was changed",
                introduced.len(),
                first.table,
                first
                    .rowid
                    .map_or_else(|| "?".to_owned(), |r| r.to_string()),
                first.parent
            ),
        ));
    }
    tx.commit().context("committing the restore")?;
    Ok(restored)
}

struct TablePlan {
    table: String,
    /// The quoted column list, `rowid` first for rowid tables so row ids are kept.
    columns: String,
}

/// Checks that `table` can be restored and builds its column list.
fn plan_table(conn: &Connection, asked: &str) -> Result<TablePlan, Error> {
    let lower = asked.to_ascii_lowercase();
    if lower.starts_with("sqlite_") || lower.starts_with("_migrate_") {
        return Err(refuse(
            asked,
            "internal tables cannot be restored one by one",
        ));
    }
    // Names resolve as SQLite resolves them: ASCII letters in any case.
    let mut resolved = None;
    for schema in ["main", ATTACHED] {
        let found: Option<String> = conn
            .query_row(
                &format!(
                    "SELECT name FROM {schema}.sqlite_schema
                      WHERE type = 'table' AND name = ?1 COLLATE NOCASE"
                ),
                [asked],
                |r| r.get(0),
            )
            .optional()
            .context("looking the table up")?;
        match found {
            Some(name) => resolved = resolved.or(Some(name)),
            None => {
                let side = if schema == "main" {
                    "the database"
                } else {
                    "the backup"
                };
                return Err(refuse(asked, format!("there is no such table in {side}")));
            }
        }
    }
    let table_name = resolved.unwrap_or_else(|| asked.to_owned());
    let table = table_name.as_str();
    let live = columns(conn, "main", table)?;
    let saved = columns(conn, ATTACHED, table)?;
    if live != saved {
        return Err(refuse(
            table,
            format!(
                "its schema differs from the backup's: the database has ({}), the backup ({})",
                describe(&live),
                describe(&saved)
            ),
        ));
    }
    let triggers = count_bound(
        conn,
        "SELECT count(*) FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1",
        table,
    )?;
    if triggers > 0 {
        return Err(refuse(
            table,
            "it has triggers, which would change other tables while its rows are replaced",
        ));
    }
    let without_rowid = count_bound(
        conn,
        "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND name = ?1 AND wr",
        table,
    )? > 0;
    let mut names: Vec<String> = live.iter().map(|c| quote_ident(&c.name)).collect();
    if !without_rowid {
        names.insert(0, "rowid".to_owned());
    }
    Ok(TablePlan {
        table: table.to_owned(),
        columns: names.join(", "),
    })
}

#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    declared: String,
    not_null: bool,
    pk: i64,
}

fn columns(conn: &Connection, schema: &str, table: &str) -> Result<Vec<Column>, Error> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, ?2) ORDER BY cid")
        .context("reading table columns")?;
    let rows = stmt
        .query_map([table, schema], |r| {
            Ok(Column {
                name: r.get(0)?,
                declared: r.get(1)?,
                not_null: r.get(2)?,
                pk: r.get(3)?,
            })
        })
        .context("reading table columns")?;
    rows.collect::<Result<_, _>>()
        .context("reading table columns")
}

fn describe(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.declared).trim().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(conn: &Connection, sql: &str) -> Result<u64, Error> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .context("counting rows")
}

fn count_bound(conn: &Connection, sql: &str, value: &str) -> Result<i64, Error> {
    conn.query_row(sql, [value], |r| r.get(0))
        .context("reading the schema")
}
