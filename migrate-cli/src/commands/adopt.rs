//! `migrate adopt [--from TOOL] [--force]`: take over a database another tool migrated.

use belay_migrate::{Peer, SchemaCheck};

use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(
    g: &Settings,
    out: &Output,
    from: Option<&str>,
    check: SchemaCheck,
) -> Result<(), CliError> {
    let from = from
        .map(|name| name.parse::<Peer>().map_err(CliError::Usage))
        .transpose()?;
    let db = context::db_path(g)?;
    let adoption = context::migrator(g)?.adopt(&db, from, check)?;
    out.print(&adoption, || {
        let mut text = format!(
            "adopted from {} ({} left in place): {} migration(s) recorded as applied, up to version {}{}\n",
            adoption.peer,
            adoption.table,
            adoption.versions.len(),
            super::version_text(adoption.versions.last().copied()),
            match check {
                SchemaCheck::Required => "; the schema matches what they make",
                SchemaCheck::Waived => "; schema check skipped with --force",
            }
        );
        for step in &adoption.report.steps {
            text.push_str(&format!("  {} {}\n", step.version, step.name));
        }
        text
    });
    Ok(())
}
