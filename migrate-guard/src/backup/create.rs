//! Taking a hot backup with SQLite's online backup API.
//!
//! The source's read snapshot is pinned (a read transaction held for the whole copy) before
//! the backup starts, so a busy writer in another process cannot make the backup restart
//! forever: in WAL mode the writer goes on and the backup copies the pinned snapshot; in
//! rollback-journal mode the writer's commit waits for the copy (as it would for `cp` under a
//! lock), within its busy timeout.
//!
//! Within that snapshot the pages are read through SQLite itself, from the `sqlite_dbpage`
//! virtual table, and streamed once: hashed, compressed with zstd by default, written. Memory
//! stays flat whatever the database size. Reading the file with a second file descriptor
//! instead would be unsafe: closing it drops every POSIX lock this process holds on the
//! database, SQLite's own included. Where SQLite was built without `sqlite_dbpage`, the
//! snapshot is copied with the backup API into a staged image that is then streamed the same
//! way.
//!
//! Files are created 0600, fsynced and renamed into place; the manifest is written last, so a
//! crash or a full disk never leaves a file that looks like a valid backup.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::Error;
use crate::backup::image::{self, EarlyFlush, HashingWriter};
use crate::backup::manifest::{Compression, Manifest, Reason};
use crate::backup::store::{self, Staged};
use crate::backup::worth::{self, DEFAULT_MIN_RATIO};
use crate::vocab::clock;
use crate::vocab::error::SqliteContext;

/// Pages copied per backup step, between progress reports (4 MiB at 4 KiB pages).
const PAGES_PER_STEP: i32 = 1024;

/// How a backup is taken.
#[derive(Debug, Clone, Copy)]
pub struct CreateOptions {
    /// Compressed (the default) or plain.
    pub compression: Compression,
    /// Stores a backup asked to be compressed plain when a sample of its pages does not shrink
    /// this many times under zstd (see the `worth` module); `None` compresses whatever the
    /// data. Default [`DEFAULT_MIN_RATIO`].
    pub min_ratio: Option<f64>,
    /// Why it is taken.
    pub reason: Reason,
    /// How long to wait for SQLite locks held by other connections.
    pub busy_timeout: Duration,
    /// Reads the schema version the manifest records, in the backup's own snapshot (the
    /// migration engine reads its history); `None` records none.
    pub version_of: Option<VersionOf>,
}

/// Reads a database's schema version on a connection inside a read transaction.
pub type VersionOf = fn(&Connection) -> rusqlite::Result<Option<i64>>;

impl Default for CreateOptions {
    /// zstd where it pays ([`DEFAULT_MIN_RATIO`]), manual, 60 s, no schema version.
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            min_ratio: Some(DEFAULT_MIN_RATIO),
            reason: Reason::Manual,
            busy_timeout: crate::database::lock::DEFAULT_TIMEOUT,
            version_of: None,
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
#[tracing::instrument(name = "backup_create", level = "debug", skip_all, fields(db = %db.display(), dir = %dir.display()), err(level = "warn"))]
pub fn create(
    db: &Path,
    dir: &Path,
    options: &CreateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, Error> {
    if crate::database::db::regular_file(db)?.is_none() {
        return Err(Error::NoDatabase {
            path: db.to_path_buf(),
        });
    }
    store::create_dir(dir)?;
    // What stopped processes left behind goes first (see `store::sweep`).
    store::sweep(dir)?;
    let created_at = clock::now_rfc3339();
    let id = store::new_id(&created_at, options.reason.as_str());

    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .context(&format!("opening {}", db.display()))?;
    crate::database::db::set_busy_timeout(&source, options.busy_timeout);
    let snapshot = Transaction::new_unchecked(&source, TransactionBehavior::Deferred)
        .context("beginning the read snapshot")?;
    // The first read starts the read transaction that pins the snapshot.
    let (page_size, page_count): (i64, i64) = snapshot
        .query_row(
            "SELECT page_size, page_count FROM pragma_page_size, pragma_page_count",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| crate::database::settle::unreadable(db, e, "reading the database size"))?;
    let (page_size, page_count) = (page_size as u64, page_count as u64);
    let schema_version = match options.version_of {
        Some(read) => read(&snapshot).context("reading the schema version")?,
        None => None,
    };

    let (compression, sample) = match (options.compression, options.min_ratio) {
        (Compression::Zstd, Some(_)) => match worth::take_sample(&snapshot, page_count) {
            Ok(sample) => (
                worth::decide(options.compression, options.min_ratio, &sample),
                Some(sample),
            ),
            // Without `sqlite_dbpage`, or a page SQLite will not read now: as asked (the copy
            // itself reports what stops it).
            Err(_) => (options.compression, None),
        },
        _ => (options.compression, None),
    };
    let file_name = format!("{id}.{}", compression.extension());
    let final_path = dir.join(&file_name);
    let (out, file) = Staged::create(store::temp_path(&final_path))?;
    let source = Snapshot {
        conn: &snapshot,
        pages: page_count,
        staging: dir.join(format!(".{id}.image.tmp")),
        busy_timeout: options.busy_timeout,
    };
    // The image's hash, and the stored file's (the same bytes when plain).
    let (digested, file_sha256) = match compression {
        Compression::None => {
            // The hashing writer already writes in 1 MiB chunks.
            let mut sink = HashingWriter::new(EarlyFlush::new(file, out.path())?);
            source.write_to(&mut sink, out.path(), progress)?;
            let (_, digested) = sink.finish().map_err(image::io(out.path()))?;
            let stored = digested.sha256.clone();
            (digested, stored)
        }
        Compression::Zstd => {
            let file = HashingWriter::new(EarlyFlush::new(file, out.path())?);
            let mut sink = HashingWriter::new(image::encoder(file, out.path())?);
            source.write_to(&mut sink, out.path(), progress)?;
            let (encoder, digested) = sink.finish().map_err(image::io(out.path()))?;
            let file = encoder.finish().map_err(image::io(out.path()))?;
            let (_, stored) = file.finish().map_err(image::io(out.path()))?;
            (digested, stored.sha256)
        }
    };
    drop(snapshot);
    out.publish(&final_path)?;
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
        file_sha256: Some(file_sha256),
        compression,
        sample,
        compressed_size: std::fs::metadata(&final_path)
            .map_err(|source| Error::Io {
                path: final_path.clone(),
                source,
            })?
            .len(),
        file: file_name,
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
    tracing::debug!(
        id = %manifest.id,
        bytes = manifest.byte_size,
        compressed = manifest.compressed_size,
        "backup taken and verified"
    );
    Ok(manifest)
}

/// The pinned snapshot a backup reads.
struct Snapshot<'c> {
    conn: &'c Connection,
    pages: u64,
    /// Where the fallback path stages its image.
    staging: PathBuf,
    busy_timeout: Duration,
}

impl Snapshot<'_> {
    /// Writes the database image to `sink`.
    fn write_to(
        &self,
        sink: &mut impl Write,
        sink_path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        if self
            .conn
            .prepare("SELECT 1 FROM sqlite_dbpage LIMIT 0")
            .is_ok()
        {
            self.stream_pages(sink, sink_path, progress)
        } else {
            let (image, file) = Staged::create(self.staging.clone())?;
            drop(file);
            copy_snapshot(self.conn, image.path(), self.busy_timeout, progress)?;
            image::copy_file(image.path(), sink, sink_path)
        }
    }

    /// Streams every page, in order, from `sqlite_dbpage`.
    fn stream_pages(
        &self,
        sink: &mut impl Write,
        sink_path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT pgno, data FROM sqlite_dbpage('main') ORDER BY pgno")
            .context("reading the database pages")?;
        let mut rows = stmt.query([]).context("reading the database pages")?;
        let mut expected = 1u64;
        while let Some(row) = rows.next().context("reading the database pages")? {
            let pgno: i64 = row.get(0).context("reading the database pages")?;
            let data = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .context("reading the database pages")?;
            if pgno as u64 != expected {
                return Err(Error::Internal {
                    reason: format!(
                        "sqlite_dbpage returned page {pgno} where page {expected} was due"
                    ),
                });
            }
            let written = if expected == 1 {
                sink.write_all(&standalone_header(data))
            } else {
                sink.write_all(data)
            };
            written.map_err(|source| Error::Io {
                path: sink_path.to_path_buf(),
                source,
            })?;
            if expected.is_multiple_of(PAGES_PER_STEP as u64) || expected == self.pages {
                progress(Progress {
                    copied: expected,
                    total: self.pages,
                });
            }
            expected += 1;
        }
        Ok(())
    }
}

/// Page 1 of a standalone copy: a database in WAL mode marks it in header bytes 18 and 19;
/// the copy has no WAL, so it is marked as a rollback-journal database (as the backup API's
/// copies are).
fn standalone_header(page: &[u8]) -> Vec<u8> {
    let mut page = page.to_vec();
    if page.len() > 19 && page[18] == 2 && page[19] == 2 {
        page[18] = 1;
        page[19] = 1;
    }
    page
}

/// Copies the snapshot `source` holds open into a new database file at `to` with the backup
/// API (for SQLite builds without `sqlite_dbpage`).
fn copy_snapshot(
    source: &Connection,
    to: &Path,
    busy_timeout: Duration,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let mut dest = Connection::open(to).context("opening the backup image")?;
    // A scratch file: no journal, no syncs.
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
                    return Err(Error::LockTimeout {
                        path: std::path::PathBuf::from(source.path().unwrap_or_default()),
                        waited: busy_timeout,
                        holder: "another connection holding SQLite's lock during the backup"
                            .to_owned(),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// The backup-API fallback copies exactly the pinned snapshot (not a commit made during
    /// it) into a sound database, and reports its progress up to every page.
    #[test]
    fn the_fallback_copies_the_pinned_snapshot_and_reports_progress() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let writer = Connection::open(&db).unwrap();
        // Small pages, so that the copy takes several steps of PAGES_PER_STEP.
        writer
            .execute_batch(
                "PRAGMA page_size = 512; PRAGMA journal_mode = WAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                 INSERT INTO t (v) SELECT randomblob(300) FROM n;",
            )
            .unwrap();
        let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let snapshot = Transaction::new_unchecked(&source, TransactionBehavior::Deferred).unwrap();
        let pages: i64 = snapshot
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        assert!(pages > 2 * i64::from(PAGES_PER_STEP), "{pages} pages");
        // A commit after the snapshot was pinned is not part of the copy.
        writer
            .execute_batch("INSERT INTO t (v) VALUES (x'00'); DELETE FROM t WHERE id <= 10;")
            .unwrap();

        let image = dir.path().join("image.db");
        let mut seen = Vec::new();
        copy_snapshot(&snapshot, &image, Duration::from_secs(5), &mut |p| {
            seen.push(p)
        })
        .unwrap();

        let copy = Connection::open(&image).unwrap();
        assert_eq!(count(&copy), 3000);
        assert_eq!(count(&snapshot), 3000);
        assert_eq!(count(&writer), 2991);
        let copied: Vec<(i64, Vec<u8>)> = copy
            .prepare("SELECT id, v FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let original: Vec<(i64, Vec<u8>)> = snapshot
            .prepare("SELECT id, v FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            copied == original,
            "the copy's rows differ from the snapshot's"
        );
        let verdict: String = copy
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");

        assert!(seen.len() >= 3, "{seen:?}");
        assert!(
            seen.windows(2).all(|w| w[0].copied <= w[1].copied),
            "{seen:?}"
        );
        assert_eq!(
            seen.last(),
            Some(&Progress {
                copied: pages as u64,
                total: pages as u64
            })
        );
    }

    /// A source another connection keeps locked past the timeout makes the fallback give up
    /// with `LockTimeout` naming the database, after waiting the whole timeout.
    #[test]
    fn the_fallback_gives_up_on_a_source_locked_past_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let holder = Connection::open(&db).unwrap();
        holder
            .execute_batch(
                "CREATE TABLE t (x); INSERT INTO t VALUES (1);
                 BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);",
            )
            .unwrap();
        let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        source.busy_timeout(Duration::ZERO).unwrap();

        let timeout = Duration::from_millis(200);
        let started = Instant::now();
        let mut reports = 0;
        let e = copy_snapshot(&source, &dir.path().join("image.db"), timeout, &mut |_| {
            reports += 1
        })
        .unwrap_err();
        assert!(started.elapsed() >= timeout);
        match &e {
            Error::LockTimeout { path, waited, .. } => {
                assert_eq!(path.canonicalize().unwrap(), db.canonicalize().unwrap());
                assert_eq!(*waited, timeout);
            }
            other => panic!("expected a lock timeout, got {other}"),
        }
        assert!(e.to_string().contains("during the backup"), "{e}");
        assert!(reports > 1, "each busy step is reported");
        // The holder's transaction is untouched and still commits.
        holder.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&holder), 2);
    }

    /// A source that is not a database fails the copy with SQLite's error, in the context of
    /// the image being written.
    #[test]
    fn the_fallback_reports_what_sqlite_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("garbage.db");
        std::fs::write(&db, vec![b'x'; 8192]).unwrap();
        let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let image = dir.path().join("image.db");
        let e = copy_snapshot(&source, &image, Duration::from_secs(1), &mut |_| {}).unwrap_err();
        match &e {
            Error::Sqlite { context, source } => {
                assert!(context.contains(&image.display().to_string()), "{e}");
                assert_eq!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::NotADatabase),
                    "{e}"
                );
            }
            other => panic!("expected SQLite's error, got {other}"),
        }
    }

    /// An image that cannot be created (its directory is missing) is refused before any copy.
    #[test]
    fn the_fallback_reports_an_image_it_cannot_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let image = dir.path().join("missing").join("image.db");
        let e = copy_snapshot(&source, &image, Duration::from_secs(1), &mut |_| {}).unwrap_err();
        assert!(
            matches!(&e, Error::Sqlite { context, .. } if context == "opening the backup image"),
            "{e}"
        );
        assert!(!image.exists());
    }
}
