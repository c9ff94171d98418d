//! The database file and the connections to it: opening it for reading or writing after one
//! check of what `--db` names ([`db`]), letting SQLite finish what a killed process left
//! ([`settle`]), the migration lock beside it ([`lock`]), SQLite's write lock held for a whole
//! run ([`fence`]), the proof that nobody else committed ([`writers`]), the WAL's state and
//! checkpoints on request ([`wal`]) and by policy ([`checkpointer`]), the `[database]` settings
//! ([`settings`]), and which processes hold the file open ([`holders`]). Uses the
//! vocabulary, the files, and (for [`settle`]'s verdicts) the integrity check's result codes.

pub mod checkpointer;
pub mod db;
pub mod fence;
pub mod holders;
pub mod lock;
pub mod record;
pub mod settings;
pub mod settle;
pub mod wal;
pub mod writers;
