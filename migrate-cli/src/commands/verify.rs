//! `migrate verify` (checks, changes nothing) and `migrate fix-checksums [--version V]`.

use belay_migrate::Version;

use super::check::findings_text;
use crate::context;
use crate::error::{CliError, code};
use crate::output::Output;
use crate::settings::Settings;

/// Exit 0 when a run would be accepted and the database is sound; 4 when validation would
/// refuse a run; 6 on any integrity finding, foreign-key violations included, as `check` does
/// (which wins: it needs attention first).
pub fn run(g: &Settings, out: &Output) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let found = context::migrator(g)?.verify(&db)?;
    let damaged = !found.integrity.ok;
    out.print(&found, || {
        let mut text = String::new();
        for problem in &found.status.problems {
            text.push_str(&format!("refused by validation: {problem}\n"));
        }
        if found.integrity.ok {
            text.push_str("integrity: quick_check and foreign keys found nothing wrong\n");
        } else if found.integrity.verdict == belay_migrate::integrity::Verdict::CouldNotCheck {
            text.push_str(&format!(
                "integrity: could not check, SQLite gave no verdict\n{}",
                findings_text(&found.integrity)
            ));
        } else {
            text.push_str(&format!(
                "integrity: {} problem(s)\n{}",
                found.integrity.count,
                findings_text(&found.integrity)
            ));
        }
        if !found.refused() && !damaged {
            text.push_str(&format!(
                "ok: version {}, {} pending, checksums match, no drift\n",
                super::version_text(found.status.current_version),
                found.status.pending.len()
            ));
        }
        text
    });
    match (damaged, found.refused()) {
        (true, _) => super::check::verdict_exit(&found.integrity),
        (false, true) => Err(CliError::Exit(code::REFUSED)),
        (false, false) => Ok(()),
    }
}

pub fn fix_checksums(g: &Settings, out: &Output, version: Option<Version>) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let mut migrator = context::migrator(g)?;
    migrator.backup_dir(context::backup_dir(g, &db));
    let fixed = migrator.fix_checksums(&db, version)?;
    #[derive(serde::Serialize)]
    struct Document<'a, T> {
        accepted: &'a [T],
    }
    out.print(&Document { accepted: &fixed }, || {
        if fixed.is_empty() {
            return "nothing to fix: every applied migration's file matches its checksum\n"
                .to_owned();
        }
        fixed
            .iter()
            .map(|m| format!("accepted the edited file of {} {}\n", m.version, m.name))
            .collect()
    });
    Ok(())
}
