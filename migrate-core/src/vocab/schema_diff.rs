//! Two schemas compared object by object: what `baseline` and `adopt` check before recording
//! migrations as applied without running them. The expected schema comes from running those
//! migrations on a scratch in-memory database; the objects are compared by type, name and
//! definition (whitespace runs counted as one space, so a peer that ran the file with CRLF line
//! endings matches). SQLite's own objects and every tool's bookkeeping tables are left out.

use std::collections::BTreeMap;

use serde::Serialize;

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// In the database, not made by the migrations.
    OnlyInDatabase,
    /// Made by the migrations, not in the database.
    OnlyInMigrations,
    /// In both, defined differently.
    Defined,
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `table`, `index`, `view` or `trigger`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// How it differs.
    pub change: Change,
}

impl Difference {
    /// The difference said as drift since the recorded schema (the database being now, the
    /// expected schema the recorded one): `index users_email added`.
    pub fn as_drift(&self) -> String {
        let how = match self.change {
            Change::OnlyInDatabase => "added",
            Change::OnlyInMigrations => "removed",
            Change::Defined => "changed",
        };
        format!("{} {} {how}", self.kind, self.name)
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.change {
            Change::OnlyInDatabase => "in the database only",
            Change::OnlyInMigrations => "made by the migrations, missing from the database",
            Change::Defined => "defined differently",
        };
        write!(f, "{} {}: {how}", self.kind, self.name)
    }
}

/// The application's objects: (type, name) to the definition, whitespace collapsed.
pub(crate) type Objects = BTreeMap<(String, String), String>;

/// Every object that differs between the database and what the migrations make.
pub(crate) fn differences(database: &Objects, expected: &Objects) -> Vec<Difference> {
    let mut out = Vec::new();
    for ((kind, name), sql) in database {
        let change = match expected.get(&(kind.clone(), name.clone())) {
            None => Change::OnlyInDatabase,
            Some(wanted) if wanted != sql => Change::Defined,
            Some(_) => continue,
        };
        out.push(Difference {
            kind: kind.clone(),
            name: name.clone(),
            change,
        });
    }
    for (kind, name) in expected.keys() {
        if !database.contains_key(&(kind.clone(), name.clone())) {
            out.push(Difference {
                kind: kind.clone(),
                name: name.clone(),
                change: Change::OnlyInMigrations,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::record::schema::objects;

    #[test]
    fn names_each_object_that_differs_and_ignores_bookkeeping_and_whitespace() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE a (x);\r\nCREATE TABLE b (x,\r\n y);\nCREATE TABLE extra (x);\n\
             CREATE TABLE schema_migrations (version, dirty);\n\
             CREATE UNIQUE INDEX version_unique ON schema_migrations (version);\n\
             CREATE TABLE _migrate_history (v);",
        )
        .unwrap();
        let scratch = Connection::open_in_memory().unwrap();
        scratch
            .execute_batch(
                "CREATE TABLE a (x, z);\nCREATE TABLE b (x, y);\nCREATE INDEX b_x ON b (x);",
            )
            .unwrap();
        let found = differences(&objects(&db).unwrap(), &objects(&scratch).unwrap());
        let said: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "table a: defined differently",
                "table extra: in the database only",
                "index b_x: made by the migrations, missing from the database",
            ]
        );
    }
}
