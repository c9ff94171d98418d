//! The connection layer for an application: one writer and a bounded set of readers, each set
//! up with the `[database]` settings and verified; writes in `BEGIN IMMEDIATE` transactions
//! retried with capped exponential backoff and jitter within a deadline; a circuit breaker that
//! turns the layer read-only when the disk is full or low or writes keep failing with I/O
//! errors, and that lets a probe through until one succeeds; optional queued writes, replayed
//! in order on recovery; settings reloaded at run time.
//!
//! ```no_run
//! use belay_guard::connect::{Layer, Options};
//!
//! let layer = Layer::open("app.db".as_ref(), Options::new())?;
//! layer.write(|conn| conn.execute("INSERT INTO notes (body) VALUES (?1)", ["hello"]))?;
//! let n: i64 = layer.read(|conn| conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)))?;
//! # Ok::<(), belay_guard::Error>(())
//! ```
//!
//! Parts, bottom to top: [`options`] (what can be set, checked), [`classify`] (what a SQLite
//! error means to a writer), [`breaker`] (the state machine, pure), [`disk`] (free space),
//! [`readers`] (the pool), [`queue`] (writes waiting for recovery), [`record`] (where changes
//! of state go), [`layer`] (the calls).

pub mod breaker;
pub mod classify;
pub mod disk;
pub mod layer;
pub mod options;
pub mod queue;
pub mod readers;
pub mod record;

pub use breaker::{Change, State};
pub use layer::Layer;
pub use options::{Audit, Options};
pub use queue::{Replayed, Written};
pub use readers::ReadGuard;
