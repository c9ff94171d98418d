//! The readers: a bounded pool of connections with `query_only` on, each set up with the
//! settings of the generation it was opened or last handed out in. A reload bumps the
//! generation; a reader of an older one is set up again when it is next handed out, so a
//! reload reaches every connection without closing any in use. A guard hands a reader back
//! when dropped.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::Error;
use crate::database::settings::Settings;
use crate::database::{db, settings};

/// The pool.
pub struct Readers {
    db: PathBuf,
    slots: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    idle: Vec<Reader>,
    out: usize,
    max: usize,
    generation: u64,
    settings: Settings,
}

struct Reader {
    conn: Connection,
    generation: u64,
}

/// A reader handed out; it goes back to the pool when dropped.
pub struct ReadGuard<'a> {
    readers: &'a Readers,
    reader: Option<Reader>,
}

impl Deref for ReadGuard<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Present from creation until drop.
        &self.reader.as_ref().expect("a reader until dropped").conn
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        let mut slots = self.readers.lock();
        slots.out -= 1;
        if let Some(reader) = self.reader.take() {
            // A reader left in a transaction (a statement still stepping when the guard went)
            // would pin the WAL: it is closed instead.
            if reader.conn.is_autocommit() && slots.idle.len() + slots.out < slots.max {
                slots.idle.push(reader);
            }
        }
        drop(slots);
        self.readers.freed.notify_one();
    }
}

impl Readers {
    /// A pool of at most `max` readers of `db`, none open yet.
    pub fn new(db: &Path, max: usize, settings: Settings) -> Self {
        Readers {
            db: db.to_path_buf(),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                out: 0,
                max,
                generation: 0,
                settings,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// New settings and size for every reader: idle ones beyond the size are closed, the
    /// others are set up again when next handed out.
    pub fn reconfigure(&self, settings: Settings, max: usize) {
        let mut slots = self.lock();
        slots.generation += 1;
        slots.settings = settings;
        slots.max = max;
        let keep = max.saturating_sub(slots.out);
        slots.idle.truncate(keep);
        drop(slots);
        self.freed.notify_all();
    }

    /// A reader, waiting at most `wait` for one to be free.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when none was free in time; [`Error::Sqlite`] or
    /// [`Error::SettingNotApplied`] when a new one cannot be opened or set up.
    pub fn get(&self, wait: Duration) -> Result<ReadGuard<'_>, Error> {
        let started = Instant::now();
        let mut slots = self.lock();
        loop {
            if let Some(reader) = slots.idle.pop() {
                slots.out += 1;
                let (generation, settings) = (slots.generation, slots.settings.clone());
                drop(slots);
                let mut guard = ReadGuard {
                    readers: self,
                    reader: Some(reader),
                };
                let stale = guard
                    .reader
                    .as_ref()
                    .is_some_and(|r| r.generation < generation);
                if stale {
                    let applied = guard
                        .reader
                        .as_ref()
                        .map(|r| settings::apply(&r.conn, &settings, settings::Scope::Every));
                    if let Some(Err(e)) = applied {
                        // Not handed back: the next one is opened afresh.
                        guard.reader = None;
                        return Err(e);
                    }
                    if let Some(r) = guard.reader.as_mut() {
                        r.generation = generation;
                    }
                }
                return Ok(guard);
            }
            if slots.out < slots.max {
                slots.out += 1;
                let (generation, settings) = (slots.generation, slots.settings.clone());
                drop(slots);
                let mut guard = ReadGuard {
                    readers: self,
                    reader: None,
                };
                guard.reader = Some(Reader {
                    conn: self.open(&settings)?,
                    generation,
                });
                return Ok(guard);
            }
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::Busy {
                    path: self.db.clone(),
                    waited: started.elapsed(),
                    attempts: 0,
                });
            }
            slots = self
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn open(&self, settings: &Settings) -> Result<Connection, Error> {
        let conn = db::open(&self.db, Duration::ZERO)?;
        settings::apply(&conn, settings, settings::Scope::Every)?;
        conn.pragma_update(None, "query_only", 1)
            .map_err(|source| Error::Sqlite {
                context: "setting query_only on a reader".to_owned(),
                source,
            })?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max: usize) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let settings = Settings {
            busy_timeout: Some(50),
            ..Settings::default()
        };
        (dir, Readers::new(&db, max, settings))
    }

    #[test]
    fn readers_are_bounded_reused_and_cannot_write() {
        let (_dir, readers) = pool(2);
        let a = readers.get(Duration::from_millis(10)).unwrap();
        let b = readers.get(Duration::from_millis(10)).unwrap();
        let e = readers.get(Duration::from_millis(20)).err().unwrap();
        assert!(matches!(e, Error::Busy { attempts: 0, .. }), "{e}");
        let written = a.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        assert!(written.to_string().contains("readonly"), "{written}");
        drop(a);
        let c = readers.get(Duration::from_millis(10)).unwrap();
        assert_eq!(
            c.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            50
        );
        drop((b, c));
        assert_eq!(readers.lock().idle.len(), 2);
    }

    #[test]
    fn a_waiting_read_gets_the_reader_handed_back() {
        let (_dir, readers) = pool(1);
        std::thread::scope(|s| {
            let held = readers.get(Duration::from_millis(10)).unwrap();
            let waiter = s.spawn(|| readers.get(Duration::from_secs(5)).map(drop));
            std::thread::sleep(Duration::from_millis(30));
            drop(held);
            waiter.join().unwrap().unwrap();
        });
    }

    #[test]
    fn a_reload_reaches_idle_readers_when_next_handed_out_and_shrinks_the_pool() {
        let (_dir, readers) = pool(3);
        let held: Vec<_> = (0..3)
            .map(|_| readers.get(Duration::from_millis(10)).unwrap())
            .collect();
        drop(held);
        let settings = Settings {
            busy_timeout: Some(77),
            ..Settings::default()
        };
        readers.reconfigure(settings, 1);
        assert_eq!(readers.lock().idle.len(), 1);
        let r = readers.get(Duration::from_millis(10)).unwrap();
        assert_eq!(
            r.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            77
        );
        assert!(readers.get(Duration::from_millis(10)).is_err());
    }

    #[test]
    fn a_reader_that_cannot_be_opened_frees_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let readers = Readers::new(&dir.path().join("no/such/dir.db"), 1, Settings::default());
        assert!(readers.get(Duration::from_millis(10)).is_err());
        assert_eq!(readers.lock().out, 0);
    }
}
