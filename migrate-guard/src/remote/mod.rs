//! Remote stores (S3, GCS, Azure, a directory) through the `object_store` crate: where
//! backups and archives go to leave the machine (docs/backup.md#remote-stores).
//!
//! [`address`] parses where a store is (pure, secrets refused); [`content`] is what an object
//! holds (size and SHA-256); [`store::Remote`] opens it and
//! uploads (staged, conditional, aborted on error), downloads (verified by hash), lists and
//! deletes; [`upload`] is one staged upload.

pub mod address;
pub mod content;
pub mod store;
mod upload;

pub use content::Content;
pub use store::{Listed, Put, Remote};
