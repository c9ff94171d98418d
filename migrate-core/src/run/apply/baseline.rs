//! What a unit's foreign-key check compares with: the violations that stood before its steps.
//!
//! Counting them before every run reads every constraint of the database: on a large one as
//! long as the integrity check itself. A run that took its backup does not need to: the
//! backup is the state before the run, read only when a unit's check after its steps finds a
//! violation at all (on a database without any, or after steps that cannot break one, it is
//! never read). Between the backup and a later unit, the earlier units' checks say what
//! changed: outside a unit's scope its steps changed nothing a foreign key involves (see
//! `Footprint::scope`), and inside it the check after them saw every violation.
//!
//! An application writing with enforcement off between the backup and a unit may add a
//! violation the unit is then blamed for: the run fails on the safe side, as it did when the
//! pre-flight check counted before the run.

use std::path::Path;

use belay_guard::backup::{self, Manifest};
use belay_guard::foreign_keys::{self as fk, FkViolation, Scope};
use rusqlite::Connection;

use crate::vocab::report::Failure;

/// Where the violations before the run come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FkBaseline<'r> {
    /// Nowhere: each unit counts every violation before its steps.
    Unknown,
    /// The run's backup, taken under its lock before anything changed.
    Backup {
        dir: &'r Path,
        manifest: &'r Manifest,
    },
}

/// What a unit knew before its steps.
pub(super) enum Before {
    /// Every violation, counted on the unit's own connection.
    Counted(Vec<FkViolation>),
    /// Nothing yet: read from the backup if the check after the steps finds any.
    Deferred,
}

/// The violations known across a run's units.
pub(super) struct Ledger<'r> {
    baseline: FkBaseline<'r>,
    /// The violations in the backup, once read.
    before_run: Option<Vec<FkViolation>>,
    /// Each committed unit's scope, with what its check found in it.
    units: Vec<(Scope, Vec<FkViolation>)>,
}

impl<'r> Ledger<'r> {
    pub fn new(baseline: FkBaseline<'r>) -> Self {
        Ledger {
            baseline,
            before_run: None,
            units: Vec::new(),
        }
    }

    /// Before a unit's steps, on its connection.
    ///
    /// # Errors
    ///
    /// SQLite's error when the violations cannot be counted.
    pub fn before_steps(&self, conn: &Connection) -> rusqlite::Result<Before> {
        match self.baseline {
            FkBaseline::Unknown => fk::violations(conn).map(Before::Counted),
            FkBaseline::Backup { .. } => Ok(Before::Deferred),
        }
    }

    /// The violations in `after` (what the check of the unit's scope found after its steps)
    /// that were not there before them.
    ///
    /// # Errors
    ///
    /// A [`Failure::Database`] when the backup cannot be read.
    pub fn introduced(
        &mut self,
        before: Before,
        after: &[FkViolation],
    ) -> Result<Vec<FkViolation>, Failure> {
        let before = match before {
            Before::Counted(before) => before,
            Before::Deferred if after.is_empty() => Vec::new(),
            Before::Deferred => self.standing()?,
        };
        Ok(fk::introduced(&before, after.to_vec()))
    }

    /// Records a unit that committed after its check of `scope` found `after` (none of them
    /// new).
    pub fn committed(&mut self, scope: Scope, after: Vec<FkViolation>) {
        if matches!(self.baseline, FkBaseline::Backup { .. }) {
            self.units.push((scope, after));
        }
    }

    /// The violations standing now, before the current unit: the backup's, as each committed
    /// unit left them.
    fn standing(&mut self) -> Result<Vec<FkViolation>, Failure> {
        let FkBaseline::Backup { dir, manifest } = self.baseline else {
            return Ok(Vec::new());
        };
        let read = match self.before_run.take() {
            Some(read) => read,
            None => backup::read_image(dir, manifest, fk::violations).map_err(|e| {
                Failure::Database {
                    context: format!(
                        "reading the pre-run backup {} to tell the foreign-key violations that \
                         stood before the run from new ones",
                        manifest.id
                    ),
                    message: e.to_string(),
                }
            })?,
        };
        let standing = replay(read.clone(), &self.units);
        self.before_run = Some(read);
        Ok(standing)
    }
}

/// The violations `before_run` leaves after `units`: a unit's scope was checked whole, so what
/// it found there replaces what stood there; the rest stands.
fn replay(before_run: Vec<FkViolation>, units: &[(Scope, Vec<FkViolation>)]) -> Vec<FkViolation> {
    units.iter().fold(before_run, |standing, (scope, found)| {
        standing
            .into_iter()
            .filter(|v| !scope.covers(v))
            .chain(found.iter().filter(|v| scope.covers(v)).cloned())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn v(table: &str, rowid: i64, parent: &str) -> FkViolation {
        FkViolation {
            table: table.to_owned(),
            rowid: Some(rowid),
            parent: parent.to_owned(),
        }
    }

    fn tables(names: &[&str]) -> Scope {
        Scope::Tables(
            names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn a_units_scope_replaces_what_stood_there() {
        let before = vec![v("Items", 1, "orders"), v("notes", 2, "users")];
        let units = vec![
            // The rebuild of items renumbered its orphan; notes stood outside the scope.
            (tables(&["items"]), vec![v("Items", 7, "orders")]),
        ];
        assert_eq!(
            replay(before, &units),
            vec![v("notes", 2, "users"), v("Items", 7, "orders")]
        );
    }

    #[test]
    fn rows_written_replace_everything() {
        let before = vec![v("items", 1, "orders")];
        let units = vec![(Scope::All, vec![v("notes", 3, "users")])];
        assert_eq!(replay(before, &units), vec![v("notes", 3, "users")]);
    }

    #[test]
    fn a_pragma_checked_table_reports_constraints_outside_the_scope_once() {
        // `notes` checked whole because its parent `users` changed: its violation of `tags`
        // (outside the scope) is reported again, and must not count twice.
        let before = vec![v("notes", 4, "tags")];
        let units = vec![(tables(&["users"]), vec![v("notes", 4, "tags")])];
        assert_eq!(replay(before, &units), vec![v("notes", 4, "tags")]);
    }

    fn manifest() -> Manifest {
        Manifest {
            id: "20260101T000000000Z-pre-migrate".to_owned(),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            reason: backup::Reason::PreMigrate,
            schema_version: None,
            page_size: 4096,
            page_count: 1,
            byte_size: 4096,
            sha256: String::new(),
            compression: backup::Compression::None,
            sample: None,
            compressed_size: 4096,
            file_sha256: None,
            file: "20260101T000000000Z-pre-migrate.db".to_owned(),
            source: "app.db".to_owned(),
        }
    }

    #[test]
    fn the_backup_is_read_only_when_the_check_finds_something() {
        let manifest = manifest();
        let mut ledger = Ledger::new(FkBaseline::Backup {
            dir: Path::new("/nonexistent/app.db.backups"),
            manifest: &manifest,
        });
        // Nothing found: nothing to tell apart, the missing backup is never opened.
        let none = ledger.introduced(Before::Deferred, &[]);
        assert_eq!(none.unwrap(), Vec::new());
        ledger.committed(Scope::All, Vec::new());
        // Something found: the backup must say whether it stood before, and cannot.
        let failed = ledger
            .introduced(Before::Deferred, &[v("items", 1, "orders")])
            .unwrap_err();
        let text = failed.to_string();
        assert!(
            text.contains("reading the pre-run backup 20260101T000000000Z-pre-migrate"),
            "{text}"
        );
    }

    #[test]
    fn counted_violations_are_compared_as_they_are() {
        let mut ledger = Ledger::new(FkBaseline::Unknown);
        let found = ledger
            .introduced(
                Before::Counted(vec![v("items", 1, "orders")]),
                &[v("items", 1, "orders"), v("items", 2, "orders")],
            )
            .unwrap();
        assert_eq!(found, vec![v("items", 2, "orders")]);
        ledger.committed(Scope::All, Vec::new());
        assert!(
            ledger.units.is_empty(),
            "an unknown baseline keeps no ledger"
        );
    }
}
