//! The other tools whose databases `adopt` takes over, and where each keeps its bookkeeping.
//! Data only: reading their tables is `adopt`'s.

use serde::Serialize;

/// A tool whose bookkeeping `adopt` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// `_sqlx_migrations` (version, success, SHA-384 checksum of the up text).
    Sqlx,
    /// `refinery_schema_history` (version, name).
    Refinery,
    /// `__diesel_schema_migrations` (version as text, dashes dropped).
    Diesel,
    /// golang-migrate's `schema_migrations` (one row: the version and a dirty flag).
    GolangMigrate,
    /// dbmate's `schema_migrations` (one row per applied version, as text).
    Dbmate,
    /// `goose_db_version` (a row per apply or revert; the latest per version counts).
    Goose,
    /// sql-migrate's `gorp_migrations` (the file name of each applied migration).
    SqlMigrate,
    /// `flyway_schema_history` (versioned, undo and baseline rows, a success flag).
    Flyway,
    /// rusqlite_migration's `PRAGMA user_version`: how many migrations, in order, are applied.
    RusqliteMigration,
}

impl Peer {
    /// Every peer, in the order they are looked for.
    pub const ALL: [Peer; 9] = [
        Peer::Sqlx,
        Peer::Refinery,
        Peer::Diesel,
        Peer::Goose,
        Peer::Flyway,
        Peer::SqlMigrate,
        Peer::GolangMigrate,
        Peer::Dbmate,
        Peer::RusqliteMigration,
    ];

    /// The name used by `adopt --from` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Sqlx => "sqlx",
            Peer::Refinery => "refinery",
            Peer::Diesel => "diesel",
            Peer::GolangMigrate => "golang-migrate",
            Peer::Dbmate => "dbmate",
            Peer::Goose => "goose",
            Peer::SqlMigrate => "sql-migrate",
            Peer::Flyway => "flyway",
            Peer::RusqliteMigration => "rusqlite_migration",
        }
    }

    /// Where the peer keeps its bookkeeping.
    pub fn table(self) -> &'static str {
        match self {
            Peer::Sqlx => "_sqlx_migrations",
            Peer::Refinery => "refinery_schema_history",
            Peer::Diesel => "__diesel_schema_migrations",
            Peer::GolangMigrate | Peer::Dbmate => "schema_migrations",
            Peer::Goose => "goose_db_version",
            Peer::SqlMigrate => "gorp_migrations",
            Peer::Flyway => "flyway_schema_history",
            Peer::RusqliteMigration => "PRAGMA user_version",
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Peer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Peer::ALL.iter().map(|p| p.name()).collect();
                format!("unknown tool `{s}` (known: {})", known.join(", "))
            })
    }
}

/// The bookkeeping tables every peer keeps: not part of the application's schema.
pub(crate) const BOOKKEEPING: [&str; 7] = [
    "_sqlx_migrations",
    "refinery_schema_history",
    "__diesel_schema_migrations",
    "schema_migrations",
    "goose_db_version",
    "gorp_migrations",
    "flyway_schema_history",
];
