//! `migrate fleet plan`: per database, what `up` would apply or why it would be refused.

use std::path::PathBuf;

use belay_migrate::{Request, Version, version_text};
use serde::Serialize;

use super::{Head, Unread, exited, read_each, worst};
use crate::cli::FleetTargets;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

/// One database's plan.
#[derive(Serialize)]
struct PlanRow {
    db: PathBuf,
    from_version: Option<Version>,
    to_version: Option<Version>,
    pending: Vec<Version>,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    head: Head,
    databases: &'a [PlanRow],
}

pub fn run(
    g: &Settings,
    out: &Output,
    t: &FleetTargets,
    to: Option<Version>,
) -> Result<(), CliError> {
    let targets = super::databases(t, None)?;
    let (migrator, _) = super::fleet_migrator(g)?;
    let request = Request::Up { to };
    let rows: Vec<PlanRow> = read_each(targets, |db| Ok(migrator.plan(db, &request)?))
        .into_iter()
        .map(|(db, answer)| match answer {
            Ok(plan) => PlanRow {
                db,
                from_version: plan.from,
                to_version: plan.to,
                pending: plan.steps.iter().map(|s| s.version).collect(),
                exit_code: 0,
                refused: None,
            },
            Err(Unread { exit_code, error }) => PlanRow {
                db,
                from_version: None,
                to_version: None,
                pending: Vec::new(),
                exit_code,
                refused: Some(error),
            },
        })
        .collect();
    let exit_code = worst(rows.iter().map(|r| r.exit_code));
    out.print(
        &Document {
            head: Head::new(exit_code, || {
                super::counted(&rows, |r| r.exit_code != 0, "cannot be planned")
            }),
            databases: &rows,
        },
        || text(&rows),
    );
    exited(exit_code)
}

fn text(rows: &[PlanRow]) -> String {
    let mut text = String::new();
    let (mut pending, mut current, mut refused) = (0, 0, 0);
    for row in rows {
        let db = row.db.display();
        let line = match (&row.refused, row.pending.as_slice()) {
            (Some(why), _) => {
                refused += 1;
                format!("{db}: refused (exit {}): {why}", row.exit_code)
            }
            (None, []) => {
                current += 1;
                format!(
                    "{db}: nothing to do at version {}",
                    version_text(row.from_version)
                )
            }
            (None, versions) => {
                pending += 1;
                let listed: Vec<String> = versions.iter().map(Version::to_string).collect();
                format!(
                    "{db}: at version {}, would apply {}",
                    version_text(row.from_version),
                    listed.join(", ")
                )
            }
        };
        text.push_str(&line.replace('\n', "\n  "));
        text.push('\n');
    }
    text.push_str(&format!(
        "fleet plan: {} database(s): {pending} with migrations to apply, {current} with nothing to do, {refused} refused\n",
        rows.len()
    ));
    text
}
