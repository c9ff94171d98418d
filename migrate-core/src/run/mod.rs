//! The run: SPEC.md's procedure ([`procedure`]) with what it places beside the database (lock,
//! marker, backups), the pre-flight and backup ([`safety`]), applying steps in transactions
//! with every check before COMMIT ([`apply`]), scripts and what they touch, the connection's
//! extensions and hooks, the budgets of its waits, and the next run's handling of an interrupted
//! one ([`recover`]). Uses the record, planning, reading, the vocabulary and the safety crate.

pub(crate) mod apply;
pub(crate) mod budget;
pub(crate) mod connect;
pub(crate) mod journal;
pub(crate) mod log;
pub(crate) mod place;
pub(crate) mod procedure;
pub(crate) mod recover;
pub(crate) mod safety;
pub(crate) mod script;
pub(crate) mod touched;
