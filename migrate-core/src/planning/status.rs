//! Where a database stands relative to a set of migrations.

use serde::Serialize;

use crate::planning::plan::{self, AppliedMigration, Problem};
use crate::read::migration::Version;
use crate::read::set::Migrations;

/// Where a database stands relative to the migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Whether the database file exists. A status of a file that does not exist yet creates
    /// nothing and lists every migration as pending (what `up` would apply to the new file).
    pub database_exists: bool,
    /// The highest applied version.
    pub current_version: Option<Version>,
    /// The highest available version.
    pub latest_version: Option<Version>,
    /// Applied migrations, by version.
    pub applied: Vec<AppliedMigration>,
    /// Migrations not applied yet, by version (out-of-order ones included).
    pub pending: Vec<Named>,
    /// Applied migrations whose file changed.
    pub changed: Vec<Named>,
    /// Applied migrations whose file is gone.
    pub missing: Vec<Named>,
    /// Pending migrations lower than the current version.
    pub out_of_order: Vec<Named>,
    /// Whether the schema changed outside migrations since the last run.
    pub schema_drift: bool,
    /// Every problem, with details.
    pub problems: Vec<Problem>,
    /// Another tool's bookkeeping, when the database records nothing of ours yet: `up` would
    /// refuse until it is adopted.
    pub migrated_by: Option<MigratedBy>,
}

/// Another tool that migrated the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigratedBy {
    /// The tool.
    pub peer: crate::vocab::peer::Peer,
    /// Its bookkeeping table.
    pub table: &'static str,
}

/// A migration's version and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// Its up script holds no statement (only comments): applying it records it and runs
    /// nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_statement: bool,
}

impl Named {
    fn new(version: Version, name: &str) -> Self {
        Self {
            version,
            name: name.to_owned(),
            no_statement: false,
        }
    }
}

/// The status of a database that records `applied` migrations and the schema state `schema`.
pub(crate) fn status(
    migrations: &Migrations,
    applied: Vec<AppliedMigration>,
    schema: &plan::SchemaState,
) -> Status {
    let problems = plan::inspect(migrations, &applied, schema);
    let pick = |want: fn(&Problem) -> Option<(Version, &str)>| -> Vec<Named> {
        problems
            .iter()
            .filter_map(want)
            .map(|(v, n)| Named::new(v, n))
            .collect()
    };
    let pending = migrations
        .iter()
        .filter(|m| {
            applied
                .binary_search_by_key(&m.version(), |a| a.version)
                .is_err()
        })
        .map(|m| Named {
            no_statement: !m.up().has_statement(),
            ..Named::new(m.version(), m.name())
        })
        .collect();
    Status {
        database_exists: true,
        current_version: plan::current_version(&applied),
        latest_version: migrations.latest(),
        pending,
        changed: pick(|p| match p {
            Problem::Changed { version, name, .. } => Some((*version, name)),
            _ => None,
        }),
        missing: pick(|p| match p {
            Problem::Missing { version, name } => Some((*version, name)),
            _ => None,
        }),
        out_of_order: pick(|p| match p {
            Problem::OutOfOrder { version, name, .. } => Some((*version, name)),
            _ => None,
        }),
        schema_drift: problems
            .iter()
            .any(|p| matches!(p, Problem::SchemaDrift { .. })),
        applied,
        problems,
        migrated_by: None,
    }
}
