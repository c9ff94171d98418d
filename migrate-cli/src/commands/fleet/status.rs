//! `migrate fleet status`: per database, its version and pending count, with the journal's word.

use std::path::{Path, PathBuf};

use belay_migrate::{Version, version_text};
use serde::Serialize;

use super::{Head, Unread, exited, read_each, worst};
use crate::cli::FleetTargets;
use crate::error::CliError;
use crate::fleet::journal::{Identity, Record};
use crate::fleet::outcome::Outcome;
use crate::output::Output;
use crate::settings::Settings;

/// One database's status, with the journal's word on it.
#[derive(Serialize)]
struct StatusRow {
    db: PathBuf,
    current_version: Option<Version>,
    pending: usize,
    /// The last outcome the journal records for it.
    journal: Option<Outcome>,
    /// The journal says it started and never finished: mid-run when a fleet run stopped.
    mid_run: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    head: Head,
    journal: &'a Path,
    databases: &'a [StatusRow],
}

pub fn run(
    g: &Settings,
    out: &Output,
    t: &FleetTargets,
    journal: Option<&Path>,
) -> Result<(), CliError> {
    let journal_path = super::journal_path(t, journal);
    let targets = super::databases(t, Some(&journal_path))?;
    let (migrator, _) = super::fleet_migrator(g)?;
    let record = Record::read(&journal_path)?;
    if let Some(found) = &record.identity
        && *found != Identity::of(migrator.migrations(), found.target)
    {
        out.note(&format!(
            "the fleet journal {} was written for other migrations: its outcomes are those of that rollout",
            journal_path.display()
        ));
    }
    let rows: Vec<StatusRow> = read_each(targets, |db| Ok(migrator.status(db)?))
        .into_iter()
        .map(|(db, answer)| {
            let journal = record.finished.get(&db).map(|r| r.outcome);
            let mid_run = record.interrupted.contains(&db);
            match answer {
                Ok(status) => StatusRow {
                    db,
                    current_version: status.current_version,
                    pending: status.pending.len(),
                    journal,
                    mid_run,
                    exit_code: 0,
                    error: None,
                },
                Err(Unread { exit_code, error }) => StatusRow {
                    db,
                    current_version: None,
                    pending: 0,
                    journal,
                    mid_run,
                    exit_code,
                    error: Some(error),
                },
            }
        })
        .collect();
    let exit_code = worst(rows.iter().map(|r| r.exit_code));
    out.print(
        &Document {
            head: Head::new(exit_code, || {
                super::counted(&rows, |r| r.exit_code != 0, "cannot be read")
            }),
            journal: &journal_path,
            databases: &rows,
        },
        || text(&rows),
    );
    exited(exit_code)
}

fn text(rows: &[StatusRow]) -> String {
    let mut text = String::new();
    let mut versions = std::collections::BTreeMap::new();
    for row in rows {
        let mut line = match &row.error {
            Some(why) => format!(
                "{}: unreadable (exit {}): {why}",
                row.db.display(),
                row.exit_code
            ),
            None => {
                *versions.entry(row.current_version).or_insert(0) += 1;
                format!(
                    "{}: version {}, {} pending",
                    row.db.display(),
                    version_text(row.current_version),
                    row.pending
                )
            }
        };
        if let Some(outcome) = row.journal {
            line.push_str(&format!("; journal: {}", outcome.word()));
        }
        if row.mid_run {
            line.push_str("; journal: mid-run when the fleet run stopped");
        }
        text.push_str(&line.replace('\n', "\n  "));
        text.push('\n');
    }
    let by_version: Vec<String> = versions
        .iter()
        .map(|(v, n)| format!("{n} at version {}", version_text(*v)))
        .collect();
    text.push_str(&format!(
        "fleet status: {} database(s): {}\n",
        rows.len(),
        by_version.join(", ")
    ));
    text
}
