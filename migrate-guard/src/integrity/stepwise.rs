//! The full check of one table in steps that can be resumed, for the watchman's incremental
//! check: the table's structure (`quick_check(T)`: its pages, cells, records, NOT NULL and
//! CHECK, with its indexes' b-trees), then each index's entry count and uniqueness, then the
//! rows in ranges of row ids, each row looked up in every index and decoded. Together these are
//! the pieces of the parallel check (see the `parallel` module), whose union is what
//! `integrity_check(T)` verifies; a table they cannot express in SQL (WITHOUT ROWID,
//! expression or partial indexes, a column shadowing `rowid`) is one step, SQLite's own
//! `integrity_check(T)`. Between steps the database may change: each step reads its own
//! committed snapshot, and the layout is read again at every step.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::Depth;
use super::finding::{Finding, FindingKind};
use super::objects::Objects;
use super::parallel::{self, Layout};
use super::pragma::{btree_check, stopped};

/// Where a table's check stands: the next step to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// The table's structure (or, for a table checked whole, everything).
    Structure,
    /// The entries of the table's `n`th index.
    Index {
        /// Which index, in `pragma_index_list` order.
        n: usize,
    },
    /// Rows from this row id on.
    Rows {
        /// The first row id of the next range.
        from: i64,
    },
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What was found (damage, or what stopped the step: a finding with an obstacle).
    pub findings: Vec<Finding>,
    /// The step after this one; `None` when the table is done.
    pub next: Option<Stage>,
    /// What the step checked, in words.
    pub what: String,
}

/// A read-only connection that checks tables step by step.
pub struct Stepper {
    conn: Connection,
    objects: Objects,
}

impl Stepper {
    /// Opens `db` read-only and reads its schema.
    ///
    /// # Errors
    ///
    /// SQLite's error when the database cannot be opened or its schema read (classify it with
    /// `vocab::verdict::classify`: locked and unreadable are obstacles, not damage).
    pub fn open(db: &Path, busy_timeout: Duration) -> rusqlite::Result<Self> {
        let conn = crate::database::db::open_to_check(db, busy_timeout)?;
        conn.execute_batch("PRAGMA cell_size_check = ON")?;
        let objects = Objects::read(&conn)?;
        Ok(Stepper { conn, objects })
    }

    /// Takes the step `stage` of `table`'s check, with row ranges of `rows` row ids.
    pub fn step(&self, table: &str, stage: &Stage, rows: i64) -> Step {
        match self.conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get::<_, i64>(0),
        ) {
            // Dropped since the pass began (a migration ran): nothing of it left to check.
            Ok(0) => {
                return Step {
                    findings: Vec::new(),
                    next: None,
                    what: format!("{table} (dropped)"),
                };
            }
            Ok(_) => {}
            Err(e) => {
                return self.lines(table, Err(e), None, format!("the schema, for {table}"));
            }
        }
        let layout = parallel::shapes(&self.conn, &[table.to_owned()])
            .pop()
            .map_or(Layout::Whole, |t| t.layout);
        let (bounds, columns, indexes) = match layout {
            Layout::Whole => {
                let answer = btree_check(&self.conn, Depth::Full, Some(table));
                return self.ended(table, answer, None, format!("integrity_check({table})"));
            }
            Layout::Rows {
                bounds,
                columns,
                indexes,
            } => (bounds, columns, indexes),
        };
        let first_rows = bounds.map(|(low, _)| Stage::Rows { from: low });
        let after_index = |n: usize| {
            if n < indexes.len() {
                Some(Stage::Index { n })
            } else {
                first_rows.clone()
            }
        };
        match stage {
            Stage::Structure => {
                let answer = btree_check(&self.conn, Depth::Quick, Some(table));
                self.ended(
                    table,
                    answer,
                    after_index(0),
                    format!("the structure of {table}"),
                )
            }
            Stage::Index { n } => match indexes.get(*n) {
                None => Step {
                    findings: Vec::new(),
                    next: first_rows,
                    what: format!("no index {n} of {table}"),
                },
                Some(index) => self.lines(
                    table,
                    parallel::entries(&self.conn, table, index),
                    after_index(n + 1),
                    format!("index {}", index.name),
                ),
            },
            Stage::Rows { from } => {
                let Some((low, high)) = bounds else {
                    return Step {
                        findings: Vec::new(),
                        next: None,
                        what: format!("no rows in {table}"),
                    };
                };
                let from = (*from).max(low);
                let to = from.saturating_add(rows.max(1) - 1).min(high);
                let next = (to < high).then(|| Stage::Rows { from: to + 1 });
                self.lines(
                    table,
                    parallel::rows(&self.conn, table, (from, to), &columns, &indexes),
                    next,
                    format!("rows {from}..{to} of {table}"),
                )
            }
        }
    }

    fn ended(&self, table: &str, answer: super::Answer, next: Option<Stage>, what: String) -> Step {
        let mut findings = self.objects.locate_all(&answer.lines, Some(table));
        if let Some(mut unchecked) = answer.unchecked {
            unchecked.table = Some(table.to_owned());
            findings.push(unchecked);
        }
        Step {
            findings,
            next,
            what,
        }
    }

    fn lines(
        &self,
        table: &str,
        result: rusqlite::Result<Vec<String>>,
        next: Option<Stage>,
        what: String,
    ) -> Step {
        let findings = match result {
            Ok(lines) => self.objects.locate_all(&lines, Some(table)),
            Err(e) => {
                let mut failure = stopped(&format!("checking {what}"), &e, FindingKind::Unknown);
                failure.table = Some(table.to_owned());
                if failure.obstacle.is_some() {
                    vec![failure]
                } else {
                    // Damage: located like SQLite's own lines.
                    self.objects.locate_all(&[failure.message], Some(table))
                }
            }
        };
        Step {
            findings,
            next,
            what,
        }
    }
}
