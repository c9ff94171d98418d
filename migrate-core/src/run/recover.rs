//! Dealing with an interrupted run, found by its marker (see [`crate::record::marker`]) when the next
//! run holds the migration lock (so the marker's owner is gone).
//!
//! A run that stopped before it began applying changed nothing: it is recorded and forgotten.
//! One that stopped inside a transaction left a consistent version: SQLite's journal undid the
//! open transaction, and every migration committed before it (per-migration runs) is whole, its
//! history row included. Nothing is restored (restoring would discard whatever the application
//! committed after the stop); the next run continues from that version. One that stopped in a
//! no-transaction migration may have left the database part-way, which only its pre-run backup
//! undoes: it is restored when the marker proves that nobody else committed since (the file
//! change counter it recorded after the file's last statement is unchanged; see `writers`).
//! Without that proof (WAL mode, a commit by anyone since, a restore cut short), nothing is
//! restored: [`Error::RecoveryRefused`] (exit 7) says what to do, and the marker stays. Either
//! way the attempt is recorded as `interrupted` in `_migrate_attempts` and the audit journal.

use belay_guard::files::durable::Durability;
use std::path::Path;

use rusqlite::Connection;

use std::time::Duration;

use crate::planning::plan;
use crate::record::attempt::Attempt;
use crate::record::history::{DownScripts, Outcome};
use crate::record::marker::{self, Phase, RunMarker};
use crate::record::state::DbState;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::report::{DatabaseState, Interrupted};
use belay_guard::backup::{self, Proof};

/// Restores (where needed) and records the interrupted run `found` left for `db`.
///
/// # Errors
///
/// [`Error::RecoveryFailed`] when the database may be part-way and its backup cannot be
/// restored (the marker stays, so the next run tries again).
pub(crate) fn recover(
    conn: &Connection,
    db: &Path,
    mut found: RunMarker,
    timeout: Duration,
) -> Result<Interrupted, Error> {
    let (state, refused) = judge(conn, db, &found, timeout)?;
    if found.recorded {
        // A refusal already recorded this interruption; it stays refused.
        return Err(refused.unwrap_or_else(|| unreachable_refusal(db)));
    }
    let mut attempt = Attempt::interrupted(&found);
    let error = format!(
        "interrupted while {} (process {} on {} stopped); found by pid {}: {}",
        found.phase.describe(),
        found.holder.pid,
        found.holder.host,
        std::process::id(),
        state
    );
    attempt
        .finish_alone(
            conn,
            Outcome::Interrupted,
            Some(error),
            current_version(conn)?,
        )
        .context("recording the interrupted run")?;
    attempt.audit(&found.backup_dir, db, &state)?;
    if let Some(refusal) = refused {
        // Recorded once; the marker stays until the database is dealt with.
        found.recorded = true;
        found.write(db, Durability::Synced)?;
        return Err(refusal);
    }
    marker::clear(db, Durability::Synced)?;
    Ok(Interrupted {
        holder: found.holder,
        command: found.command,
        phase: found.phase,
        backup_id: found.backup_id,
        database: state,
        attempt_id: attempt.id(),
    })
}

/// What the interrupted run left, restoring its backup where that is both needed and proven
/// safe; with the refusal to report when only the backup could undo it but nothing proves that
/// nobody committed since.
fn judge(
    conn: &Connection,
    db: &Path,
    found: &RunMarker,
    timeout: Duration,
) -> Result<(DatabaseState, Option<Error>), Error> {
    let state = match (found.phase, found.outside, &found.backup_id) {
        (phase, _, _) if !phase.may_have_changed() => DatabaseState::Unchanged,
        // Stopped inside a transaction: the journal undid it; every committed migration is
        // whole. Restoring would discard whatever anyone committed since: the run continues.
        (Phase::Applying | Phase::Verifying, None, _) => DatabaseState::Consistent {
            version: current_version(conn)?,
        },
        // A no-transaction file half done, whose marker holds the state of the file after its
        // last statement, recorded while the run's own proof held (see `writers`): restored
        // if the database is still in that state once the restore holds the write lock (so
        // nobody has committed since, and nobody can before the copy commits). The backup
        // then undoes exactly the run.
        (Phase::Applying, Some(_), Some(id)) if found.token.is_some() => {
            match restore_with_proof(db, found, id, timeout)? {
                Some(state) => state,
                None => return refusal(conn, db, found, id),
            }
        }
        // A no-transaction file half done without that proof, or a restore cut short: only the
        // backup undoes it, and nothing proves that nobody committed since the stop.
        (_, _, Some(id)) => return refusal(conn, db, found, id),
        (_, _, None) => DatabaseState::PartiallyApplied {
            version: current_version(conn)?,
        },
    };
    Ok((state, None))
}

/// Restores `id` if the database is still in the state the marker's token names (read under
/// the restore's write lock): `None` when it is not (nothing copied).
fn restore_with_proof(
    db: &Path,
    found: &RunMarker,
    id: &str,
    timeout: Duration,
) -> Result<Option<DatabaseState>, Error> {
    let Some(token) = found.token else {
        return Ok(None);
    };
    let restored = backup::find(&found.backup_dir, id).and_then(|m| {
        backup::restore_locked(db, &found.backup_dir, &m, timeout, Proof::Unchanged(token))
    });
    match restored {
        Ok(Some(_)) => Ok(Some(DatabaseState::Restored {
            backup: id.to_owned(),
        })),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::RecoveryFailed {
            run: Box::new(found.holder.clone()),
            backup: id.to_owned(),
            dir: found.backup_dir.clone(),
            reason: e.to_string(),
        }),
    }
}

/// The database left part-way, and the exit-7 refusal that says so.
fn refusal(
    conn: &Connection,
    db: &Path,
    found: &RunMarker,
    id: &str,
) -> Result<(DatabaseState, Option<Error>), Error> {
    let version = current_version(conn)?;
    let refused = Error::RecoveryRefused {
        run: Box::new(found.holder.clone()),
        during: match found.outside {
            Some(version) => format!("running no-transaction migration {version}"),
            None => found.phase.describe().to_owned(),
        },
        version,
        backup: id.to_owned(),
        dir: found.backup_dir.clone(),
        marker: marker::path(db),
    };
    let state = DatabaseState::PartWay {
        version,
        backup: id.to_owned(),
    };
    Ok((state, Some(refused)))
}

/// A marker flagged as recorded is only ever written by a refusal.
fn unreachable_refusal(db: &Path) -> Error {
    Error::Internal {
        reason: format!(
            "{} says its interruption was recorded, but not why the run stopped; move it away after checking the database",
            marker::path(db).display()
        ),
    }
}

fn current_version(conn: &Connection) -> Result<Option<crate::vocab::version::Version>, Error> {
    Ok(plan::current_version(
        &DbState::read(conn, DownScripts::Skip)?.applied,
    ))
}
