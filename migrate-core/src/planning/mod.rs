//! Planning, pure: applied against available migrations gives the steps of a run or the
//! problems that refuse it ([`plan`]), and where a database stands ([`status`]). No I/O; uses
//! the vocabulary and the migrations as read.

pub(crate) mod plan;
pub(crate) mod status;
