//! `migrate up` and `migrate down`: one procedure for both directions.

use migrate_core::{Allow, Direction, Request, TransactionScope};

use super::version_text;
use crate::cli::Global;
use crate::context;
use crate::error::CliError;
use crate::output::Output;

pub struct Options {
    pub request: Request,
    pub dry_run: bool,
    pub scope: TransactionScope,
    pub allow: Allow,
}

pub fn run(g: &Global, out: &Output, options: &Options) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let mut migrator = context::migrator(g)?;
    migrator.transaction_scope(options.scope).allow(options.allow);
    if options.dry_run {
        let plan = migrator.plan(&db, &options.request)?;
        super::plan::print(out, &plan);
        return Ok(());
    }
    let report = migrator.run(&db, &options.request)?;
    out.print(&report, || {
        let mut text = String::new();
        for problem in &report.allowed {
            text.push_str(&format!("allowed: {problem}\n"));
        }
        let verb = match report.direction {
            Direction::Up => "applied",
            Direction::Down => "reverted",
        };
        for step in &report.steps {
            text.push_str(&format!(
                "{verb} {} {} ({} ms)\n",
                step.version, step.name, step.duration_ms
            ));
        }
        if report.steps.is_empty() {
            text.push_str(&format!(
                "nothing to do: the database is at version {}\n",
                version_text(report.to_version)
            ));
        } else {
            text.push_str(&format!(
                "the database is at version {} ({} migration(s) {verb} in {} ms)\n",
                version_text(report.to_version),
                report.steps.len(),
                report.duration_ms
            ));
        }
        text
    });
    Ok(())
}
