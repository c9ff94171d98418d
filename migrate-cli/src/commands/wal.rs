//! `migrate wal status|checkpoint`: the write-ahead log seen from outside the application.

use belay_migrate::guard::database::holders::{self, Holders};
use belay_migrate::guard::database::wal::{
    self, Checkpoint, CheckpointMode, Checkpointed, Journal, WalStatus,
};
use serde::Serialize;

use super::backup::human_bytes;
use crate::cli::{CheckpointModeArg, WalCommand};
use crate::context;
use crate::error::{CliError, code};
use crate::output::Output;
use crate::settings::Settings as Global;
use belay_migrate::guard::database::settings::{JournalMode, Settings};

pub fn run(g: &Global, out: &Output, command: &WalCommand) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
    match command {
        WalCommand::Status => {
            let report = StatusReport {
                status: wal::status(&db)?,
                last_checkpoint: wal::last(&dir)?,
                configured: g.file.database.clone(),
            };
            out.print(&report, || status_text(&report));
            Ok(())
        }
        WalCommand::Checkpoint { mode } => {
            match wal::checkpoint(&db, mode_of(*mode), context::lock_timeout(g)?)? {
                Checkpointed::NotWal { journal_mode } => {
                    let report = NotWal {
                        wal: false,
                        journal_mode: &journal_mode,
                    };
                    out.print(&report, || {
                        format!(
                            "not in WAL mode (journal mode {journal_mode}): there is no WAL to \
                             checkpoint\n"
                        )
                    });
                    Ok(())
                }
                Checkpointed::Done(done) => {
                    // A record that cannot be written does not undo the checkpoint.
                    if let Err(e) = wal::record(&dir, &done) {
                        out.note(&format!("the checkpoint was not recorded: {e}"));
                    }
                    let held_back =
                        (done.busy || done.frames_left() > 0).then(|| holders::open_by(&db));
                    let report = CheckpointReport {
                        wal: true,
                        frames_left: done.frames_left(),
                        checkpoint: &done,
                        held_back_by: held_back.as_ref(),
                    };
                    out.print(&report, || checkpoint_text(&report));
                    if done.busy {
                        return Err(CliError::Exit(code::LOCKED));
                    }
                    Ok(())
                }
            }
        }
    }
}

fn mode_of(arg: CheckpointModeArg) -> CheckpointMode {
    match arg {
        CheckpointModeArg::Passive => CheckpointMode::Passive,
        CheckpointModeArg::Full => CheckpointMode::Full,
        CheckpointModeArg::Restart => CheckpointMode::Restart,
        CheckpointModeArg::Truncate => CheckpointMode::Truncate,
    }
}

#[derive(Serialize)]
struct StatusReport {
    #[serde(flatten)]
    status: WalStatus,
    last_checkpoint: Option<Checkpoint>,
    /// `[database]` as configured (what runs apply).
    configured: Settings,
}

#[derive(Serialize)]
struct NotWal<'a> {
    wal: bool,
    journal_mode: &'a str,
}

#[derive(Serialize)]
struct CheckpointReport<'a> {
    wal: bool,
    #[serde(flatten)]
    checkpoint: &'a Checkpoint,
    frames_left: i64,
    /// Who holds the database open, when frames were left.
    held_back_by: Option<&'a Holders>,
}

fn status_text(report: &StatusReport) -> String {
    let s = &report.status;
    let mut text = match s.journal {
        Journal::Empty => "journal: none yet (an empty database file)\n".to_owned(),
        Journal::Rollback => format!(
            "journal: rollback (page size {}): no WAL; `PRAGMA journal_mode = WAL` switches it\n",
            s.page_size
        ),
        Journal::Wal => format!("journal: wal (page size {})\n", s.page_size),
    };
    if s.journal == Journal::Wal || s.wal_bytes > 0 {
        text.push_str(&format!(
            "WAL: {} ({} frame(s) in the file)",
            human_bytes(s.wal_bytes),
            s.wal_file_frames
        ));
        match s.index {
            Some(i) => text.push_str(&format!(
                "; {} valid, {} checkpointed, {} to copy\n",
                i.frames,
                i.checkpointed,
                i.frames.saturating_sub(i.checkpointed)
            )),
            None => text.push_str("; no WAL index (no connection has it open)\n"),
        }
    }
    match &report.last_checkpoint {
        Some(c) => text.push_str(&format!(
            "last checkpoint: {} ({}): {}\n",
            c.at,
            mode_name(c.mode),
            outcome(c)
        )),
        None => text.push_str("last checkpoint: none recorded by migrate\n"),
    }
    text.push_str(&format!("open by: {}\n", s.holders.describe()));
    text.push_str(&configured_text(&report.configured, s.journal));
    text
}

/// `[database]` as configured, and whether the journal mode still has to be set.
fn configured_text(configured: &Settings, journal: Journal) -> String {
    let pairs = match serde_json::to_value(configured) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    if pairs.is_empty() {
        return "configured: nothing ([database] sets no setting)\n".to_owned();
    }
    let mut text = format!("configured ([database]): {}\n", pairs.join(", "));
    let differs = match (configured.journal_mode, journal) {
        (Some(JournalMode::Wal), Journal::Wal) | (None, _) => false,
        (Some(JournalMode::Wal), _) => true,
        (Some(_), journal) => journal == Journal::Wal,
    };
    if differs {
        text.push_str(
            "  the journal mode differs: the next `migrate up` sets it, under the lock\n",
        );
    }
    text
}

fn checkpoint_text(report: &CheckpointReport<'_>) -> String {
    let c = report.checkpoint;
    let mut text = format!(
        "checkpoint ({}): {}; WAL now {} ({} ms)\n",
        mode_name(c.mode),
        outcome(c),
        human_bytes(c.wal_bytes_after),
        c.duration_ms
    );
    if let Some(holders) = report.held_back_by {
        text.push_str(&format!("held back by: {}\n", holders.describe()));
    }
    text
}

fn mode_name(mode: CheckpointMode) -> &'static str {
    match mode {
        CheckpointMode::Passive => "passive",
        CheckpointMode::Full => "full",
        CheckpointMode::Restart => "restart",
        CheckpointMode::Truncate => "truncate",
    }
}

/// What a checkpoint did, in words.
fn outcome(c: &Checkpoint) -> String {
    if c.log_frames < 0 {
        return "busy: another connection held what it needed; nothing copied".to_owned();
    }
    let before = c
        .frames_before
        .map_or_else(String::new, |n| format!("{n} frame(s) in the WAL before; "));
    // A truncate or restart that finished emptied the WAL: SQLite then reports 0 and 0.
    if !c.busy && c.log_frames == 0 && c.mode.waits() {
        return format!("{before}all copied, the WAL restarted");
    }
    let copied = format!(
        "{before}{} of {} frame(s) copied",
        c.checkpointed_frames, c.log_frames
    );
    match (c.busy, c.frames_left()) {
        (true, 0) => format!("{copied}, but busy: it gave up waiting for readers to move on"),
        (true, left) => format!("{copied}, {left} left: busy, it gave up waiting"),
        (false, 0) => copied,
        (false, left) => format!("{copied}, {left} left (a reader still needs them)"),
    }
}
