//! `migrate plan [--to V]`: what a run would do, with its SQL.

use belay_migrate::Plan;
use belay_migrate::{DownTarget, Request, Version};
use serde::Serialize;

use super::version_text;
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, to: Option<Version>) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let migrator = context::migrator(g)?;
    let current = migrator.status(&db)?.current_version;
    // A target below the current version asks what `down --to` would do.
    let request = match (to, current) {
        (Some(to), Some(current)) if to < current => Request::Down(DownTarget::To(to)),
        _ => Request::Up { to },
    };
    let plan = migrator.plan(&db, &request)?;
    print(out, &plan);
    Ok(())
}

#[derive(Serialize)]
struct PlanView<'a> {
    direction: belay_migrate::Direction,
    from_version: Option<Version>,
    to_version: Option<Version>,
    steps: Vec<StepView<'a>>,
}

#[derive(Serialize)]
struct StepView<'a> {
    version: Version,
    name: &'a str,
    file: &'a str,
    transaction: belay_migrate::TransactionMode,
    sql: &'a str,
    verify: Option<&'a str>,
    /// The script holds no statement: running it records the migration and does nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_statement: bool,
}

/// Prints a plan (shared with `up --dry-run` and `down --dry-run`).
pub fn print(out: &Output, plan: &Plan) {
    let view = PlanView {
        direction: plan.direction,
        from_version: plan.from,
        to_version: plan.to,
        steps: plan
            .steps
            .iter()
            .map(|s| StepView {
                version: s.version,
                name: &s.name,
                file: s.script.origin(),
                transaction: s.script.transaction(),
                sql: s.script.sql(),
                verify: s.verify.as_ref().map(|v| v.sql()),
                no_statement: !s.script.has_statement(),
            })
            .collect(),
    };
    out.print(&view, || {
        if plan.steps.is_empty() {
            return format!(
                "nothing to do: the database is at version {}\n",
                version_text(plan.from)
            );
        }
        let mut text = format!(
            "{} from version {} to {}: {} migration(s)\n",
            plan.direction,
            version_text(plan.from),
            version_text(plan.to),
            plan.steps.len()
        );
        for step in &view.steps {
            let outside = match step.transaction {
                belay_migrate::TransactionMode::NoTransaction => ", outside a transaction",
                belay_migrate::TransactionMode::OwnTransaction => {
                    ", outside ours (the file opens its own transaction)"
                }
                belay_migrate::TransactionMode::Transactional => "",
            };
            let outside = if step.no_statement {
                format!("{outside}; no statement: recorded as applied, runs nothing")
            } else {
                outside.to_owned()
            };
            text.push_str(&format!(
                "\n-- {} {} ({}{outside})\n{}\n",
                step.version,
                step.name,
                step.file,
                step.sql.trim_end()
            ));
            if let Some(verify) = step.verify {
                text.push_str(&format!("-- verify:\n{}\n", verify.trim_end()));
            }
        }
        text
    });
}
