//! `migrate restore [ID|latest] [--table T]... [--to PATH]`.

use std::path::Path;

use migrate_core::backup;

use crate::cli::Global;
use crate::context;
use crate::error::CliError;
use crate::output::Output;

pub fn run(
    g: &Global,
    out: &Output,
    id: &str,
    tables: &[String],
    to: Option<&Path>,
) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
    let timeout = context::lock_timeout(g)?;
    if !tables.is_empty() {
        let report = backup::restore_tables(&db, &dir, id, tables, timeout)?;
        out.print(&report, || {
            let mut text = String::new();
            for t in &report.tables {
                text.push_str(&format!(
                    "restored table {} from backup {}: {} rows (was {})\n",
                    t.table, report.id, t.rows_after, t.rows_before
                ));
            }
            text
        });
        return Ok(());
    }
    let report = match to {
        Some(to) => backup::restore_to(to, &dir, id)?,
        None => backup::restore(&db, &dir, id, timeout)?,
    };
    out.print(&report, || {
        format!(
            "restored backup {} into {} ({} bytes, verified, in {} ms)\n",
            report.id,
            report.target.display(),
            report.bytes,
            report.duration_ms
        )
    });
    Ok(())
}
