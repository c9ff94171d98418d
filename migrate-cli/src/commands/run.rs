//! `migrate up` and `migrate down`: one procedure for both directions.

use belay_migrate::{Backups, Direction, Request, TransactionScope, WriteLock};

use super::version_text;
use crate::cli::RunArgs;
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, request: Request, args: &RunArgs) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let mut migrator = context::migrator(g)?;
    let scope = if args.per_migration {
        TransactionScope::PerMigration
    } else {
        TransactionScope::Run
    };
    let write_lock = if args.exclusive || g.file.exclusive == Some(true) {
        WriteLock::WholeRun
    } else {
        WriteLock::PerUnit
    };
    migrator
        .transaction_scope(scope)
        .write_lock(write_lock)
        .allow(args.allow.into())
        .backup_dir(context::backup_dir(g, &db))
        .backup_min_ratio(context::min_ratio(g))
        .backups(if args.no_backup {
            Backups::Skip
        } else {
            Backups::Take
        })
        .rotation(context::rotation(g));
    if context::archiving(g) {
        migrator.archive_dir(context::archive_dir(g, &db)?);
    }
    // Opened (no request yet) before the run, so that a bad address stops it with nothing
    // touched.
    let remote = crate::offsite::open(g)?;
    if args.dry_run {
        let plan = migrator.plan(&db, &request)?;
        super::plan::print(out, &plan);
        return Ok(());
    }
    let rehearsal = if args.rehearse {
        let rehearsal = migrator.rehearse(&db, &request).inspect_err(|_| {
            out.note("the rehearsal on a scratch copy failed; the database was not touched");
        })?;
        out.note(&format!(
            "rehearsal on a scratch copy: {} migration(s) in {} ms, verified; now for real",
            rehearsal.steps.len(),
            rehearsal.duration_ms
        ));
        Some(rehearsal)
    } else {
        None
    };
    let display = crate::progress::Display::for_output(out);
    if let Some(observer) = display.observer() {
        migrator.on_progress_observer(observer);
    }
    let result = migrator.run(&db, &request);
    drop(display);
    let report = result?;
    // After COMMIT: the backup goes off the machine, and what the rotation removed here goes
    // there too. Neither can undo the run; a failure is said and recorded for `health`.
    let dir = context::backup_dir(g, &db);
    let offsite = match (&remote, &report.backup_id) {
        (Some(remote), Some(id)) => {
            let shipped = crate::offsite::push_after(out, remote, &dir, id);
            // Only once the new backup is there: else the store would lose its older ones
            // while the newest is only here.
            let rotated = if shipped.ok {
                report.rotated.as_slice()
            } else {
                &[]
            };
            for rotated in rotated {
                if let Err(e) = belay_migrate::backup::mirror::remove(remote, rotated) {
                    out.note(&format!(
                        "backup {rotated} was rotated out here but stays in {}: {e}",
                        remote.shown()
                    ));
                }
            }
            Some(shipped)
        }
        _ => None,
    };
    let doc = Document {
        report: &report,
        rehearsal: rehearsal.as_ref(),
        offsite: offsite.as_ref(),
    };
    out.print(&doc, || {
        let mut text = String::new();
        if let Some(earlier) = &report.interrupted {
            text.push_str(&format!("{earlier}\n"));
        }
        if let Some(id) = &report.backup_id {
            text.push_str(&format!("backed up to {id} before migrating\n"));
        }
        if let Some(shipped) = offsite.as_ref().filter(|o| o.ok) {
            text.push_str(&format!(
                "copied backup {} to {}\n",
                shipped.id, shipped.url
            ));
        }
        if !report.rotated.is_empty() {
            text.push_str(&format!(
                "rotated out {} older pre-migrate backup(s) ([backup] keep_* in migrate.toml)\n",
                report.rotated.len()
            ));
        }
        for problem in &report.allowed {
            text.push_str(&format!("allowed: {problem}\n"));
        }
        let verb = match report.direction {
            Direction::Up => "applied",
            Direction::Down => "reverted",
        };
        for step in &report.steps {
            text.push_str(&format!(
                "{verb} {} {} (its script and verify queries: {} ms)\n",
                step.version, step.name, step.duration_ms
            ));
        }
        if report.steps.is_empty() {
            text.push_str(&format!(
                "nothing to do: the database is at version {}\n",
                version_text(report.to_version)
            ));
        } else {
            // Two spans, each named: the migrations' own work, and the whole run.
            let migrations: u64 = report.steps.iter().map(|s| s.duration_ms).sum();
            text.push_str(&format!(
                "the database is at version {}: {} migration(s) {verb} in {migrations} ms; the whole run took {} ms (lock, checks, backup, migrations, commit, record)\n",
                version_text(report.to_version),
                report.steps.len(),
                report.duration_ms
            ));
        }
        text
    });
    Ok(())
}

/// `--json` output: the run's report, with the rehearsal's when there was one.
#[derive(serde::Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    report: &'a belay_migrate::RunReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    rehearsal: Option<&'a belay_migrate::RunReport>,
    /// The pre-run backup's copy off the machine, when a store is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    offsite: Option<&'a crate::offsite::Shipped>,
}
