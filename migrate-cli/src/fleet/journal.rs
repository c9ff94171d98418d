//! The fleet journal: one JSON line per event, kept outside the tenant databases, so that a
//! fleet run that was killed resumes where it stopped.
//!
//! The first line names the migrations (a digest of every version and checksum) and the
//! target; a journal written for other migrations is refused rather than read as progress
//! towards these. Then, per database, `started` before its run and `finished` (its [`Row`])
//! after it, the latter flushed to disk before the next database starts on that worker. A
//! database whose last `finished` says it is at the target is not opened again; every other one
//! (failed, never started, or `started` with no `finished`: mid-run when the fleet was killed)
//! runs again, and its own net deals with what the killed run left (the run marker, the
//! interrupted-run rule). A line cut short by a kill is dropped; any other line that does not
//! parse is refused with its number. One fleet run at a time holds the journal's lock
//! (`<journal>.migrate-lock`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use belay_migrate::lock::MigrationLock;
use belay_migrate::{Migrations, Version};
use serde::{Deserialize, Serialize};

use super::outcome::Row;
use crate::error::CliError;

/// The journal format this version writes and reads.
const FORMAT: u32 = 1;

/// What a journal is for: these migrations, to this target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// SHA-256 over every migration's version and checksum.
    pub migrations: String,
    /// `--to`, when given.
    pub target: Option<Version>,
}

impl Identity {
    /// The identity of a run of `migrations` up to `target` (a target at or past the latest
    /// migration is the same run as none).
    pub fn of(migrations: &Migrations, target: Option<Version>) -> Self {
        let target = target.filter(|t| migrations.latest().is_some_and(|latest| *t < latest));
        let listed: String = migrations
            .iter()
            .map(|m| format!("{} {}\n", m.version(), m.checksum()))
            .collect();
        Self {
            migrations: belay_migrate::checksum::sha256_hex(&listed),
            target,
        }
    }
}

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line {
    Fleet {
        format: u32,
        #[serde(flatten)]
        identity: Identity,
    },
    Started {
        db: PathBuf,
    },
    Finished {
        #[serde(flatten)]
        row: Row,
    },
}

/// What a journal holds: the last finished row of each database, and those started but never
/// finished.
#[derive(Debug, Default)]
pub struct Record {
    /// The identity on its first line.
    pub identity: Option<Identity>,
    /// Each database's last `finished` row.
    pub finished: HashMap<PathBuf, Row>,
    /// Databases whose last event is `started`: mid-run when the fleet run stopped.
    pub interrupted: Vec<PathBuf>,
    /// The length of the whole lines (a torn last line is past it).
    whole: u64,
}

impl Record {
    /// The journal at `path`; an empty record when there is none.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] naming the line that does not parse, [`CliError::Io`] when it cannot be
    /// read.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        let file =
            belay_migrate::guard::files::owned::open_file(path, OpenOptions::new().read(true));
        match file {
            Ok(mut file) => Self::from_file(path, &mut file),
            Err(belay_migrate::guard::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Self::default())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The journal in `file` (opened as ours: no link, a regular file), named `path`.
    fn from_file(path: &Path, file: &mut File) -> Result<Self, CliError> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| CliError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        // A last line without its newline was cut short by a kill: not a record. Only a journal
        // is read so: bytes without a single whole line are not one this tool wrote, unless
        // they are its first line, torn.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if whole == 0 && !bytes.is_empty() && !bytes.starts_with(b"{\"event\":\"fleet\"") {
            return Err(CliError::Usage(format!(
                "{} is not a fleet journal (no line of one); give the journal's path with --journal, or a new file",
                path.display()
            )));
        }
        let text = std::str::from_utf8(&bytes[..whole]).map_err(|e| {
            CliError::Usage(format!(
                "fleet journal {}: not UTF-8 text ({e}); it is not a journal this tool wrote",
                path.display()
            ))
        })?;
        let mut record = Self {
            whole: whole as u64,
            ..Self::default()
        };
        let mut open: HashMap<PathBuf, usize> = HashMap::new();
        for (index, text) in text.lines().enumerate() {
            let line: Line = serde_json::from_str(text).map_err(|e| {
                CliError::Usage(format!(
                    "fleet journal {} line {}: {e}; it is not a journal this tool wrote (give another with --journal)",
                    path.display(),
                    index + 1
                ))
            })?;
            match (index, line) {
                (0, Line::Fleet { format, identity }) if format == FORMAT => {
                    record.identity = Some(identity);
                }
                (0, Line::Fleet { format, .. }) => {
                    return Err(CliError::Usage(format!(
                        "fleet journal {}: format {format}, this version reads {FORMAT}",
                        path.display()
                    )));
                }
                (0, _) | (_, Line::Fleet { .. }) => {
                    return Err(CliError::Usage(format!(
                        "fleet journal {} line {}: the fleet line must be the first and only one",
                        path.display(),
                        index + 1
                    )));
                }
                (_, Line::Started { db }) => {
                    open.insert(db, index);
                }
                (_, Line::Finished { row }) => {
                    open.remove(&row.db);
                    record.finished.insert(row.db.clone(), row);
                }
            }
        }
        let mut interrupted: Vec<_> = open.into_iter().collect();
        interrupted.sort_by_key(|(_, at)| *at);
        record.interrupted = interrupted.into_iter().map(|(db, _)| db).collect();
        Ok(record)
    }

    /// The row a resumed run keeps for `db` without opening it: its last finished row, when
    /// that left it at the target.
    pub fn done(&self, db: &Path) -> Option<&Row> {
        self.finished.get(db).filter(|r| r.outcome.done())
    }
}

/// A journal open for a fleet run, locked against another run, appended to as databases
/// start and finish.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// What it held when opened.
    pub earlier: Record,
    _lock: MigrationLock,
}

impl Journal {
    /// Opens (or creates) the journal at `path` for a run of `identity`, waiting up to
    /// `timeout` for another fleet run's lock.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] when it was written for other migrations or another target, or
    /// does not parse; a lock timeout (exit 3) while another fleet run holds it.
    pub fn open(path: &Path, identity: &Identity, timeout: Duration) -> Result<Self, CliError> {
        let lock = MigrationLock::acquire(path, timeout)?;
        let mut file = belay_migrate::guard::files::owned::open_file(
            path,
            OpenOptions::new().read(true).append(true).create(true),
        )?;
        let earlier = Record::from_file(path, &mut file)?;
        if let Some(found) = &earlier.identity
            && found != identity
        {
            return Err(CliError::Usage(format!(
                "fleet journal {} was written for other migrations or another target (migrations {}, target {}; this run: migrations {}, target {}); resume with the same ones, or start a new journal with --journal",
                path.display(),
                found.migrations,
                belay_migrate::version_text(found.target),
                identity.migrations,
                belay_migrate::version_text(identity.target),
            )));
        }
        // Drops a torn last line, so that the next line starts on its own.
        file.set_len(earlier.whole).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
            earlier,
            _lock: lock,
        };
        if journal.earlier.identity.is_none() {
            journal.append(
                &Line::Fleet {
                    format: FORMAT,
                    identity: identity.clone(),
                },
                Durable::Synced,
            )?;
        }
        Ok(journal)
    }

    /// Records that `db` is about to run.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] when the line cannot be written.
    pub fn started(&mut self, db: &Path) -> Result<(), CliError> {
        self.append(
            &Line::Started {
                db: db.to_path_buf(),
            },
            Durable::Buffered,
        )
    }

    /// Records how `db` finished, on disk before this returns.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] when the line cannot be written or flushed.
    pub fn finished(&mut self, row: &Row) -> Result<(), CliError> {
        self.append(&Line::Finished { row: row.clone() }, Durable::Synced)
    }

    fn append(&mut self, line: &Line, durable: Durable) -> Result<(), CliError> {
        let io = |source| CliError::Io {
            path: self.path.clone(),
            source,
        };
        let mut text = serde_json::to_string(line).expect("journal lines serialize");
        text.push('\n');
        // One write per line: with O_APPEND, never interleaved with another.
        self.file.write_all(text.as_bytes()).map_err(io)?;
        if durable == Durable::Synced {
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

/// Whether a line must be on disk before the caller goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// A `started` line: losing it loses nothing (the database runs again either way).
    Buffered,
    /// The fleet line and `finished` lines.
    Synced,
}
