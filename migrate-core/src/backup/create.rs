//! Taking a hot backup with SQLite's online backup API.
//!
//! The source's read snapshot is pinned (a read transaction held for the whole copy) before
//! the backup starts, so a busy writer in another process cannot make the backup restart
//! forever: in WAL mode the writer goes on and the backup copies the pinned snapshot; in
//! rollback-journal mode the writer's commit waits for the copy (as it would for `cp` under a
//! lock), within its busy timeout.
//!
//! The image is copied into a staged file, then (by default) streamed through zstd into the
//! backup file while its SHA-256 is computed, so memory stays flat whatever the database
//! size. Files are created 0600, fsynced and renamed into place; the manifest is written last,
//! so a crash or a full disk never leaves a file that looks like a valid backup.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::Error;
use crate::backup::image;
use crate::backup::manifest::{Compression, Manifest, Reason};
use crate::backup::store::{self, Staged};
use crate::clock;
use crate::error::SqliteContext;
use crate::history;

/// Pages copied per backup step, between progress reports (4 MiB at 4 KiB pages).
const PAGES_PER_STEP: i32 = 1024;

/// How a backup is taken.
#[derive(Debug, Clone, Copy)]
pub struct CreateOptions {
    /// Compressed (the default) or plain.
    pub compression: Compression,
    /// Why it is taken.
    pub reason: Reason,
    /// How long to wait for SQLite locks held by other connections.
    pub busy_timeout: Duration,
}

impl Default for CreateOptions {
    /// zstd, manual, 60 s.
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            reason: Reason::Manual,
            busy_timeout: crate::lock::DEFAULT_TIMEOUT,
        }
    }
}

/// How far a backup has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Pages copied so far.
    pub copied: u64,
    /// Pages in all.
    pub total: u64,
}

/// Takes a backup of the database at `db` into `dir` and returns its manifest.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when there is no database at `db`; [`Error::Sqlite`] when the
/// copy fails (a busy source beyond the timeout, a full disk); [`Error::Io`] when a file cannot
/// be written. Nothing that looks like a backup is left behind on error.
pub fn create(
    db: &Path,
    dir: &Path,
    options: &CreateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, Error> {
    if !db.is_file() {
        return Err(Error::InvalidRequest {
            reason: format!("there is no database at {}", db.display()),
        });
    }
    store::create_dir(dir)?;
    let created_at = clock::now_rfc3339();
    let id = store::new_id(&created_at, options.reason.as_str());
    let file = format!("{id}.{}", options.compression.extension());
    let final_path = dir.join(&file);

    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .context(&format!("opening {}", db.display()))?;
    source
        .busy_timeout(options.busy_timeout)
        .context("setting the busy timeout")?;
    let snapshot = Transaction::new_unchecked(&source, TransactionBehavior::Deferred)
        .context("beginning the read snapshot")?;
    // The first read starts the read transaction that pins the snapshot.
    let (page_size, page_count): (i64, i64) = snapshot
        .query_row(
            "SELECT page_size, page_count FROM pragma_page_size, pragma_page_count",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context("reading the database size")?;
    let (page_size, page_count) = (page_size as u64, page_count as u64);
    let schema_version = if history::exists(&snapshot)? {
        snapshot
            .query_row("SELECT max(version) FROM _migrate_history", [], |r| {
                r.get(0)
            })
            .context("reading _migrate_history")?
    } else {
        None
    };

    let image = Staged::new(dir.join(format!(".{id}.image.tmp")));
    drop(store::create_private(image.path())?);
    copy_snapshot(&snapshot, image.path(), options.busy_timeout, progress)?;
    drop(snapshot);

    let digested = match options.compression {
        Compression::None => {
            let digested = image::digest(image.path())?;
            image.publish(&final_path)?;
            digested
        }
        Compression::Zstd => {
            let out = Staged::new(store::temp_path(&final_path));
            let mut file = store::create_private(out.path())?;
            let digested = image::compress(image.path(), &mut file, out.path())?;
            drop(file);
            out.publish(&final_path)?;
            digested
        }
    };
    let expected = page_size * page_count;
    if digested.bytes != expected {
        let _ = std::fs::remove_file(&final_path);
        return Err(Error::BackupCorrupt {
            path: final_path,
            reason: format!(
                "the copy holds {} bytes, the database {expected}",
                digested.bytes
            ),
        });
    }
    let manifest = Manifest {
        id,
        created_at,
        reason: options.reason,
        schema_version,
        page_size,
        page_count,
        byte_size: digested.bytes,
        sha256: digested.sha256,
        compression: options.compression,
        compressed_size: std::fs::metadata(&final_path)
            .map_err(|source| Error::Io {
                path: final_path.clone(),
                source,
            })?
            .len(),
        file,
        source: db.display().to_string(),
    };
    if let Err(e) = store::write_atomically(
        &store::manifest_path(dir, &manifest.id),
        &manifest.to_json(),
    ) {
        // Without its manifest the file is not a backup; do not leave it looking like one.
        let _ = std::fs::remove_file(&final_path);
        return Err(e);
    }
    Ok(manifest)
}

/// Copies the snapshot `source` holds open into a new database file at `to`.
fn copy_snapshot(
    source: &Connection,
    to: &Path,
    busy_timeout: Duration,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let mut dest = Connection::open(to).context("opening the backup image")?;
    // A scratch file: no journal, no syncs; it is fsynced once complete.
    dest.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .context("preparing the backup image")?;
    let backup = Backup::new(source, &mut dest).context("starting the backup")?;
    let deadline = Instant::now() + busy_timeout;
    loop {
        let step = backup
            .step(PAGES_PER_STEP)
            .map_err(|source| Error::Sqlite {
                context: format!(
                    "copying the database into {} (is the disk full?)",
                    to.display()
                ),
                source,
            })?;
        let p = backup.progress();
        let total = p.pagecount.max(0) as u64;
        progress(Progress {
            copied: total.saturating_sub(p.remaining.max(0) as u64),
            total,
        });
        match step {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => {
                if Instant::now() >= deadline {
                    return Err(Error::InvalidRequest {
                        reason: format!(
                            "the database stayed locked for {}s during the backup",
                            busy_timeout.as_secs()
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {}
        }
    }
}
