//! `migrate baseline V`: adopt an existing database whose schema matches migrations up to V.

use migrate_core::Version;

use crate::cli::Global;
use crate::context;
use crate::error::CliError;
use crate::output::Output;

pub fn run(g: &Global, out: &Output, version: Version) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let report = context::migrator(g)?.baseline(&db, version)?;
    out.print(&report, || {
        format!(
            "baselined at version {version}: {} migration(s) recorded as applied without running them\n",
            report.steps.len()
        )
    });
    Ok(())
}
