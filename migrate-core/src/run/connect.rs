//! What a run's connection needs before a migration can run: loadable extensions
//! (`extensions = [...]` in migrate.toml, sqlite-vec for instance) and functions the
//! application registers (a hook on [`crate::migrator::Migrator`], which the start-up call uses too).
//!
//! Applied to the connection a run executes migrations on (the file's own, a rehearsal's copy,
//! the scratch database `baseline` and `adopt` compare against), only once the run has work:
//! a start-up with nothing pending loads nothing.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;

use crate::vocab::error::Error;

/// A function the application runs on each connection a migration runs on (to register its
/// SQL functions, collations or virtual tables).
pub type Hook = Arc<dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync>;

/// The extensions and hooks, in the order they are applied (extensions first).
#[derive(Clone, Default)]
pub(crate) struct Setup {
    pub extensions: Vec<PathBuf>,
    pub hooks: Vec<Hook>,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("extensions", &self.extensions)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Setup {
    /// Loads the extensions into `conn`, then runs the hooks on it.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionSetup`] naming the extension or the hook that failed.
    pub(crate) fn prepare(&self, conn: &Connection) -> Result<(), Error> {
        for path in &self.extensions {
            load(conn, path).map_err(|e| Error::ConnectionSetup {
                what: format!("loading extension {}", path.display()),
                reason: e.to_string(),
            })?;
        }
        for (i, hook) in self.hooks.iter().enumerate() {
            hook(conn).map_err(|e| Error::ConnectionSetup {
                what: format!("the application's connection hook #{}", i + 1),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

fn load(conn: &Connection, path: &std::path::Path) -> rusqlite::Result<()> {
    // SAFETY: loading an extension runs its native code in this process, which is what the
    // operator asked for by naming it in the configuration; extension loading is enabled only
    // for this call (the guard disables it again, so no SQL statement can load one).
    unsafe {
        let _enabled = rusqlite::LoadExtensionGuard::new(conn)?;
        conn.load_extension(path, None::<&str>)
    }
}
