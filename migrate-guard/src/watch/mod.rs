//! Between migrations: the watchman that runs scheduled backups, incremental integrity checks,
//! checkpoints and restore drills on one database ([`Watchman`]), the health report that reads
//! what it and the database say ([`health::health`]), and the alerts raised when a condition
//! begins or stops holding ([`alerts`]). The `migrate watch` and `migrate health` commands are
//! built on these; an application can run them itself.

pub mod alerts;
pub mod drill;
pub mod every;
pub mod health;
pub mod state;
pub mod sweep;
pub mod watchman;

pub use alerts::{Alert, AlertState, Kind};
pub use every::Every;
pub use health::{Health, Inputs, Status, Thresholds};
pub use watchman::{Config, Outcome, Schedule, Task, Watchman};
