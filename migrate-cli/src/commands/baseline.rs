//! `migrate baseline V`: adopt an existing database whose schema matches migrations up to V.

use belay_migrate::{SchemaCheck, Version};

use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(
    g: &Settings,
    out: &Output,
    version: Version,
    check: SchemaCheck,
) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let report = context::migrator(g)?.baseline_with(&db, version, check)?;
    out.print(&report, || {
        format!(
            "baselined at version {version}: {} migration(s) recorded as applied without running them{}\n",
            report.steps.len(),
            match check {
                SchemaCheck::Required => " (the schema matches what they make)",
                SchemaCheck::Waived => " (schema check skipped with --force)",
            }
        )
    });
    Ok(())
}
