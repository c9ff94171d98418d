//! `migrate restore [ID|latest] [--table T]... [--to PATH] [--yes] [--no-backup]`.
//!
//! A restore over the database replaces what is there: on a terminal it asks first, naming the
//! database and the backup; off a terminal it needs `--yes`. The state it replaces is backed up
//! first (`pre-restore`) unless `--no-backup`. A restore `--to` a new file replaces nothing.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use belay_migrate::backup::{self, Current};

use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

/// Whether replacing the database was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// `--yes`.
    ByFlag,
    /// Not yet: asked on a terminal, refused elsewhere.
    NotYet,
}

/// A moment of the point-in-time archive.
#[derive(Debug, Clone, Copy)]
pub enum Moment<'a> {
    /// `--at TIME`.
    Time(&'a str),
    /// `--at-commit ID`.
    Commit(u64),
    /// `--at-version N`.
    Version(i64),
}

/// The restore asked for.
pub struct Asked<'a> {
    pub id: &'a str,
    pub moment: Option<Moment<'a>>,
    pub tables: &'a [String],
    pub to: Option<&'a Path>,
    pub confirmed: Confirmed,
    pub current: Current,
}

pub fn run(g: &Settings, out: &Output, asked: Asked<'_>) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
    let timeout = context::lock_timeout(g)?;
    // With a store: a backup only there (or, for `latest`, newer there) is fetched first,
    // verified by its hash, and restored from here like any other.
    if let Some(remote) = crate::offsite::open(g)? {
        let purpose = match asked.to {
            Some(_) => crate::offsite::Purpose::Reading,
            None => crate::offsite::Purpose::Over(&db),
        };
        crate::offsite::bring(out, &remote, (&dir, asked.id), purpose)?;
    }
    if let Some(to) = asked.to {
        let report = backup::restore_to(to, &dir, asked.id, Some(&db))?;
        out.print(&report, || {
            format!(
                "restored backup {} into {} ({} bytes, verified, in {} ms)\n",
                report.id,
                report.target.display(),
                report.bytes,
                report.duration_ms
            )
        });
        return Ok(());
    }
    let manifest = backup::find(&dir, asked.id)?;
    confirm(&db, &describe(&manifest), asked.tables, asked.confirmed)?;
    // Confirmed on a terminal, the backup shown is the one restored; with --yes, `latest` is
    // resolved by the restore once it holds the lock (a run finishing meanwhile takes a newer).
    let id = match asked.confirmed {
        Confirmed::ByFlag => asked.id,
        Confirmed::NotYet => manifest.id.as_str(),
    };
    if !asked.tables.is_empty() {
        let report = backup::restore_tables(&db, &dir, id, asked.tables, timeout)?;
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
    over(out, &db, &dir, id, asked.current, timeout)
}

/// Restores backup `id` over the database, confirmed, with a progress display.
pub fn over(
    out: &Output,
    db: &Path,
    dir: &Path,
    id: &str,
    current: Current,
    timeout: std::time::Duration,
) -> Result<(), CliError> {
    let display = crate::progress::Display::for_output(out);
    let result =
        backup::restore_observed(db, dir, id, timeout, current, display.observer().as_ref());
    drop(display);
    let report = result?;
    out.print(&report, || {
        let kept = match &report.pre_restore {
            Some(id) => format!("the state it replaced is backup {id}"),
            None => "the state it replaced was not kept (--no-backup)".to_owned(),
        };
        format!(
            "restored backup {} into {} ({} bytes, verified, in {} ms); {kept}\n",
            report.id,
            report.target.display(),
            report.bytes,
            report.duration_ms
        )
    });
    Ok(())
}

/// A backup as the confirmation names it.
fn describe(manifest: &backup::Manifest) -> String {
    format!(
        "backup {} (taken {}, {}, version {})",
        manifest.id,
        manifest.created_at,
        manifest.reason.as_str(),
        super::version_text(manifest.schema_version)
    )
}

/// Asks on a terminal before replacing the database (or some of its tables) with `backup` (a
/// description of the state restored); refuses off a terminal without `--yes`.
pub fn confirm(
    db: &Path,
    backup: &str,
    tables: &[String],
    confirmed: Confirmed,
) -> Result<(), CliError> {
    if confirmed == Confirmed::ByFlag {
        return Ok(());
    }
    let what = if tables.is_empty() {
        format!("the whole database {}", db.display())
    } else {
        format!("the rows of {} in {}", tables.join(", "), db.display())
    };
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "restoring {backup} replaces {what}: pass --yes to confirm (nobody can be asked off a terminal)"
        )));
    }
    crate::output::stderr(&format!(
        "This replaces {what} with {backup}.\nEvery change committed since then is replaced (the current state is backed up first unless --no-backup).\nType yes to restore: "
    ));
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            path: "stdin".into(),
            source,
        })?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Usage(
            "not confirmed; nothing was restored".into(),
        ))
    }
}
