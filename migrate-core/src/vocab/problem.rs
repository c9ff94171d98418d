//! What refuses a run (changed, missing, out-of-order migrations, schema drift), which of it a
//! run may accept ([`Allow`]), and why a plan could not be made ([`PlanError`]). Data only: the
//! planner finds problems, the reports and errors carry them.

use std::fmt;

use serde::Serialize;

use crate::vocab::version::Version;

/// Something that refuses a run unless explicitly allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// An applied migration's file changed since it was applied.
    Changed {
        /// Its version.
        version: Version,
        /// Its name.
        name: String,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of the file now.
        found: String,
    },
    /// An applied migration's file is gone.
    Missing {
        /// Its version.
        version: Version,
        /// Its recorded name.
        name: String,
    },
    /// A pending migration whose version is lower than the current one.
    OutOfOrder {
        /// Its version.
        version: Version,
        /// Its name.
        name: String,
        /// The highest applied version.
        current: Version,
    },
    /// The schema was changed outside migrations since the last run.
    SchemaDrift {
        /// The fingerprint recorded after the last run.
        recorded: String,
        /// The fingerprint now.
        found: String,
        /// Each object added, removed or changed since (empty when the record predates
        /// recording the objects).
        differences: Vec<crate::vocab::schema_diff::Difference>,
    },
}

impl Problem {
    pub(crate) fn allowed(&self, allow: &Allow) -> bool {
        match self {
            Problem::Changed { .. } => allow.changed,
            Problem::Missing { .. } => allow.missing,
            Problem::OutOfOrder { .. } => allow.out_of_order,
            Problem::SchemaDrift { .. } => allow.schema_drift,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Changed {
                version,
                name,
                recorded,
                found,
            } => write!(
                f,
                "migration {version} ({name}) was changed after it was applied: checksum {} recorded, {} found",
                short(recorded),
                short(found)
            ),
            Problem::Missing { version, name } => write!(
                f,
                "migration {version} ({name}) was applied but its file is missing"
            ),
            Problem::OutOfOrder {
                version,
                name,
                current,
            } => write!(
                f,
                "migration {version} ({name}) is pending but lower than the current version {current}"
            ),
            Problem::SchemaDrift {
                recorded,
                found,
                differences,
            } => {
                f.write_str("the schema was changed outside migrations since the last run: ")?;
                if differences.is_empty() {
                    f.write_str(
                        "which objects is not known (the last run recorded only the fingerprint)",
                    )?;
                } else {
                    let named: Vec<String> = differences.iter().map(|d| d.as_drift()).collect();
                    f.write_str(&named.join(", "))?;
                }
                write!(
                    f,
                    " (fingerprint {} recorded, {} found)",
                    short(recorded),
                    short(found)
                )
            }
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// Which problems a run accepts. By default, none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// Run although applied files changed.
    pub changed: bool,
    /// Run although applied files are missing.
    pub missing: bool,
    /// Apply pending migrations lower than the current version.
    pub out_of_order: bool,
    /// Run although the schema changed outside migrations.
    pub schema_drift: bool,
}

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Validation problems that were not allowed.
    Refused(Vec<Problem>),
    /// The target does not make sense for this database.
    InvalidTarget(String),
    /// A migration to revert has no down script, neither on disk nor recorded.
    Irreversible {
        /// Its version.
        version: Version,
        /// Its name.
        name: String,
    },
}
