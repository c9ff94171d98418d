//! `migrate repair [--dry-run]`: the repair ladder; says what it did and every row it could not
//! save. Exit 0 when the database checks clean afterwards (or already did), 6 when damage
//! remains (or, for a dry run, was found).

use std::fmt::Write as _;

use belay_migrate::integrity::repair::{self, Gap, Mode, Options, RepairReport};

use crate::commands::check::findings_text;
use crate::context;
use crate::error::{CliError, code};
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, dry_run: bool) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let options = Options {
        backup_dir: Some(context::backup_dir(g, &db)),
        busy_timeout: context::lock_timeout(g)?,
        mode: if dry_run { Mode::DryRun } else { Mode::Repair },
    };
    let report = repair::repair(&db, &options)?;
    out.print(&report, || text(&report));
    if report.ok {
        Ok(())
    } else {
        Err(CliError::Exit(code::CORRUPT))
    }
}

fn text(report: &RepairReport) -> String {
    let mut t = String::new();
    if report.found.ok {
        let _ = writeln!(
            t,
            "ok: integrity_check and foreign keys found nothing to repair in {}",
            report.database
        );
        return t;
    }
    let _ = writeln!(t, "{} problem(s) found:", report.found.count);
    t.push_str(&findings_text(&report.found));
    let ladder = |rungs: &[repair::Rung]| {
        rungs
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", then ")
    };
    if report.mode == Mode::DryRun {
        let _ = writeln!(
            t,
            "would: {}; while damage remains: {}\nnothing was changed (dry run)",
            ladder(&report.planned.first),
            ladder(&report.planned.then)
        );
        return t;
    }
    if let Some(copy) = &report.damaged_copy {
        let _ = writeln!(t, "kept a copy of the damaged database: {}", copy.display());
    }
    for (i, action) in report.actions.iter().enumerate() {
        let _ = writeln!(
            t,
            "{}. {}: {}{}",
            i + 1,
            action.rung.as_str(),
            if action.succeeded { "" } else { "FAILED: " },
            action.detail
        );
    }
    for q in &report.quarantined {
        let _ = writeln!(
            t,
            "quarantined {} row(s) of {} into {} ({}){}",
            q.rows,
            q.table,
            q.into,
            q.reason,
            ids(&q.rowids)
        );
    }
    rows_text(report, &mut t);
    match &report.after {
        Some(after) if after.ok => {
            t.push_str("repaired: the database passes integrity_check and the foreign-key check\n")
        }
        Some(after) => {
            let _ = writeln!(t, "NOT repaired: {} problem(s) remain:", after.count);
            t.push_str(&findings_text(after));
        }
        None => {}
    }
    t
}

/// Every row the repair could not bring back as it was: the count first, then each group.
/// Rows brought back from a backup hold that backup's values, so they are never "saved".
fn rows_text(report: &RepairReport, t: &mut String) {
    let (lost, unknown) = report.lost_rows();
    let restored = report.restored_rows();
    let absent: usize = report.absent.iter().map(|a| a.rowids.len()).sum();
    let _ = writeln!(
        t,
        "rows that could not be saved: {lost}{}{}{}",
        if unknown {
            " listed by row id, and more in the ranges below"
        } else {
            ""
        },
        if restored > 0 {
            format!("; {restored} more came back only at an older value (below)")
        } else {
            String::new()
        },
        if absent > 0 {
            format!("; {absent} more are in the backup but not in the repaired database (below)")
        } else {
            String::new()
        }
    );
    for lost in &report.lost {
        let range = match lost.between {
            Some(Gap::Between { after, before }) => format!(
                " with row ids after {} and before {}",
                after.map_or_else(|| "the first".to_owned(), |a| a.to_string()),
                before.map_or_else(|| "the last".to_owned(), |b| b.to_string())
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "  table {}{range}{}: {}",
            lost.table,
            ids(&lost.rowids),
            lost.detail
        );
    }
    for r in &report.recovered {
        let _ = writeln!(
            t,
            "  {} row(s) of {} restored at their value of {} (backup {}): any change made to them since is lost{}",
            r.rowids.len(),
            r.table,
            r.taken_at,
            r.backup,
            ids(&r.rowids)
        );
    }
    for a in &report.absent {
        let _ = writeln!(
            t,
            "  {} row(s) of {} are in backup {} (taken {}) but not in the repaired table: deleted since then, or lost in damage no check could see; review them{}",
            a.rowids.len(),
            a.table,
            a.backup,
            a.taken_at,
            ids(&a.rowids)
        );
    }
    for u in &report.unverified {
        let pages = if u.pages.is_empty() {
            String::new()
        } else {
            format!(
                " (damaged page(s) {})",
                u.pages
                    .iter()
                    .take(20)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            t,
            "  table {}: rows read back from a damaged b-tree{pages} as it gave them; their values cannot be verified",
            u.table
        );
    }
}

/// ` (row ids 1, 2, 3)`, the first 20.
fn ids(rowids: &[i64]) -> String {
    if rowids.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = rowids.iter().take(20).map(ToString::to_string).collect();
    let more = if rowids.len() > 20 {
        format!(" and {} more", rowids.len() - 20)
    } else {
        String::new()
    };
    format!(" (row ids {}{more})", shown.join(", "))
}
