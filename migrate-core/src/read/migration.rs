//! The migration model: one version with its up script, and optionally a down script and
//! verification queries.
//!
//! ```
//! use belay_migrate::{Migration, Script};
//!
//! let up = Script::parse("0001_create_users.up.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);")?;
//! let m = Migration::new(1, "create_users", up);
//! assert_eq!(m.version(), 1);
//! assert_eq!(m.checksum().len(), 64);
//! # Ok::<(), belay_migrate::Error>(())
//! ```

use std::borrow::Cow;

use crate::read::checksum;
use crate::read::directive::{self, TransactionMode};
use crate::read::statements;
use crate::vocab::error::Error;

pub use crate::vocab::version::Version;

/// One SQL file's text together with where it came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    origin: Cow<'static, str>,
    sql: Cow<'static, str>,
    transaction: TransactionMode,
}

impl Script {
    /// Whether the script holds a statement (anything but comments, whitespace and `;`): a
    /// migration whose up script holds none is a recorded no-op.
    pub fn has_statement(&self) -> bool {
        crate::read::statements::has_statement(self.sql())
    }

    /// A script read at run time. `origin` names the file in messages. A UTF-8 BOM and CRLF line
    /// endings are normalised so the text (and its checksum) is the same on every OS, and the
    /// `-- migrate:` directives in its leading comments are read.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDirective`] for a `-- migrate:` comment this version does not know;
    /// [`Error::InvalidFile`] for a NUL byte, where SQLite would stop reading the script
    /// without a word (everything after it would silently not run).
    pub fn parse(origin: impl Into<String>, sql: &str) -> Result<Self, Error> {
        let origin = origin.into();
        if let Some(at) = sql.find('\0') {
            return Err(Error::InvalidFile {
                reason: format!(
                    "a NUL byte at line {}: SQLite would ignore everything after it",
                    sql[..at].matches('\n').count() + 1
                ),
                file: origin,
            });
        }
        let sql = checksum::normalize(sql).into_owned();
        let transaction = match directive::transaction_mode(&origin, &sql)? {
            TransactionMode::Transactional if statements::own_transaction(&sql).is_some() => {
                TransactionMode::OwnTransaction
            }
            mode => mode,
        };
        Ok(Self {
            origin: Cow::Owned(origin),
            sql: Cow::Owned(sql),
            transaction,
        })
    }

    /// A script embedded at compile time (already normalised by the macro).
    pub const fn from_static(
        origin: &'static str,
        sql: &'static str,
        transaction: TransactionMode,
    ) -> Self {
        Self {
            origin: Cow::Borrowed(origin),
            sql: Cow::Borrowed(sql),
            transaction,
        }
    }

    /// The same script run as `mode` says (a layout's own marker, outside the text).
    pub(crate) fn with_transaction(mut self, mode: TransactionMode) -> Self {
        self.transaction = mode;
        self
    }

    /// Where the script came from (a path relative to the migrations directory, usually).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The SQL text, normalised.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether the script runs inside a transaction.
    pub fn transaction(&self) -> TransactionMode {
        self.transaction
    }
}

/// One versioned migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    version: Version,
    name: Cow<'static, str>,
    up: Script,
    down: Option<Script>,
    verify: Option<Script>,
    checksum: Cow<'static, str>,
}

impl Migration {
    /// A migration with only an up script. The checksum is computed from the up script.
    pub fn new(version: Version, name: impl Into<String>, up: Script) -> Self {
        let checksum = checksum::sha256_hex(up.sql());
        Self {
            version,
            name: Cow::Owned(name.into()),
            up,
            down: None,
            verify: None,
            checksum: Cow::Owned(checksum),
        }
    }

    /// A migration embedded at compile time, with its checksum computed by the macro.
    pub const fn from_static(
        version: Version,
        name: &'static str,
        checksum: &'static str,
        up: Script,
        down: Option<Script>,
        verify: Option<Script>,
    ) -> Self {
        Self {
            version,
            name: Cow::Borrowed(name),
            up,
            down,
            verify,
            checksum: Cow::Borrowed(checksum),
        }
    }

    /// Adds the script that undoes this migration.
    pub fn with_down(mut self, down: Script) -> Self {
        self.down = Some(down);
        self
    }

    /// The checksum of the up text as written, where placeholders made the script differ.
    pub(crate) fn with_checksum(mut self, checksum: String) -> Self {
        self.checksum = Cow::Owned(checksum);
        self
    }

    /// Adds the verification queries that must hold once this migration is applied.
    pub fn with_verify(mut self, verify: Script) -> Self {
        self.verify = Some(verify);
        self
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The name (the file name between the version and the suffix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The up script.
    pub fn up(&self) -> &Script {
        &self.up
    }

    /// The down script, if the migration has one.
    pub fn down(&self) -> Option<&Script> {
        self.down.as_ref()
    }

    /// The verification queries, if any.
    pub fn verify(&self) -> Option<&Script> {
        self.verify.as_ref()
    }

    /// SHA-256 (lower-case hex) of the normalised up script.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }
}
