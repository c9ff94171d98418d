//! What the database says about migrations: the applied ones and the schema fingerprints, read
//! in one snapshot.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::planning::plan::{AppliedMigration, SchemaState};
use crate::record::history::{self, DownScripts};
use crate::record::schema;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::schema_diff;

/// The applied migrations and the schema state.
#[derive(Debug, Clone)]
pub(crate) struct DbState {
    pub applied: Vec<AppliedMigration>,
    pub schema: SchemaState,
}

impl DbState {
    /// A database with no bookkeeping yet.
    pub fn empty() -> Self {
        Self {
            applied: Vec::new(),
            schema: SchemaState::unrecorded(),
        }
    }

    /// Reads history and fingerprints inside one read transaction, so that a concurrent commit
    /// cannot show half of one state and half of another.
    pub fn read(conn: &Connection, down: DownScripts) -> Result<Self, Error> {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)
            .context("reading the migration state")?;
        if !history::exists(&tx)? {
            return Ok(Self::empty());
        }
        let applied = history::applied(&tx, down)?;
        let recorded = history::recorded_fingerprint(&tx)?;
        let current = schema::current_hash(&tx, recorded.as_ref())?;
        // Drift is rare: only then are the objects read again and compared with the record.
        let differences = match &recorded {
            Some(r) if r.hash != current => match history::recorded_objects(&tx)? {
                Some(then) => schema_diff::differences(&schema::all_objects(&tx)?, &then),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        Ok(Self {
            applied,
            schema: SchemaState {
                recorded: recorded.map(|f| f.hash),
                current,
                differences,
            },
        })
    }
}
