//! Files the net writes beside a database: written whole or not at all ([`durable`]), opened
//! only when they are regular files of the running user, never through a link ([`owned`]), and
//! the append-only journal beside the backups ([`journal`]) with its spool ([`spool`]), and the
//! free space of a file system ([`space`]). Uses only the vocabulary.

pub mod durable;
pub mod journal;
pub mod owned;
pub mod space;
pub mod spool;
