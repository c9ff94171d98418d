//! Where a change of the layer's state goes: the log (a warning when it turns read-only, a
//! notice when it is writable again) and, when configured, the audit journal beside the
//! backups (through its spool when that cannot be written: see `files::journal`).

use std::path::Path;

use serde::Serialize;

use super::breaker::{Change, State};
use super::options::Audit;
use crate::files::journal;
use crate::vocab::holder::Holder;

/// One line of the journal for a change.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    database: String,
    event: &'static str,
    #[serde(flatten)]
    change: &'a Change,
    host: String,
    pid: u32,
}

/// Logs `change` of the layer over `db`, and records it in `audit` when there is one. A
/// record that cannot be written anywhere is logged as an error: the change still happens.
pub fn record(db: &Path, audit: Option<&Audit>, change: &Change) {
    match &change.state {
        State::Writable => {
            tracing::info!(database = %db.display(), "writable again: a probe write succeeded")
        }
        State::Degraded { reason, .. } => {
            tracing::warn!(database = %db.display(), %reason, "read-only: writes are refused until a probe write succeeds");
        }
    }
    let Some(audit) = audit else {
        return;
    };
    let me = Holder::current();
    let entry = Entry {
        database: db.display().to_string(),
        event: "connection_state",
        change,
        host: me.host,
        pid: me.pid,
    };
    if let Err(e) = journal::append_or_spool(&audit.dir, &audit.spool, &entry) {
        tracing::error!(database = %db.display(), error = %e, "the change of state could not be recorded");
    }
}
