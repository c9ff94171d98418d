//! Reading migrations: file names and every peer's layout into one model (a version, a name,
//! up/down/verify scripts), directives, where a script's statements begin, placeholders,
//! checksums; from a directory or embedded files. No database; uses the vocabulary.

pub mod checksum;
pub(crate) mod directive;
pub(crate) mod filename;
pub mod format;
pub(crate) mod migration;
pub(crate) mod set;
pub mod source;
pub(crate) mod statements;
pub(crate) mod template;
