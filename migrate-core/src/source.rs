//! Reading migrations from a directory.
//!
//! ```no_run
//! let migrations = migrate_core::source::read_dir("migrations")?;
//! println!("{} migrations, latest {:?}", migrations.len(), migrations.latest());
//! # Ok::<(), migrate_core::Error>(())
//! ```
//!
//! The same [`assemble`] turns file names and contents into a [`Migrations`] set for the
//! directory reader here and for `embed_migrations!` at compile time, so both accept and
//! reject exactly the same files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;
use crate::filename::{self, FileKind, Parsed};
use crate::migration::{Migration, Script, Version};
use crate::set::Migrations;

/// One file of a migrations directory: its name and its bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file name, as shown in messages.
    pub name: String,
    /// The raw contents.
    pub bytes: Vec<u8>,
}

/// Reads every migration file directly inside `dir` (sub-directories are not searched).
///
/// # Errors
///
/// [`Error::MigrationsDir`] when the directory cannot be read, [`Error::InvalidFile`] or
/// [`Error::DuplicateVersion`] for a malformed set, naming the file.
pub fn read_dir(dir: impl AsRef<Path>) -> Result<Migrations, Error> {
    assemble(read_files(dir.as_ref())?)
}

/// The files of `dir` that look like migrations (`*.sql`, not hidden), with their bytes: what
/// [`read_dir`] assembles, and what `embed_migrations!` embeds and watches for changes.
///
/// # Errors
///
/// [`Error::MigrationsDir`] when the directory cannot be read, [`Error::InvalidFile`] for a
/// `.sql` file whose name is not UTF-8, [`Error::Io`] when a file cannot be read.
pub fn read_files(dir: &Path) -> Result<Vec<SourceFile>, Error> {
    let io = |source| Error::MigrationsDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(raw) => {
                let lossy = raw.to_string_lossy().into_owned();
                if lossy.ends_with(".sql") {
                    return Err(Error::InvalidFile {
                        file: lossy,
                        reason: "file name is not valid UTF-8".to_owned(),
                    });
                }
                continue;
            }
        };
        if matches!(filename::parse(&name), Parsed::Unrelated) {
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(|source| Error::Io {
            path: entry.path(),
            source,
        })?;
        files.push(SourceFile { name, bytes });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Builds a set from a directory embedded with the `include_dir` crate (its top level only),
/// with the same rules as [`read_dir`].
///
/// # Errors
///
/// As [`assemble`].
#[cfg(feature = "include_dir")]
pub fn from_include_dir(dir: &include_dir::Dir<'_>) -> Result<Migrations, Error> {
    let files = dir
        .files()
        .filter_map(|f| {
            let name = f.path().file_name()?.to_str()?.to_owned();
            Some(SourceFile {
                name,
                bytes: f.contents().to_vec(),
            })
        })
        .collect();
    assemble(files)
}

#[derive(Default)]
struct Parts {
    name: String,
    up: Option<Script>,
    down: Option<Script>,
    verify: Option<Script>,
}

/// Builds a migration set from files: parses names and directives, checks that every down and
/// verify file has an up file with the same name, and that versions are unique. Unrelated files
/// are skipped.
///
/// # Errors
///
/// [`Error::InvalidFile`] naming the file and the reason, or [`Error::DuplicateVersion`].
pub fn assemble(mut files: Vec<SourceFile>) -> Result<Migrations, Error> {
    // Sorted so that errors are reported in the same order on every file system.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut by_version: BTreeMap<Version, Parts> = BTreeMap::new();
    let mut first_file: BTreeMap<(Version, FileKind), String> = BTreeMap::new();
    for file in files {
        let parsed = match filename::parse(&file.name) {
            Parsed::Unrelated => continue,
            Parsed::Malformed(reason) => {
                return Err(Error::InvalidFile {
                    file: file.name,
                    reason,
                });
            }
            Parsed::Migration(parsed) => parsed,
        };
        if let Some(previous) = first_file.insert((parsed.version, parsed.kind), file.name.clone())
        {
            return Err(Error::DuplicateVersion {
                version: parsed.version,
                first: previous,
                second: file.name,
            });
        }
        let text = String::from_utf8(file.bytes).map_err(|e| Error::InvalidFile {
            file: file.name.clone(),
            reason: format!(
                "not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        let script = Script::parse(file.name.clone(), &text)?;
        let parts = by_version.entry(parsed.version).or_default();
        if parts.name.is_empty() {
            parts.name = parsed.name;
        } else if parts.name != parsed.name {
            return Err(Error::InvalidFile {
                file: file.name,
                reason: format!(
                    "version {} is named `{}` by another file; all files of one version share its name",
                    parsed.version, parts.name
                ),
            });
        }
        let slot = match parsed.kind {
            FileKind::Up => &mut parts.up,
            FileKind::Down => &mut parts.down,
            FileKind::Verify => &mut parts.verify,
        };
        *slot = Some(script);
    }
    let mut migrations = Vec::with_capacity(by_version.len());
    for (version, parts) in by_version {
        let Some(up) = parts.up else {
            let orphan = parts
                .down
                .or(parts.verify)
                .expect("a version has at least one file");
            return Err(Error::InvalidFile {
                file: orphan.origin().to_owned(),
                reason: format!("there is no up migration for version {version}"),
            });
        };
        if !has_statement(up.sql()) {
            return Err(Error::InvalidFile {
                file: up.origin().to_owned(),
                reason: "it has no statement, only comments and whitespace (an unedited `migrate new` file would apply as a no-op); write the migration, or delete the file".to_owned(),
            });
        }
        let mut migration = Migration::new(version, parts.name, up);
        if let Some(down) = parts.down {
            migration = migration.with_down(down);
        }
        if let Some(verify) = parts.verify {
            migration = migration.with_verify(verify);
        }
        migrations.push(migration);
    }
    Migrations::new(migrations)
}

/// Whether `sql` holds anything but comments, whitespace and `;` (which SQLite would run as
/// nothing at all).
fn has_statement(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return !rest.is_empty();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directive::TransactionMode;

    #[test]
    fn an_up_file_without_a_statement_is_an_error_naming_it() {
        for text in [
            "",
            "-- 0002_x: what this migration changes.\n",
            " ;\n/* later */ ;",
        ] {
            let err = assemble(vec![file("0002_x.up.sql", text)]).unwrap_err();
            assert!(
                err.to_string()
                    .contains("0002_x.up.sql: it has no statement"),
                "{err}"
            );
        }
        assert!(
            assemble(vec![file(
                "0002_x.up.sql",
                "-- adds x\nCREATE TABLE x (a);"
            )])
            .is_ok()
        );
        // A down or verify file may be empty (a migration nobody can revert says so elsewhere).
        assert!(
            assemble(vec![
                file("0002_x.up.sql", "CREATE TABLE x (a);"),
                file("0002_x.down.sql", "-- nothing to undo\n"),
            ])
            .is_ok()
        );
    }

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.to_owned(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn assembles_native_sqlx_and_refinery_files() {
        let set = assemble(vec![
            file("0002_b.sql", "CREATE TABLE b (id INTEGER);"),
            file("V3__c.sql", "CREATE TABLE c (id INTEGER);"),
            file("0001_a.up.sql", "CREATE TABLE a (id INTEGER);"),
            file("0001_a.down.sql", "DROP TABLE a;"),
            file("0001_a.verify.sql", "SELECT count(*) = 0 FROM a;"),
            file("README.md", "not sql"),
        ])
        .unwrap();
        let versions: Vec<_> = set.iter().map(|m| (m.version(), m.name())).collect();
        assert_eq!(versions, [(1, "a"), (2, "b"), (3, "c")]);
        let first = set.get(1).unwrap();
        assert_eq!(first.down().unwrap().sql(), "DROP TABLE a;");
        assert!(first.verify().is_some());
    }

    #[test]
    fn down_without_up_is_an_error_naming_the_file() {
        let err = assemble(vec![file("0004_x.down.sql", "DROP TABLE x;")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid migration file 0004_x.down.sql: there is no up migration for version 4"
        );
    }

    #[test]
    fn duplicate_versions_name_both_files() {
        let err = assemble(vec![
            file("0001_a.up.sql", "SELECT 1;"),
            file("1_b.sql", "SELECT 1;"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "version 1 is defined twice: by 0001_a.up.sql and by 1_b.sql"
        );
    }

    #[test]
    fn non_utf8_is_an_error_naming_the_file() {
        let err = assemble(vec![SourceFile {
            name: "0001_a.up.sql".into(),
            bytes: vec![b'S', 0xff, b'x'],
        }])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid migration file 0001_a.up.sql: not valid UTF-8 (invalid byte at offset 1)"
        );
    }

    #[test]
    fn directive_is_read() {
        let set = assemble(vec![file(
            "0001_vacuum.up.sql",
            "-- migrate:no-transaction\nVACUUM;",
        )])
        .unwrap();
        assert_eq!(
            set.get(1).unwrap().up().transaction(),
            TransactionMode::NoTransaction
        );
    }

    #[test]
    fn read_dir_names_a_malformed_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0001_a.up.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.path().join("01x_bad.up.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.path().join(".gitkeep"), "").unwrap();
        let err = read_dir(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid migration file 01x_bad.up.sql: expected `_` after version 01"
        );
    }
}
