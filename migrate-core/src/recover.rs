//! Dealing with an interrupted run, found by its marker (see [`crate::marker`]) when the next
//! run holds the migration lock (so the marker's owner is gone).
//!
//! A run that stopped before it began applying changed nothing: it is recorded and forgotten.
//! One that stopped while applying, verifying or restoring may have left the database part-way
//! (per-migration commits, a no-transaction file, a failure it was undoing): the database is
//! restored from the backup it took before changing anything, so the next run starts from the
//! exact pre-run state. (A run in one transaction that stopped before COMMIT was already rolled
//! back by SQLite's journal; restoring it again is harmless.) Either way the attempt is recorded
//! as `interrupted` in `_migrate_attempts` and the audit journal, and the marker removed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::audit;
use crate::backup::{self, store};
use crate::error::SqliteContext;
use crate::history::{self, AttemptRecord, DownScripts, Outcome};
use crate::marker::{self, RunMarker};
use crate::report::{DatabaseState, Interrupted};
use crate::state::DbState;
use crate::{Error, clock, plan};

/// Restores (where needed) and records the interrupted run `found` left for `db`.
///
/// # Errors
///
/// [`Error::RecoveryFailed`] when the database may be part-way and its backup cannot be
/// restored (the marker stays, so the next run tries again).
pub(crate) fn recover(
    conn: &Connection,
    db: &Path,
    found: RunMarker,
    timeout: Duration,
) -> Result<Interrupted, Error> {
    let state = match (found.phase.may_have_changed(), &found.backup_id) {
        (false, _) => DatabaseState::Unchanged,
        (true, Some(id)) => {
            let restored = store::find(&found.backup_dir, id)
                .and_then(|m| backup::restore_locked(db, &found.backup_dir, &m, timeout));
            if let Err(e) = restored {
                return Err(Error::RecoveryFailed {
                    run: Box::new(found.holder.clone()),
                    backup: id.clone(),
                    dir: found.backup_dir.clone(),
                    reason: e.to_string(),
                });
            }
            DatabaseState::Restored { backup: id.clone() }
        }
        (true, None) => DatabaseState::PartiallyApplied {
            version: current_version(conn)?,
        },
    };
    let mut record = AttemptRecord {
        id: None,
        command: found.command.clone(),
        holder: found.holder.clone(),
        finished_at: Some(clock::now_rfc3339()),
        outcome: Outcome::Interrupted,
        from_version: found.from_version,
        to_version: current_version(conn)?,
        versions: found.versions.clone(),
        error: Some(format!(
            "interrupted while {} (process {} on {} stopped); found by pid {}: {}",
            found.phase.describe(),
            found.holder.pid,
            found.holder.host,
            std::process::id(),
            state
        )),
        duration_ms: None,
        backup_id: found.backup_id.clone(),
        fingerprint: None,
    };
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .context("recording the interrupted run")?;
    tx.execute_batch(history::CREATE)
        .context("recording the interrupted run")?;
    record.id =
        Some(history::record_attempt(&tx, &record).context("recording the interrupted run")?);
    tx.commit().context("recording the interrupted run")?;
    audit::append(&found.backup_dir, &audit::Entry::new(db, &record, &state))?;
    marker::clear(db)?;
    Ok(Interrupted {
        holder: found.holder,
        command: found.command,
        phase: found.phase,
        backup_id: found.backup_id,
        database: state,
        attempt_id: record.id,
    })
}

fn current_version(conn: &Connection) -> Result<Option<crate::Version>, Error> {
    Ok(plan::current_version(
        &DbState::read(conn, DownScripts::Skip)?.applied,
    ))
}
