//! `migrate archive status|verify|run [--once]`: the point-in-time archive (docs/pitr.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use belay_migrate::guard::archive::{self, Archiver, Checkpointing, Round};
use belay_migrate::lock::{self, MigrationLock};
use serde::Serialize;

use crate::cli::ArchiveCommand;
use crate::context;
use crate::error::{CliError, code};
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, command: &ArchiveCommand) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::archive_dir(g, &db)?;
    match command {
        ArchiveCommand::Status => status(out, &db, &dir),
        ArchiveCommand::Verify => verify(out, &dir),
        ArchiveCommand::Run { once } => {
            context::readable(g, out, &db)?;
            ship(g, out, &db, &dir, *once)
        }
    }
}

fn status(out: &Output, db: &std::path::Path, dir: &std::path::Path) -> Result<(), CliError> {
    let s = archive::status::with_versions(archive::status::status(db, dir)?)?;
    let m = &s.summary;
    out.print(&s, || {
        let mut text = format!("archive {}\n", m.dir);
        match (&m.first, &m.last) {
            (Some(first), Some(last)) => text.push_str(&format!(
                "  points: {} (commits {} to {}, {} to {}) in {} generation(s), {} bytes\n",
                m.commits, first.id, last.id, first.at, last.at, m.generations, m.bytes
            )),
            _ => text.push_str("  points: none yet (run `migrate archive run --once` or `migrate watch` with [watch] archive)\n"),
        }
        if m.following {
            text.push_str(&format!(
                "  waiting in the WAL: {} commit(s), {} bytes; lag {:.1}s\n",
                m.unarchived_commits, m.unarchived_bytes, m.lag_seconds
            ));
        } else if m.last.is_some() {
            text.push_str("  the WAL restarted since the newest point: the next archiver round proves it continues or records a gap\n");
        }
        for gap in &m.gaps {
            text.push_str(&format!(
                "  gap: after commit {} ({}) until commit {} ({}): {}\n",
                gap.after.map_or("-".to_owned(), |c| c.to_string()),
                gap.after_at.as_deref().unwrap_or("-"),
                gap.before,
                gap.before_at,
                gap.reason
            ));
        }
        text
    });
    Ok(())
}

/// `archive verify`'s document: `ok` false when it exits 6.
#[derive(Serialize)]
struct Verified<'a> {
    ok: bool,
    #[serde(flatten)]
    verification: &'a archive::verify::Verification,
}

fn verify(out: &Output, dir: &std::path::Path) -> Result<(), CliError> {
    let v = archive::verify::verify(dir)?;
    let document = Verified {
        ok: v.ok(),
        verification: &v,
    };
    out.print(&document, || {
        let mut text = format!(
            "{} generation(s), {} segment(s): {} point(s) restorable\n",
            v.generations, v.segments, v.restorable
        );
        for p in &v.problems {
            text.push_str(&format!(
                "  unrestorable: commits {} to {} ({}): {}\n",
                p.from, p.to, p.generation, p.reason
            ));
        }
        match v.newest {
            Some(id) if v.newest_ok => text.push_str(&format!(
                "  newest point {id} rebuilt: matches its page hash, quick_check ok\n"
            )),
            Some(id) => text.push_str(&format!("  newest point {id} could not be rebuilt\n")),
            None => text.push_str("  no point to rebuild\n"),
        }
        text
    });
    if v.ok() {
        Ok(())
    } else {
        Err(CliError::Exit(code::CORRUPT))
    }
}

/// One round's line.
#[derive(Serialize)]
struct Shipped<'a> {
    #[serde(flatten)]
    round: &'a Round,
    pruned: &'a [String],
    /// What went to the store this round, when one is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    offsite: Option<&'a Offsite>,
}

/// A round's copy to the store.
#[derive(Serialize)]
struct Offsite {
    /// Objects copied.
    copied: usize,
    /// Why the copy failed (the archive here is whole; the next round tries again).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn ship(
    g: &Settings,
    out: &Output,
    db: &std::path::Path,
    dir: &std::path::Path,
    once: bool,
) -> Result<(), CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| CliError::Usage(format!("cannot handle signal {signal}: {e}")))?;
    }
    let interval = match &g.file.watch.archive {
        Some(v) => belay_migrate::guard::watch::every::duration(v)
            .map_err(|why| CliError::Usage(format!("[watch] archive in migrate.toml: {why}")))?,
        None => belay_migrate::guard::watch::every::duration(context::DEFAULT_ARCHIVE_INTERVAL)
            .expect("the default parses"),
    };
    let retention = context::archive_retention(g)?;
    let options = context::archive_options(g)?;
    let remote = crate::offsite::open(g)?;
    let backups = context::backup_dir(g, db);
    let mut shipper = archive::mirror::Shipper::new();
    let mut archiver = Archiver::start(db, dir, options)?;
    let mut first = true;
    loop {
        // Checkpoints wait while a migration run holds the migration lock (as under `watch`):
        // shipping does not.
        let held = match MigrationLock::acquire_file(
            lock::lock_path(db),
            Duration::ZERO,
            &mut |_, _| {},
        ) {
            Ok(held) => Some(held),
            Err(belay_migrate::guard::Error::LockTimeout { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let checkpointing = match held {
            Some(_) => Checkpointing::Allowed,
            None => Checkpointing::HeldBack,
        };
        let round = archiver.round_with(checkpointing)?;
        drop(held);
        let pruned = archiver.prune(retention)?;
        // Off the machine: what the round added, and the store pruned as this archive was.
        let offsite = remote.as_ref().map(|remote| {
            let change = if round.commits > 0
                || round.generation.is_some()
                || round.gap.is_some()
                || round.compacted > 0
                || !pruned.is_empty()
            {
                archive::mirror::Change::Changed
            } else {
                archive::mirror::Change::Unchanged
            };
            let cutoff_ms = (first || !pruned.is_empty()).then(|| {
                belay_migrate::guard::vocab::clock::unix_millis_now()
                    - retention.as_millis() as i64
            });
            let following = archive::mirror::Following {
                change,
                cutoff_ms,
                record_in: &backups,
            };
            match shipper.follow(remote, dir, following) {
                Ok(shipped) => Offsite {
                    copied: shipped.objects,
                    error: None,
                },
                Err(e) => {
                    crate::output::stderr(&format!(
                        "the archive could not be copied to {}: {e}; the next round tries again (`migrate health` says so meanwhile)\n",
                        remote.shown()
                    ));
                    Offsite {
                        copied: 0,
                        error: Some(e.to_string()),
                    }
                }
            }
        });
        first = false;
        let line = Shipped {
            round: &round,
            pruned: &pruned,
            offsite: offsite.as_ref(),
        };
        if let Some(gap) = &round.gap {
            crate::output::stderr(&format!(
                "archive gap: commits after {} were not seen one by one ({}); the archive goes on from commit {}\n",
                gap.after
                    .as_ref()
                    .map_or("-".to_owned(), |e| e.commit.to_string()),
                gap.reason,
                gap.before.commit
            ));
        }
        if once
            || round.commits > 0
            || round.generation.is_some()
            || round.compacted > 0
            || !pruned.is_empty()
        {
            out.line(&line, || {
                let last = round
                    .last
                    .map_or("none".to_owned(), |p| format!("commit {}", p.id));
                format!(
                    "archived {} commit(s){}; newest point {last}{}{}{}{}\n",
                    round.commits,
                    round
                        .generation
                        .as_ref()
                        .map_or(String::new(), |g| format!(", began {g}")),
                    if round.checkpointed {
                        ", checkpointed"
                    } else {
                        ""
                    },
                    match round.compacted {
                        0 => String::new(),
                        n => format!(", {n} segment(s) compacted"),
                    },
                    match pruned.len() {
                        0 => String::new(),
                        n => format!(", {n} generation(s) past retention removed"),
                    },
                    match (&offsite, &remote) {
                        (Some(o), Some(remote)) if o.copied > 0 => {
                            format!(", {} object(s) copied to {}", o.copied, remote.shown())
                        }
                        _ => String::new(),
                    }
                )
            });
        }
        if once {
            return Ok(());
        }
        if round.busy(&options) && !stop.load(Ordering::Relaxed) {
            // Busy writers: the next round follows at once, so the WAL is shipped and
            // checkpointed before it grows.
            continue;
        }
        let mut slept = Duration::ZERO;
        while slept < interval && !stop.load(Ordering::Relaxed) {
            let step = Duration::from_millis(50).min(interval - slept);
            std::thread::sleep(step);
            slept += step;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}
