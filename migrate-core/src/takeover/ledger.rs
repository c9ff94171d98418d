//! Other tools' bookkeeping in a database they migrated: which tool, in which table, and what
//! it says was applied. Read only; the peer's table is never changed.

use rusqlite::Connection;

use crate::read::migration::Version;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
pub use crate::vocab::peer::Peer;

/// What a peer says was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// These versions, each on its own row.
    Each(Vec<Row>),
    /// Every migration up to this version (golang-migrate), or (Flyway's baseline) up to it
    /// and then the rows.
    UpTo(Version, Vec<Row>),
    /// The first `n` migrations in order (rusqlite_migration).
    Count(usize),
}

/// One applied migration as a peer recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub version: Version,
    pub name: Option<String>,
    /// sqlx's SHA-384 of the up text.
    pub sha384: Option<Vec<u8>>,
}

/// A peer's whole account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ledger {
    pub peer: Peer,
    pub applied: Applied,
    /// Versions the peer recorded as failed, or (golang-migrate) left dirty.
    pub failed: Vec<String>,
    /// Versions the peer wrote that are not whole numbers, and rows this model cannot hold.
    pub unreadable: Vec<String>,
}

fn has_table(conn: &Connection, table: &str) -> Result<bool, Error> {
    conn.query_row(
        "SELECT count(*) > 0 FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )
    .context("looking for another tool's bookkeeping")
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, Error> {
    conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
    .context("looking for another tool's bookkeeping")
}

/// The peer whose bookkeeping table `conn` holds, if any (`user_version` is not looked at:
/// applications use it for their own purposes too; name rusqlite_migration to read it).
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub fn detect(conn: &Connection) -> Result<Option<Peer>, Error> {
    for peer in Peer::ALL {
        if peer == Peer::RusqliteMigration || !has_table(conn, peer.table())? {
            continue;
        }
        let dirty = has_column(conn, "schema_migrations", "dirty")?;
        match peer {
            Peer::GolangMigrate if !dirty => continue,
            Peer::Dbmate if dirty => continue,
            _ => return Ok(Some(peer)),
        }
    }
    Ok(None)
}

/// Whether `conn` holds `peer`'s bookkeeping.
pub(crate) fn present(conn: &Connection, peer: Peer) -> Result<bool, Error> {
    Ok(match peer {
        Peer::RusqliteMigration => user_version(conn)? > 0,
        Peer::GolangMigrate => {
            has_table(conn, peer.table())? && has_column(conn, peer.table(), "dirty")?
        }
        other => has_table(conn, other.table())?,
    })
}

fn user_version(conn: &Connection) -> Result<i64, Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .context("reading user_version")
}

/// A version as a peer wrote it (`20240101120000`, `2024-01-01-120000`, `1`).
fn version_of(text: &str) -> Option<Version> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// One row of a peer's table as read: version (as text), a flag (success, dirty, is_applied),
/// a name, a checksum.
type PeerRow = (String, i64, Option<String>, Option<Vec<u8>>);

/// Reads `peer`'s account from `conn`.
///
/// # Errors
///
/// [`Error::Sqlite`] when its table cannot be read.
pub(crate) fn read(conn: &Connection, peer: Peer) -> Result<Ledger, Error> {
    let context = format!("reading {}'s {}", peer.name(), peer.table());
    let mut failed = Vec::new();
    let mut unreadable = Vec::new();
    let text_rows = |sql: &str| -> Result<Vec<PeerRow>, Error> {
        let mut stmt = conn.prepare(sql).context(&context)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .context(&context)?
            .collect::<Result<_, _>>()
            .context(&context)
    };
    let mut rows = Vec::new();
    let keep = |version: &str,
                name: Option<String>,
                sha384: Option<Vec<u8>>,
                rows: &mut Vec<Row>,
                unreadable: &mut Vec<String>| match version_of(version) {
        Some(version) => rows.push(Row {
            version,
            name,
            sha384,
        }),
        None => unreadable.push(format!("version `{version}` is not a whole number")),
    };
    let applied = match peer {
        Peer::Sqlx => {
            for (v, success, name, sha) in text_rows(
                "SELECT CAST(version AS TEXT), success, description, checksum FROM _sqlx_migrations ORDER BY version",
            )? {
                if success == 0 {
                    failed.push(v);
                } else {
                    keep(&v, name, sha, &mut rows, &mut unreadable);
                }
            }
            Applied::Each(rows)
        }
        Peer::Refinery => {
            for (v, _, name, _) in text_rows(
                "SELECT CAST(version AS TEXT), 1, name, NULL FROM refinery_schema_history ORDER BY version",
            )? {
                keep(&v, name, None, &mut rows, &mut unreadable);
            }
            Applied::Each(rows)
        }
        Peer::Diesel => {
            // Recorded as diesel's reader records it (padded to 14 digits, see format::diesel).
            for (v, ..) in text_rows(
                "SELECT CAST(version AS TEXT), 1, NULL, NULL FROM __diesel_schema_migrations ORDER BY version",
            )? {
                match crate::read::format::diesel_version(&v) {
                    Ok(version) => rows.push(Row {
                        version,
                        name: None,
                        sha384: None,
                    }),
                    Err(reason) => unreadable.push(reason),
                }
            }
            Applied::Each(rows)
        }
        Peer::Dbmate => {
            for (v, ..) in text_rows(
                "SELECT CAST(version AS TEXT), 1, NULL, NULL FROM schema_migrations ORDER BY version",
            )? {
                keep(&v, None, None, &mut rows, &mut unreadable);
            }
            Applied::Each(rows)
        }
        Peer::SqlMigrate => {
            for (id, ..) in text_rows("SELECT id, 1, NULL, NULL FROM gorp_migrations ORDER BY id")?
            {
                let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
                keep(&digits, Some(id.clone()), None, &mut rows, &mut unreadable);
            }
            Applied::Each(rows)
        }
        Peer::Goose => {
            let mut state: std::collections::BTreeMap<Version, bool> = Default::default();
            for (v, is_applied, ..) in text_rows(
                "SELECT CAST(version_id AS TEXT), is_applied, NULL, NULL FROM goose_db_version ORDER BY id",
            )? {
                match version_of(&v) {
                    Some(0) => {} // goose's own first row
                    Some(version) => {
                        state.insert(version, is_applied != 0);
                    }
                    None => unreadable.push(format!("version `{v}` is not a whole number")),
                }
            }
            Applied::Each(
                state
                    .into_iter()
                    .filter(|(_, applied)| *applied)
                    .map(|(version, _)| Row {
                        version,
                        name: None,
                        sha384: None,
                    })
                    .collect(),
            )
        }
        Peer::GolangMigrate => {
            let found = text_rows(
                "SELECT CAST(version AS TEXT), dirty, NULL, NULL FROM schema_migrations",
            )?;
            match found.as_slice() {
                [] => Applied::Each(Vec::new()),
                [(v, dirty, ..)] => {
                    if *dirty != 0 {
                        failed.push(format!("{v} (the dirty flag is set: it failed part-way)"));
                    }
                    match version_of(v) {
                        Some(version) => Applied::UpTo(version, Vec::new()),
                        None => {
                            unreadable.push(format!("version `{v}` is not a whole number"));
                            Applied::Each(Vec::new())
                        }
                    }
                }
                more => {
                    unreadable.push(format!(
                        "{} rows where golang-migrate keeps one",
                        more.len()
                    ));
                    Applied::Each(Vec::new())
                }
            }
        }
        Peer::Flyway => {
            let mut baseline = None;
            let mut applied: std::collections::BTreeMap<Version, Row> = Default::default();
            for (v, success, kind, _) in text_rows(
                "SELECT coalesce(CAST(version AS TEXT), ''), success, type || ' ' || script, NULL
                 FROM flyway_schema_history ORDER BY installed_rank",
            )? {
                let kind = kind.unwrap_or_default();
                if v.is_empty() {
                    if !kind.starts_with("SCHEMA") {
                        unreadable.push(format!(
                            "a repeatable migration ({kind}): not supported here"
                        ));
                    }
                    continue;
                }
                if success == 0 {
                    failed.push(v);
                    continue;
                }
                // Flyway's own reading: `1.0` and `01` are version 1.
                let Ok(version) = crate::read::filename::flyway_version(&v) else {
                    unreadable.push(format!("version `{v}` is not a whole number"));
                    continue;
                };
                if kind.starts_with("BASELINE") {
                    baseline = Some(version);
                } else if kind.starts_with("UNDO") || kind.starts_with("DELETE") {
                    applied.remove(&version);
                } else {
                    applied.insert(
                        version,
                        Row {
                            version,
                            name: None,
                            sha384: None,
                        },
                    );
                }
            }
            let rows = applied.into_values().collect();
            match baseline {
                Some(v) => Applied::UpTo(v, rows),
                None => Applied::Each(rows),
            }
        }
        Peer::RusqliteMigration => {
            let n = user_version(conn)?;
            Applied::Count(usize::try_from(n).unwrap_or(0))
        }
    };
    Ok(Ledger {
        peer,
        applied,
        failed,
        unreadable,
    })
}
