//! Reading migrations from a directory.
//!
//! ```no_run
//! let migrations = belay_migrate::source::read_dir("migrations")?;
//! println!("{} migrations, latest {:?}", migrations.len(), migrations.latest());
//! # Ok::<(), belay_migrate::Error>(())
//! ```
//!
//! The same [`assemble`] turns file names and contents into a [`Migrations`] set for the
//! directory reader here and for `embed_migrations!` at compile time, so both accept and
//! reject exactly the same files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::read::checksum;
use crate::read::filename::FileKind;
use crate::read::format::EmptyUp;
use crate::read::format::{self, Format, Placeholders};
pub use crate::read::format::{ReadOptions, SourceFile};
use crate::read::migration::{Migration, Script, Version};
use crate::read::set::Migrations;
pub use crate::read::template::templates;
use crate::vocab::error::Error;

/// Reads the migrations of `dir` in the layout detected from its files (see [`crate::read::format`]).
///
/// # Errors
///
/// [`Error::MigrationsDir`] when the directory cannot be read, [`Error::NoMigrations`] when it
/// holds none, [`Error::InvalidFile`] or [`Error::DuplicateVersion`] for a malformed set or a
/// file of another layout, naming the file.
pub fn read_dir(dir: impl AsRef<Path>) -> Result<Migrations, Error> {
    Ok(read_dir_with(dir, &ReadOptions::default())?.migrations)
}

/// The layout of `dir` and its highest version, from the file names and markers only (the
/// scripts need not be written yet): what `migrate new` numbers after. `None` when there is no
/// migration.
///
/// # Errors
///
/// As [`read_dir`], for the names.
pub fn latest_version(
    dir: impl AsRef<Path>,
    options: &ReadOptions,
) -> Result<(Format, Option<Version>), Error> {
    let (detected, entries) = format::read(read_files(dir.as_ref())?, options.format)?;
    let latest = entries.iter().map(|e| e.version).max();
    Ok((detected.format, latest))
}

/// A directory read: its layout, why that layout, and the migrations.
#[derive(Debug, Clone)]
pub struct Read {
    /// The layout the directory was read as.
    pub format: Format,
    /// Why that layout: named in the configuration, or what showed it.
    pub reason: String,
    /// The migrations.
    pub migrations: Migrations,
}

/// [`read_dir`] with a layout or placeholders from the configuration.
///
/// # Errors
///
/// As [`read_dir`].
pub fn read_dir_with(dir: impl AsRef<Path>, options: &ReadOptions) -> Result<Read, Error> {
    let dir = dir.as_ref();
    let read = assemble_with(read_files(dir)?, options)?;
    if read.migrations.is_empty() {
        return Err(Error::NoMigrations {
            path: dir.to_path_buf(),
        });
    }
    Ok(read)
}

/// The files of `dir` any layout could read, with their bytes: at the top level every
/// `*.sql` (and goose's `.go` and refinery's `.rs` migrations, so that they are refused by
/// name rather than skipped), and in each sub-directory diesel's `up.sql`, `down.sql` and
/// `metadata.toml`, named `<dir>/<file>`. Hidden files are left out. This is what
/// [`assemble`] reads and what `embed_migrations!` embeds and watches for changes.
///
/// # Errors
///
/// [`Error::MigrationsDir`] when the directory cannot be read, [`Error::InvalidFile`] for a
/// `.sql` file whose name is not UTF-8, [`Error::Io`] when a file cannot be read.
pub fn read_files(dir: &Path) -> Result<Vec<SourceFile>, Error> {
    let mut files = Vec::new();
    for (name, is_dir) in entries_of(dir)? {
        if is_dir {
            nested(dir, &name, &mut files)?;
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".sql") || lower.ends_with(".go") || lower.ends_with(".rs") {
            files.push(read_one(dir, name)?);
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The files under the sub-directory `sub` (a path relative to `dir`): diesel's `up.sql`,
/// `down.sql` and `metadata.toml` one level down, and `.sql` files at any depth (refinery and
/// Flyway read sub-directories; the other layouts leave them aside, as their tools do).
fn nested(dir: &Path, sub: &str, files: &mut Vec<SourceFile>) -> Result<(), Error> {
    let top = !sub.contains('/');
    for (inner, inner_is_dir) in entries_of(&dir.join(sub))? {
        let name = format!("{sub}/{inner}");
        if inner_is_dir {
            nested(dir, &name, files)?;
        } else if (top && inner == "metadata.toml") || inner.to_ascii_lowercase().ends_with(".sql")
        {
            files.push(read_one(dir, name)?);
        }
    }
    Ok(())
}

/// The names of `dir`'s entries, hidden ones left out, with whether each is a directory.
fn entries_of(dir: &Path) -> Result<Vec<(String, bool)>, Error> {
    let io = |source| Error::MigrationsDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_dir = entry.file_type().map_err(io)?.is_dir();
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(raw) => {
                let lossy = raw.to_string_lossy().into_owned();
                if lossy.to_ascii_lowercase().ends_with(".sql") {
                    return Err(Error::InvalidFile {
                        file: lossy,
                        reason: "file name is not valid UTF-8".to_owned(),
                    });
                }
                continue;
            }
        };
        if !name.starts_with('.') {
            out.push((name, is_dir));
        }
    }
    Ok(out)
}

fn read_one(dir: &Path, name: String) -> Result<SourceFile, Error> {
    let path = dir.join(&name);
    let bytes = std::fs::read(&path).map_err(|source| Error::Io { path, source })?;
    Ok(SourceFile { name, bytes })
}

/// Builds a set from a directory embedded with the `include_dir` crate (its top level and
/// diesel's sub-directories), with the same rules as [`read_dir`].
///
/// # Errors
///
/// As [`assemble`].
#[cfg(feature = "include_dir")]
pub fn from_include_dir(dir: &include_dir::Dir<'_>) -> Result<Migrations, Error> {
    let mut files = Vec::new();
    for entry in dir.entries() {
        let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        match entry {
            include_dir::DirEntry::File(f) => {
                if let Some(name) = name(f.path()) {
                    files.push(SourceFile {
                        name,
                        bytes: f.contents().to_vec(),
                    });
                }
            }
            include_dir::DirEntry::Dir(d) => embedded_nested(d, &mut files),
        }
    }
    files.retain(|f| !f.name.starts_with('.') && !f.name.contains("/."));
    assemble(files)
}

/// Every file under the embedded sub-directory `d`, named by its path below the top (the same
/// names [`read_files`] gives).
#[cfg(feature = "include_dir")]
fn embedded_nested(d: &include_dir::Dir<'_>, files: &mut Vec<SourceFile>) {
    for entry in d.entries() {
        match entry {
            include_dir::DirEntry::File(f) => {
                if let Some(name) = f.path().to_str() {
                    files.push(SourceFile {
                        name: name.replace('\\', "/"),
                        bytes: f.contents().to_vec(),
                    });
                }
            }
            include_dir::DirEntry::Dir(inner) => embedded_nested(inner, files),
        }
    }
}

/// Builds a migration set from files in the layout they show (see [`crate::read::format::detect`]).
///
/// # Errors
///
/// [`Error::InvalidFile`] naming the file and the reason, or [`Error::DuplicateVersion`].
pub fn assemble(files: Vec<SourceFile>) -> Result<Migrations, Error> {
    Ok(assemble_with(files, &ReadOptions::default())?.migrations)
}

#[derive(Default)]
struct Parts {
    name: String,
    up: Option<Script>,
    down: Option<Script>,
    verify: Option<Script>,
    checksum: Option<String>,
}

/// Builds a migration set from files read as `options` say: every down and verify script has
/// an up script of the same version and name, versions are unique, every up script holds a
/// statement. Unrelated files are skipped; files of another layout are refused.
///
/// # Errors
///
/// As [`assemble`].
pub fn assemble_with(mut files: Vec<SourceFile>, options: &ReadOptions) -> Result<Read, Error> {
    // Sorted so that errors are reported in the same order on every file system.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let (detected, entries) = format::read(files, options.format)?;
    let placeholders = match (&options.placeholders, detected.format) {
        (Some(values), _) => Some(Placeholders::new(values.clone())),
        (None, Format::Flyway) => Some(Placeholders::default()),
        (None, _) => None,
    };
    let mut by_version: BTreeMap<Version, Parts> = BTreeMap::new();
    let mut first_file: BTreeMap<(Version, FileKind), String> = BTreeMap::new();
    for entry in entries {
        if let Some(previous) = first_file.insert((entry.version, entry.kind), entry.origin.clone())
        {
            return Err(Error::DuplicateVersion {
                version: entry.version,
                first: previous,
                second: entry.origin,
            });
        }
        let text = match &placeholders {
            Some(p) => p.apply(&entry.origin, &entry.text)?,
            None => entry.text.clone(),
        };
        let mut script = Script::parse(entry.origin.clone(), &text)?;
        if let Some(mode) = entry.mode {
            script = script.with_transaction(mode);
        }
        let parts = by_version.entry(entry.version).or_default();
        if parts.name.is_empty()
            || (entry.kind == FileKind::Up && detected.format.pairs_by_version_only())
        {
            parts.name = entry.name;
        } else if parts.name != entry.name && !detected.format.pairs_by_version_only() {
            return Err(Error::InvalidFile {
                file: entry.origin,
                reason: format!(
                    "version {} is named `{}` by another file; all files of one version share its name{}",
                    entry.version,
                    parts.name,
                    if detected.format == Format::Native {
                        " (sqlx pairs files by version alone: if this is a sqlx set, set format = \"sqlx\" in migrate.toml)"
                    } else {
                        ""
                    }
                ),
            });
        }
        if entry.kind == FileKind::Up && text != entry.text {
            // The checksum is over the text as written, so that the values (one per
            // environment, often) are not an edit.
            parts.checksum = Some(checksum::sha256_hex(&checksum::normalize(&entry.text)));
        }
        let slot = match entry.kind {
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
        let stem = up_stem(up.origin());
        if let Some(EmptyUp::Refused(reason)) = detected.format.empty_up(&stem, up.sql()) {
            return Err(Error::InvalidFile {
                file: up.origin().to_owned(),
                reason,
            });
        }
        let mut migration = Migration::new(version, parts.name, up);
        if let Some(checksum) = parts.checksum {
            migration = migration.with_checksum(checksum);
        }
        if let Some(down) = parts.down {
            migration = migration.with_down(down);
        }
        if let Some(verify) = parts.verify {
            migration = migration.with_verify(verify);
        }
        migrations.push(migration);
    }
    let order: Vec<(Version, &str)> = migrations
        .iter()
        .map(|m: &Migration| (m.version(), m.up().origin()))
        .collect();
    format::check_order(detected.format, &order)?;
    Ok(Read {
        format: detected.format,
        reason: detected.reason,
        migrations: Migrations::new(migrations)?,
    })
}

/// `0003_add_email` of `0003_add_email.up.sql` (or of `0003_add_email.sql`).
fn up_stem(origin: &str) -> String {
    let name = origin.rsplit('/').next().unwrap_or(origin);
    let name = name.strip_suffix(".sql").unwrap_or(name);
    name.strip_suffix(".up").unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::directive::TransactionMode;

    /// In the native layout only what is provably a mistake is refused: a zero-byte up file,
    /// and the template `migrate new` wrote, byte for byte. A file of comments is a deliberate
    /// no-op, recorded like any migration.
    #[test]
    fn only_an_empty_file_or_the_unedited_template_is_refused() {
        for (text, said) in [
            ("", "it is empty (zero bytes)"),
            (
                "-- 0002_x: what this migration changes.\n",
                "it is still the template `migrate new` wrote",
            ),
        ] {
            let err = assemble(vec![file("0002_x.up.sql", text)]).unwrap_err();
            assert!(
                err.to_string().contains(&format!("0002_x.up.sql: {said}")),
                "{err}"
            );
        }
        for text in [
            "-- nothing to do on SQLite: the column is already there.\n",
            " ;\n/* later */ ;",
            // The template of another migration's name is somebody's comment.
            "-- 0001_y: what this migration changes.\n",
        ] {
            let set = assemble(vec![file("0002_x.up.sql", text)]).unwrap();
            assert!(!set.get(2).unwrap().up().has_statement());
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
        SourceFile::new(name, text)
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
