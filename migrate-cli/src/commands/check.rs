//! `migrate check [--full] [--table T]...`: the integrity report; exit 6 on findings.

use belay_migrate::integrity::{self, Depth, Verdict};

use crate::context;
use crate::error::{CliError, code};
use crate::output::Output;
use crate::settings::Settings;

pub fn run(
    g: &Settings,
    out: &Output,
    full: bool,
    tables: &[String],
    jobs: usize,
) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    // A pending recovery this user may not run is what the check itself reports.
    context::settle(g, out, &db)?;
    let options = integrity::Options {
        depth: if full { Depth::Full } else { Depth::Quick },
        tables: tables.to_vec(),
        busy_timeout: context::lock_timeout(g)?,
        workers: workers(jobs),
        foreign_keys: integrity::ForeignKeys::Checked,
    };
    let report = integrity::check(&db, &options)?;
    out.print(&report, || {
        let scope = report.tables.as_ref().map_or_else(
            || "the database".to_owned(),
            |t| format!("table(s) {}", t.join(", ")),
        );
        let check = match (report.depth, report.workers) {
            (Depth::Quick, _) => "quick_check".to_owned(),
            (Depth::Full, 1) => "integrity_check".to_owned(),
            (Depth::Full, n) => format!("a full check on {n} connections"),
        };
        if report.ok {
            return format!(
                "ok: {check} and foreign keys found nothing wrong in {scope} ({} ms)\n",
                report.duration_ms
            );
        }
        if report.verdict == Verdict::CouldNotCheck {
            let mut text = format!("could not check {scope}: SQLite gave no verdict\n");
            text.push_str(&findings_text(&report));
            return text;
        }
        let mut text = format!(
            "{} problem(s) found in {scope} by {check} and the foreign-key check:\n",
            report.count
        );
        text.push_str(&findings_text(&report));
        text
    });
    verdict_exit(&report)
}

/// The exit of a check's report: 0 when ok, 6 for damage or foreign-key violations, and for a
/// check SQLite could not answer, the code of what stopped it (3 locked; 2 recovery pending,
/// access, not a database; 1 otherwise), never 6.
pub fn verdict_exit(report: &integrity::Report) -> Result<(), CliError> {
    match report.verdict {
        _ if report.ok => Ok(()),
        Verdict::CouldNotCheck => Err(CliError::Exit(crate::error::unavailable(
            report.obstacle.unwrap_or(integrity::Obstacle::Unknown),
        ))),
        Verdict::Ok | Verdict::Damaged => Err(CliError::Exit(code::CORRUPT)),
    }
}

/// The connections `--jobs N` asks for: 0 means one per core, and more than the cores is
/// capped there (more connections than cores only compete; `--jobs 10000` would open 10,000).
pub fn workers(jobs: usize) -> usize {
    match jobs {
        0 => integrity::available_workers(),
        n => n.min(integrity::available_workers()),
    }
}

/// The findings of `report`, one indented line each.
pub fn findings_text(report: &integrity::Report) -> String {
    let mut text = String::new();
    for finding in &report.findings {
        text.push_str(&format!("  {finding}\n"));
    }
    if report.count > report.findings.len() {
        text.push_str(&format!(
            "  ... and {} more\n",
            report.count - report.findings.len()
        ));
    }
    text
}
