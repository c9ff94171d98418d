//! The repair ladder: from the least invasive step to the last resort, stopping as soon as the
//! database checks clean, and saying what it changed and every row it could not save.
//!
//! 1. **reindex**: indexes that disagree with their tables are rebuilt from them; rows that
//!    break a UNIQUE index are quarantined first. In place, one transaction.
//! 2. **quarantine**: rows whose foreign-key parent is missing move into
//!    `_migrate_quarantine_<table>`. In place, one transaction. Never deleted.
//! 3. **rebuild**: everything readable is copied into a fresh file, row by row around damaged
//!    pages; rows lost in the damage are fetched from the latest verified backup where it has
//!    them; the copy is checked, then put in place.
//! 4. **restore-backup**: the latest backup that verifies replaces the database.
//!
//! Before anything changes, a copy of the damaged file is kept in the backup directory.
//!
//! ```no_run
//! use std::time::Duration;
//! use belay_guard::repair::{self, Mode, Options};
//!
//! let report = repair::repair("app.db".as_ref(), &Options {
//!     backup_dir: None,
//!     busy_timeout: Duration::from_secs(5),
//!     mode: Mode::Repair,
//! }, &mut ())?; // `()`: no account kept of what it did

//! for lost in &report.lost {
//!     eprintln!("could not save rows of {}: {}", lost.table, lost.detail);
//! }
//! # Ok::<(), belay_guard::Error>(())
//! ```

mod install;
mod ladder;
mod quarantine;
mod rebuild;
mod report;
mod salvage;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use ladder::{Ladder, Rung, plan};
pub use quarantine::{Quarantined, table_for as quarantine_table};
pub use rebuild::{Absent, Lost, Rebuilt, Recovered};
pub use report::{Action, Mode, Options, RepairReport, Unverified};
use rusqlite::{Connection, Transaction, TransactionBehavior};
pub use salvage::Gap;

use crate::Error;
use crate::backup::{self, VerifiedImage};
use crate::database::lock::MigrationLock;
use crate::database::record::{Change, Recorder};
use crate::database::settle::Locking;
use crate::foreign_keys::EnforcementOff;
use crate::integrity::{Depth, FindingKind, Options as CheckOptions, Verdict, check};
use crate::vocab::error::SqliteContext;
use crate::vocab::sql::quote_ident;

/// Checks the database at `db` and repairs what the check finds (see the module docs).
///
/// # Errors
///
/// [`Error::InvalidRequest`] when there is no database; [`Error::LockTimeout`] when a
/// migration holds the lock; [`Error::Io`] when the damaged file cannot be copied first (then
/// nothing changed). A repair that cannot make the database pass is not an error: the report
/// says so (`ok` false) and what each step did. `recorder` is told before the first change and
/// after the last, under the lock (a dry run, or a database with nothing to repair, changes
/// nothing and tells nothing).
#[tracing::instrument(name = "repair", level = "info", skip_all, fields(db = %db.display()), err(level = "warn"))]
pub fn repair(
    db: &Path,
    options: &Options,
    recorder: &mut dyn Recorder,
) -> Result<RepairReport, Error> {
    let started = Instant::now();
    let timeout = options.busy_timeout;
    let dir = options
        .backup_dir
        .clone()
        .unwrap_or_else(|| backup::default_dir(db));
    let (_lock, locking) = match options.mode {
        Mode::Repair => (
            Some(MigrationLock::acquire(db, timeout)?),
            Locking::AlreadyHeld,
        ),
        Mode::DryRun => (None, Locking::TakeLock),
    };
    // Never the torn pages of a transaction that did not commit: SQLite rolls back what a
    // killed process left first, and the repair starts from what SQLite gives back.
    crate::database::settle::readable(db, timeout, locking)?;
    let found = check(db, &full_check(timeout))?;
    if found.verdict == Verdict::CouldNotCheck {
        // No verdict is no reason to change anything.
        return Err(crate::integrity::unavailable(db, &found));
    }
    let planned = plan(&found.findings);
    let mut report = RepairReport {
        ok: found.ok,
        mode: options.mode,
        database: db.display().to_string(),
        found,
        planned,
        damaged_copy: None,
        actions: Vec::new(),
        quarantined: Vec::new(),
        recovered: Vec::new(),
        lost: Vec::new(),
        absent: Vec::new(),
        unverified: Vec::new(),
        after: None,
        duration_ms: 0,
    };
    if report.ok || options.mode == Mode::DryRun {
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    let record_on = crate::database::db::open(db, timeout).ok();
    if let Some(conn) = &record_on {
        recorder.starting(conn);
    }
    let at = crate::vocab::clock::now_rfc3339();
    let stamp = backup::new_id(&at, "repair");
    report.damaged_copy = Some(install::keep_copy(db, &dir, &stamp)?);
    let mut steps = Steps {
        db,
        dir: &dir,
        timeout,
        at: &at,
        damaged: report.damaged_copy.clone().expect("just kept"),
        report: &mut report,
    };
    for rung in steps.report.planned.first.clone() {
        steps.take(rung);
    }
    let mut after = check(db, &full_check(timeout))?;
    for rung in steps.report.planned.then.clone() {
        if after.ok {
            break;
        }
        steps.take(rung);
        after = check(db, &full_check(timeout))?;
    }
    report.ok = after.ok;
    report.after = Some(after);
    report.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(conn) = &record_on {
        recorder.done(
            db,
            conn,
            &Change::Repaired {
                ok: report.ok,
                damaged_copy: report.damaged_copy.as_deref(),
            },
        );
    }
    Ok(report)
}

/// The state the steps share.
struct Steps<'a> {
    db: &'a Path,
    dir: &'a Path,
    timeout: Duration,
    at: &'a str,
    damaged: PathBuf,
    report: &'a mut RepairReport,
}

impl Steps<'_> {
    fn take(&mut self, rung: Rung) {
        let result = match rung {
            Rung::Reindex => self.reindex(),
            Rung::Quarantine => self.quarantine(),
            Rung::Rebuild => self.rebuild(),
            Rung::RestoreBackup => self.restore_backup(),
        };
        let (succeeded, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, e.to_string()),
        };
        self.report.actions.push(Action {
            rung,
            succeeded,
            detail,
        });
    }

    /// Runs `work` in one IMMEDIATE transaction with foreign-key enforcement off.
    fn in_place<T>(&self, work: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = crate::database::db::open(self.db, self.timeout)?;
        let _enforcement = EnforcementOff::new(&conn).context("switching foreign keys off")?;
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .context("beginning the repair")?;
        let out = work(&tx)?;
        tx.commit().context("committing the repair")?;
        Ok(out)
    }

    fn reindex(&mut self) -> Result<String, Error> {
        let indexes = self.damaged_indexes();
        let at = self.at.to_owned();
        let (rebuilt, moved) = self.in_place(|conn| reindex(conn, &indexes, &at))?;
        let detail = format!(
            "rebuilt index(es) {}{}",
            rebuilt.join(", "),
            if moved.is_empty() {
                String::new()
            } else {
                format!(
                    "; quarantined {} row(s) that broke a UNIQUE index",
                    moved.iter().map(|q| q.rows).sum::<u64>()
                )
            }
        );
        self.report.quarantined.extend(moved);
        Ok(detail)
    }

    /// The indexes the check named (every index of the tables it named, when it named none).
    fn damaged_indexes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .report
            .found
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::Index)
            .filter_map(|f| f.object.clone().or_else(|| f.table.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn quarantine(&mut self) -> Result<String, Error> {
        let at = self.at.to_owned();
        let (moved, stuck) = self.in_place(|conn| quarantine::quarantine_orphans(conn, &at))?;
        let rows: u64 = moved.iter().map(|q| q.rows).sum();
        let tables: Vec<&str> = moved.iter().map(|q| q.table.as_str()).collect();
        let detail = format!(
            "moved {rows} orphaned row(s) of {} into quarantine{}",
            tables.join(", "),
            if stuck > 0 {
                format!("; {stuck} orphan(s) in WITHOUT ROWID tables could not be moved")
            } else {
                String::new()
            }
        );
        self.report.quarantined.extend(moved);
        if stuck > 0 {
            return Err(Error::RepairStep { reason: detail });
        }
        Ok(detail)
    }

    /// `<db>.repair.tmp` beside the database (same file system, so it can be renamed over it),
    /// removed when dropped unless installed.
    fn scratch_file(&self) -> backup::Staged {
        let out = backup::Staged::new(crate::database::db::sibling(self.db, ".repair.tmp"));
        let _ = std::fs::remove_file(out.path());
        // Created 0600 first: SQLite (and a copy over it) keep the mode of the file they open,
        // and the copy holds all the data.
        let _ = backup::create_private(out.path());
        out
    }

    fn rebuild(&mut self) -> Result<String, Error> {
        let out = self.scratch_file();
        let image = latest_verified(self.dir);
        let source = image
            .as_ref()
            .map(|(manifest, image)| rebuild::BackupImage {
                id: &manifest.id,
                taken_at: &manifest.created_at,
                path: image.path(),
            });
        // The rebuild reads the copy kept of the damaged file, never the live file twice.
        let read_from = if self.damaged.exists() {
            self.damaged.clone()
        } else {
            self.db.to_path_buf()
        };
        let rebuilt = rebuild::rebuild(&read_from, out.path(), source, self.at)?;
        let checked = check(out.path(), &full_check(self.timeout))?;
        if !checked.ok {
            let first = checked
                .findings
                .first()
                .map_or_else(String::new, ToString::to_string);
            return Err(Error::RepairStep {
                reason: format!("the rebuilt copy still fails its check ({first}); not used"),
            });
        }
        let how = install::install(out.path(), self.db, self.timeout)?;
        let detail = format!(
            "rebuilt into a fresh file ({} table(s) copied whole, {} read row by row around damage{}), {} row(s) kept, {}",
            rebuilt.copied.len(),
            rebuilt.salvaged.len(),
            if rebuilt.salvaged.is_empty() {
                String::new()
            } else {
                format!(": {}", rebuilt.salvaged.join(", "))
            },
            rebuilt.rows,
            match how {
                install::Installed::Copied => "copied into the database through the backup API",
                install::Installed::Renamed => {
                    "renamed over the database file (SQLite could not open the damaged file to write into it)"
                }
            }
        );
        self.report.unverified = unverified(
            &self.report.found.findings,
            rebuilt.copied.iter().chain(&rebuilt.salvaged),
        );
        self.report.quarantined.extend(rebuilt.quarantined);
        self.report.recovered.extend(rebuilt.recovered);
        self.report.absent.extend(rebuilt.absent);
        self.report.lost.extend(rebuilt.lost);
        Ok(detail)
    }

    fn restore_backup(&mut self) -> Result<String, Error> {
        let Some((manifest, image)) = latest_verified(self.dir) else {
            return Err(Error::RepairStep {
                reason: format!("there is no backup that verifies in {}", self.dir.display()),
            });
        };
        let id = manifest.id.clone();
        let out = self.scratch_file();
        std::fs::copy(image.path(), out.path()).map_err(|source| Error::Io {
            path: out.path().to_path_buf(),
            source,
        })?;
        install::install(out.path(), self.db, self.timeout)?;
        // Whatever rebuild reported is superseded: the whole database is the backup's now.
        self.report.lost.clear();
        self.report.recovered.clear();
        self.report.absent.clear();
        self.report.unverified.clear();
        self.report.lost.push(Lost {
            table: "*".to_owned(),
            rowids: Vec::new(),
            between: None,
            detail: format!(
                "the database was replaced by backup {id} (taken {}): every change made after it is lost; the damaged file is kept at {}",
                manifest.created_at,
                self.damaged.display()
            ),
        });
        Ok(format!(
            "restored backup {id} (taken {})",
            manifest.created_at
        ))
    }
}

/// Rebuilds `indexes`; a UNIQUE index its table's rows now break is dropped, its later
/// duplicates quarantined, and it is created again.
fn reindex(
    conn: &Connection,
    indexes: &[String],
    at: &str,
) -> Result<(Vec<String>, Vec<Quarantined>), Error> {
    // An index that lists rows its table no longer has is evidence that the table lost them:
    // rebuilding the index from the table would erase that evidence, so the table is rebuilt
    // instead (where those rows are recovered from a backup or reported).
    for index in indexes {
        let lost = rows_only_in_index(conn, index)?;
        if !lost.is_empty() {
            return Err(Error::RepairStep {
                reason: format!(
                    "index {index} lists {} row(s) its table no longer has (row ids {}): the table itself is damaged",
                    lost.len(),
                    lost.iter()
                        .take(10)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let mut rebuilt = Vec::new();
    let mut refused = Vec::new();
    for index in indexes {
        match conn.execute_batch(&format!("REINDEX main.{}", quote_ident(index))) {
            Ok(()) => rebuilt.push(index.clone()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                refused.push(index.clone());
            }
            Err(e) => return Err(e).context(&format!("rebuilding index {index}")),
        }
    }
    let mut moved = Vec::new();
    let mut definitions = Vec::new();
    for index in &refused {
        let key = quarantine::UniqueKey::read(conn, "main", index)?;
        let sql: String = conn
            .query_row(
                "SELECT sql FROM main.sqlite_schema WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .context("reading the index definition")?;
        conn.execute_batch(&format!("DROP INDEX main.{}", quote_ident(index)))
            .context(&format!("dropping index {index}"))?;
        definitions.push((index.clone(), key, sql));
    }
    for (index, key, sql) in definitions {
        if let Some(key) = key {
            let dups = key.duplicates(conn)?;
            moved.push(quarantine::move_rows(
                conn,
                &key.table,
                &dups,
                &format!("duplicate key under UNIQUE index {index}"),
                at,
            )?);
        }
        conn.execute_batch(&sql)
            .context(&format!("recreating index {index}"))?;
        rebuilt.push(index);
    }
    Ok((rebuilt, moved))
}

/// Row ids index `index` lists that its table does not have.
fn rows_only_in_index(conn: &Connection, index: &str) -> Result<Vec<i64>, Error> {
    let table: Option<String> = conn
        .query_row(
            "SELECT tbl_name FROM main.sqlite_schema WHERE type = 'index' AND name = ?1",
            [index],
            |r| r.get(0),
        )
        .ok();
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    let t = quote_ident(&table);
    let sql = format!(
        "SELECT rowid FROM main.{t} INDEXED BY {} EXCEPT SELECT rowid FROM main.{t} NOT INDEXED",
        quote_ident(index)
    );
    let ids = conn.prepare(&sql).and_then(|mut s| {
        s.query_map([], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()
    });
    // An index that cannot be read this way (partial, WITHOUT ROWID, damaged) holds no evidence.
    Ok(ids.unwrap_or_default())
}

/// The newest backup in `dir` whose checksum and quick check pass, staged for reading.
fn latest_verified(dir: &Path) -> Option<(backup::Manifest, VerifiedImage)> {
    let manifests = backup::list(dir).ok()?;
    // The database as it was: never the state a restore by hand replaced.
    manifests
        .into_iter()
        .rev()
        .filter(|m| m.reason.may_be_latest())
        .find_map(|m| {
            let stage = dir.join(format!(".{}.repair.tmp", m.id));
            backup::stage(dir, &m, &stage, Depth::Quick)
                .ok()
                .map(|image| (m, image))
        })
}

/// The tables a rebuild copied out of b-trees the check found damaged (every table copied,
/// when some damage could not be located): their rows were read back as the damaged pages
/// gave them, so values there may be wrong in ways no check can see.
fn unverified<'a>(
    found: &[crate::integrity::Finding],
    copied: impl Iterator<Item = &'a String>,
) -> Vec<Unverified> {
    let damage: Vec<&crate::integrity::Finding> = found.iter().filter(|f| f.is_damage()).collect();
    let unlocated = damage.iter().any(|f| f.table.is_none());
    copied
        .filter_map(|table| {
            let here: Vec<&&crate::integrity::Finding> = damage
                .iter()
                .filter(|f| f.table.as_ref() == Some(table))
                .collect();
            if here.is_empty() && !unlocated {
                return None;
            }
            let mut pages: Vec<u64> = here.iter().filter_map(|f| f.page).collect();
            pages.sort_unstable();
            pages.dedup();
            Some(Unverified {
                table: table.clone(),
                pages,
            })
        })
        .collect()
}

/// Repair decides from SQLite's own `integrity_check` wording: one connection.
fn full_check(busy_timeout: Duration) -> CheckOptions {
    CheckOptions {
        busy_timeout,
        ..CheckOptions::new(Depth::Full)
    }
}
