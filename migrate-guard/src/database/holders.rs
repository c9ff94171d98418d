//! Which processes hold a database open: read from `/proc/<pid>/fd` where the operating system
//! lets us, and said to be unknown where it does not (another user's processes, or a system
//! without `/proc`). Never a guess: a process we could not look at is counted, not left out.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// One process with the database, its WAL or its shared-memory index open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenBy {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/<pid>/comm`), or `?` when unreadable.
    pub command: String,
    /// Which of the files it holds: `db`, `wal`, `shm`.
    pub files: Vec<&'static str>,
}

/// What could be learned about who holds the database open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "known", rename_all = "snake_case")]
pub enum Holders {
    /// The processes found, and how many processes could not be looked at.
    Listed {
        /// The processes holding one of the files.
        processes: Vec<OpenBy>,
        /// Processes whose open files we may not read (another user's).
        unreadable: usize,
    },
    /// Nothing could be learned (no `/proc` here).
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Holders {
    /// One line for people: who, and what could not be seen.
    pub fn describe(&self) -> String {
        match self {
            Holders::Unknown { reason } => format!("unknown ({reason})"),
            Holders::Listed {
                processes,
                unreadable,
            } => {
                let mut text = if processes.is_empty() {
                    "no process we could look at".to_owned()
                } else {
                    processes
                        .iter()
                        .map(|p| format!("pid {} ({}: {})", p.pid, p.command, p.files.join("+")))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if *unreadable > 0 {
                    text.push_str(&format!(
                        "; {unreadable} process(es) whose open files we may not read"
                    ));
                }
                text
            }
        }
    }
}

/// The processes holding `db` (or its `-wal`, `-shm`) open, from the `/proc` at `proc_root`.
pub fn open_by(db: &Path) -> Holders {
    open_by_in(Path::new("/proc"), db)
}

/// As [`open_by`], reading the process table under `proc_root`.
pub fn open_by_in(proc_root: &Path, db: &Path) -> Holders {
    let Ok(db) = db.canonicalize() else {
        return Holders::Unknown {
            reason: format!("{} cannot be resolved", db.display()),
        };
    };
    let targets: [(PathBuf, &'static str); 3] = [
        (db.clone(), "db"),
        (super::db::sibling(&db, "-wal"), "wal"),
        (super::db::sibling(&db, "-shm"), "shm"),
    ];
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Holders::Unknown {
            reason: format!("{} cannot be read", proc_root.display()),
        };
    };
    let mut processes = Vec::new();
    let mut unreadable = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            // Gone since the listing, or another user's: only the second is unknown.
            if entry.path().exists() {
                unreadable += 1;
            }
            continue;
        };
        let mut files: Vec<&'static str> = fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|link| {
                targets
                    .iter()
                    .find(|(path, _)| *path == link)
                    .map(|(_, name)| *name)
            })
            .collect();
        if files.is_empty() {
            continue;
        }
        files.sort_unstable();
        files.dedup();
        let command = std::fs::read_to_string(entry.path().join("comm"))
            .map_or_else(|_| "?".to_owned(), |c| c.trim().to_owned());
        processes.push(OpenBy {
            pid,
            command,
            files,
        });
    }
    processes.sort_by_key(|p| p.pid);
    Holders::Listed {
        processes,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_holding_the_database_and_its_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .unwrap();
        let Holders::Listed { processes, .. } = open_by(&db) else {
            panic!("no /proc here");
        };
        let me = processes
            .iter()
            .find(|p| p.pid == std::process::id())
            .expect("this process");
        assert_eq!(me.files, vec!["db", "shm", "wal"]);
        assert!(open_by(&db).describe().contains(&format!("pid {}", me.pid)));
        drop(conn);
        let Holders::Listed { processes, .. } = open_by(&db) else {
            panic!("no /proc here");
        };
        assert!(processes.iter().all(|p| p.pid != std::process::id()));
    }

    #[test]
    fn without_a_process_table_it_says_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        std::fs::write(&db, b"").unwrap();
        let h = open_by_in(&dir.path().join("no-proc"), &db);
        assert!(matches!(h, Holders::Unknown { .. }));
        assert!(h.describe().starts_with("unknown ("), "{}", h.describe());
        let h = open_by_in(dir.path(), &dir.path().join("absent.db"));
        assert!(h.describe().contains("cannot be resolved"));
    }

    #[test]
    fn processes_that_cannot_be_looked_at_are_counted() {
        // A fake process table: one process whose fd directory is missing (as another user's
        // is unreadable), one holding nothing of ours.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        std::fs::write(&db, b"").unwrap();
        let proc_root = dir.path().join("proc");
        std::fs::create_dir_all(proc_root.join("41")).unwrap();
        std::fs::create_dir_all(proc_root.join("42/fd")).unwrap();
        std::fs::create_dir_all(proc_root.join("self")).unwrap();
        let h = open_by_in(&proc_root, &db);
        assert_eq!(
            h,
            Holders::Listed {
                processes: vec![],
                unreadable: 1
            }
        );
        assert_eq!(
            h.describe(),
            "no process we could look at; 1 process(es) whose open files we may not read"
        );
    }
}
