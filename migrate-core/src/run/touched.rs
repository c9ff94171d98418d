//! What a migration's scripts write or create, as SQLite's authorizer sees each statement while
//! it is prepared: the tables (with their indexes) the integrity check before COMMIT covers; and
//! the tool's own tables, which scripts may not write.
//!
//! The authorizer is told of every table a statement (and any trigger it fires) inserts into,
//! updates, deletes from, creates, drops, alters or indexes, before the statement runs. A write
//! to a `_migrate*` table (`_migrate_history`, `_migrate_attempts`, repair's quarantine tables)
//! is denied there: the statement fails before it runs, naming its line, and the run fails
//! (a migration that could rewrite the history would make applied versions look pending, or
//! invent versions). Statements the run itself issues (history, checks) are prepared while no
//! tracker is installed.
//!
//! rusqlite installs an authorizer only through `&mut Connection`; the run holds `&Connection`
//! (an application's, for `Migrator::run_on`). A [`Tracker`] therefore installs it through a
//! second, non-owning `Connection` on the same SQLite handle. rusqlite keeps the callback as
//! client data of the handle, so it lives as long as the handle, and the tracker removes it
//! when dropped. Its limit: an authorizer the application installed on the connection with
//! rusqlite is replaced for the duration and not put back.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// What the scripts wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Touched {
    /// Tables of the main database written or created, as SQLite names them.
    pub tables: BTreeSet<String>,
    /// Whether `sqlite_schema` itself was written (`PRAGMA writable_schema`): the connection
    /// still holds the schema it parsed before, and any object may have changed.
    pub schema_edited: bool,
    /// The tool's own tables a statement tried to write (and was refused).
    pub refused: BTreeSet<String>,
    /// Tables of the main database a statement created or dropped (lower-case): their rows
    /// may have come or gone without a row change being counted (`DROP TABLE`, `CREATE TABLE
    /// … AS`), even when a table of the same name and definition stands there afterwards.
    pub replaced: BTreeSet<String>,
}

/// The authorizer, installed on a connection while this lives.
pub(crate) struct Tracker<'c> {
    alias: Connection,
    seen: Arc<Mutex<Touched>>,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> Tracker<'c> {
    /// Starts tracking on `conn`.
    pub fn start(conn: &'c Connection) -> rusqlite::Result<Self> {
        // SAFETY: the alias shares `conn`'s handle without owning it (dropping it does not
        // close the handle), is used only on this thread while `conn` is borrowed for 'c, and
        // is only used to install and remove the authorizer, whose callback rusqlite stores as
        // client data of the handle itself.
        let mut alias = unsafe { Connection::from_handle(conn.handle())? };
        let seen = Arc::new(Mutex::new(Touched::default()));
        let sink = Arc::clone(&seen);
        alias.authorizer(Some(move |ctx: AuthContext<'_>| {
            let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(table) = created_or_dropped(&ctx) {
                seen.replaced.insert(table.to_ascii_lowercase());
            }
            match written(&ctx) {
                Some(table) if is_own(table) => {
                    seen.refused.insert(table.to_owned());
                    return Authorization::Deny;
                }
                // Once per statement of a large file of INSERTs: no allocation when known.
                Some(table) if !seen.tables.contains(table) => {
                    seen.tables.insert(table.to_owned());
                }
                Some(_) => {}
                None if edits_schema(&ctx) => seen.schema_edited = true,
                None => {}
            }
            Authorization::Allow
        }))?;
        Ok(Tracker {
            alias,
            seen,
            _conn: PhantomData,
        })
    }

    /// What was touched so far.
    pub fn touched(&self) -> Touched {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Tracker<'_> {
    fn drop(&mut self) {
        let none: Option<fn(AuthContext<'_>) -> Authorization> = None;
        let _ = self.alias.authorizer(none);
    }
}

/// The main-database table an action writes, creates, alters or indexes, if any.
fn written<'a>(ctx: &AuthContext<'a>) -> Option<&'a str> {
    // ALTER TABLE names its database in the action itself; the others in the context.
    let (database, table) = match ctx.action {
        AuthAction::AlterTable {
            database_name,
            table_name,
        } => (Some(database_name), table_name),
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. } => (ctx.database_name, table_name),
        _ => return None,
    };
    (database == Some("main") && !table.to_ascii_lowercase().starts_with("sqlite_"))
        .then_some(table)
}

/// The main-database table an action creates or drops, if any.
fn created_or_dropped<'a>(ctx: &AuthContext<'a>) -> Option<&'a str> {
    match ctx.action {
        AuthAction::CreateTable { table_name } | AuthAction::DropTable { table_name }
            if ctx.database_name == Some("main") =>
        {
            Some(table_name)
        }
        _ => None,
    }
}

/// A table of the tool's own (`_migrate…`, in any case).
fn is_own(table: &str) -> bool {
    table
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("_migrate"))
}

/// `PRAGMA writable_schema = …`: what lets a script write `sqlite_schema` directly (SQLite's own
/// DDL writes it too, so writes to it alone say nothing).
fn edits_schema(ctx: &AuthContext<'_>) -> bool {
    matches!(
        ctx.action,
        AuthAction::Pragma { pragma_name, pragma_value: Some(_) }
            if pragma_name.eq_ignore_ascii_case("writable_schema")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_what_scripts_write_and_nothing_after_it_is_dropped() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE c (x); CREATE TABLE log (x);
             CREATE TRIGGER t AFTER INSERT ON c BEGIN INSERT INTO log VALUES (new.x); END;",
        )
        .unwrap();
        let tracker = Tracker::start(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO a VALUES (1); SELECT * FROM b; INSERT INTO c VALUES (2);
             CREATE TABLE d (y); CREATE INDEX d_y ON d (y); ALTER TABLE b ADD COLUMN z;
             CREATE TEMP TABLE scratch (q); INSERT INTO scratch VALUES (1);",
        )
        .unwrap();
        let touched = tracker.touched();
        drop(tracker);
        let expected: BTreeSet<String> = ["a", "b", "c", "d", "log"].map(str::to_owned).into();
        assert_eq!(touched.tables, expected);
        assert_eq!(touched.replaced, BTreeSet::from(["d".to_owned()]));
        assert!(!touched.schema_edited);
        // Removed: later statements prepare with no authorizer.
        conn.execute_batch("INSERT INTO a VALUES (3)").unwrap();
        let tracker = Tracker::start(&conn).unwrap();
        conn.execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = sql WHERE name = 'a';
             PRAGMA writable_schema = OFF;",
        )
        .unwrap();
        assert!(tracker.touched().schema_edited);
    }

    #[test]
    fn writes_to_the_tools_tables_are_refused_before_they_run() {
        let conn = Connection::open_in_memory().unwrap();
        crate::record::history::prepare_tables(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE app (x);
             CREATE TRIGGER sneaky AFTER UPDATE ON app BEGIN DELETE FROM _migrate_history; END;",
        )
        .unwrap();
        let tracker = Tracker::start(&conn).unwrap();
        for sql in [
            "INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms) VALUES (9, 'x', 'y', 'z', 0)",
            "UPDATE _MIGRATE_HISTORY SET version = 99",
            "DELETE FROM _migrate_attempts",
            "DROP TABLE _migrate_history",
            "CREATE TABLE _migrate_extra (z)",
            "CREATE INDEX i ON _migrate_history (name)",
            "UPDATE app SET x = 1",
        ] {
            let err = conn.execute_batch(sql).unwrap_err();
            assert!(err.to_string().contains("not authorized"), "{sql}: {err}");
        }
        let refused = tracker.touched().refused;
        drop(tracker);
        assert!(refused.contains("_migrate_history"), "{refused:?}");
        assert!(refused.contains("_migrate_attempts"), "{refused:?}");
        assert!(refused.contains("_migrate_extra"), "{refused:?}");
        // The run's own writes come after the tracker is gone.
        conn.execute_batch("DELETE FROM _migrate_attempts").unwrap();
    }
}
