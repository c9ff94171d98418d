//! Which layout a directory is written in, from its files, and the refusal of any file that
//! belongs to another layout than the one being read.

use super::Format;
use super::SourceFile;
use crate::read::filename::{Parsed, Style, parse_as};
use crate::vocab::error::Error;

/// The layout a directory is read as, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The layout.
    pub format: Format,
    /// What showed it (`-- +goose Up at line 1 of 00001_users.sql`), or that it was named.
    pub reason: String,
}

/// What each file shows about its layout (index for index with the files): worked out once
/// per read, since it may read a whole file's text.
pub(super) type Signs = Vec<Option<(Format, String)>>;

pub(super) fn signatures(files: &[SourceFile]) -> Signs {
    files.iter().map(signature).collect()
}

/// What one file shows about its layout.
fn signature(file: &SourceFile) -> Option<(Format, String)> {
    if let Some((dir, script)) = file.name.split_once('/') {
        if script == "up.sql" {
            return Some((Format::Diesel, format!("directory {dir}/ with up.sql")));
        }
        // Deeper files show a layout only by a name that only refinery or Flyway would read
        // there (both walk sub-directories).
        let base = file.name.rsplit('/').next().unwrap_or(&file.name);
        return signature(&SourceFile::new(base, Vec::new()))
            .filter(|(format, _)| matches!(format, Format::Refinery | Format::Flyway))
            .map(|(format, _)| (format, format!("{} in a sub-directory", file.name)));
    }
    let lower = file.name.to_ascii_lowercase();
    if !lower.ends_with(".sql") || lower.starts_with('.') {
        return None;
    }
    if let Some(found) = annotation(file) {
        return Some(found);
    }
    let prefixed = |p: char| {
        lower.starts_with(p) && lower[1..].starts_with(|c: char| c.is_ascii_digit() || c == '_')
    };
    if prefixed('r') && lower[1..].starts_with("__") {
        return Some((
            Format::Flyway,
            format!("repeatable migration {}", file.name),
        ));
    }
    if prefixed('u') {
        return Some((Format::Flyway, format!("U-prefixed {}", file.name)));
    }
    if prefixed('v') {
        return Some((Format::Refinery, format!("V-prefixed {}", file.name)));
    }
    if matches!(parse_as(&file.name, Style::Native), Parsed::Malformed(_))
        && let Parsed::Migration(m) = parse_as(&file.name, Style::GolangMigrate)
    {
        let why = if m.version == 0 {
            "version 0"
        } else {
            "a dot in its title"
        };
        return Some((Format::GolangMigrate, format!("{why} in {}", file.name)));
    }
    None
}

/// A goose, sql-migrate or dbmate section marker in the file, with its line.
fn annotation(file: &SourceFile) -> Option<(Format, String)> {
    let text = std::str::from_utf8(&file.bytes).ok()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let marker = line.trim().to_ascii_lowercase();
        let format = if marker.starts_with("-- +goose ") {
            Format::Goose
        } else if marker.starts_with("-- +migrate ") {
            Format::SqlMigrate
        } else if marker.starts_with("-- migrate:up") || marker.starts_with("-- migrate:down") {
            Format::Dbmate
        } else {
            return None;
        };
        Some((
            format,
            format!("`{}` at line {} of {}", line.trim(), i + 1, file.name),
        ))
    })
}

/// The layout of a directory's files (see docs/migrations.md, "Formats"): a diesel directory,
/// then section markers (goose, sql-migrate, dbmate), then Flyway's `R__`, golang-migrate's
/// version 0 or dotted titles, refinery's `V` prefix; native otherwise.
///
/// # Errors
///
/// [`Error::InvalidFile`] for a `U`-prefixed file when nothing else tells Flyway (where it is
/// an undo) from refinery (where it is an unversioned up migration).
pub fn detect(files: &[SourceFile]) -> Result<Detected, Error> {
    detect_signed(files, &signatures(files))
}

/// [`detect`] with the files' signatures already worked out.
pub(super) fn detect_signed(files: &[SourceFile], each: &Signs) -> Result<Detected, Error> {
    let signs: Vec<&(Format, String)> = each.iter().flatten().collect();
    let first = |wanted: &[Format]| signs.iter().find(|(f, _)| wanted.contains(f));
    let found = first(&[Format::Diesel])
        .or_else(|| first(&[Format::Goose, Format::SqlMigrate, Format::Dbmate]))
        .or_else(|| {
            signs
                .iter()
                .find(|(f, why)| *f == Format::Flyway && why.starts_with("repeatable"))
        });
    if let Some((format, why)) = found
        && matches!(format, Format::Goose | Format::SqlMigrate | Format::Dbmate)
        && let Some((plain, _)) = files.iter().zip(each).find(|(f, sign)| {
            sign.is_none() && matches!(parse_as(&f.name, Style::Native), Parsed::Migration(_))
        })
    {
        let file = why.rsplit(" of ").next().unwrap_or(why).to_owned();
        return Err(Error::InvalidFile {
            file,
            reason: format!(
                "looks like a {format} migration ({why}), but {} beside it has no {format} marker: one layout per directory; set `format` in migrate.toml, or move one of them out",
                plain.name
            ),
        });
    }
    if let Some((format, why)) = found {
        return Ok(Detected {
            format: *format,
            reason: why.clone(),
        });
    }
    if let Some((_, why)) = first(&[Format::Flyway]) {
        let file = why.trim_start_matches("U-prefixed ").to_owned();
        return Err(Error::InvalidFile {
            file,
            reason: "a U-prefixed file is an undo for Flyway and an unversioned migration for refinery: set format = \"flyway\" or \"refinery\" in migrate.toml".to_owned(),
        });
    }
    // Native names read V files too: refinery is said only where every file is one.
    let only_prefixed = files.iter().zip(each).all(|(f, sign)| {
        sign.is_some() || !matches!(parse_as(&f.name, Style::Native), Parsed::Migration(_))
    });
    let found = first(&[Format::GolangMigrate])
        .or_else(|| first(&[Format::Refinery]).filter(|_| only_prefixed));
    Ok(match found {
        Some((format, why)) => Detected {
            format: *format,
            reason: why.clone(),
        },
        None => Detected {
            format: Format::Native,
            reason: "file names".to_owned(),
        },
    })
}

/// Whether files showing `sign` are read by `format`.
fn reads(format: Format, sign: Format) -> bool {
    match format {
        Format::Native | Format::Sqlx => sign == Format::Refinery,
        Format::Refinery | Format::Flyway => matches!(sign, Format::Refinery | Format::Flyway),
        other => other == sign,
    }
}

/// Refuses every file that looks like a migration of another layout than `format`, and code
/// migrations (goose's `.go`, refinery's `.rs`), which no reader can run.
pub(super) fn refuse_foreign(
    format: Format,
    files: &[SourceFile],
    signs: &Signs,
) -> Result<(), Error> {
    for (file, sign) in files.iter().zip(signs) {
        let lower = file.name.to_ascii_lowercase();
        let code = if lower.ends_with(".go") {
            Some("a goose Go migration")
        } else if lower.ends_with(".rs") {
            Some("a refinery Rust migration")
        } else {
            None
        };
        if let Some(code) = code
            && lower.starts_with(|c: char| c.is_ascii_digit() || c == 'v' || c == 'u')
        {
            return Err(Error::InvalidFile {
                file: file.name.clone(),
                reason: format!(
                    "{code}: code migrations cannot be read; port it to SQL or apply it with its own tool first"
                ),
            });
        }
        let foreign = match sign {
            Some((sign, why)) if !reads(format, *sign) => Some((sign.name(), why.clone())),
            None if format == Format::Diesel
                && !file.name.contains('/')
                && matches!(parse_as(&file.name, Style::Native), Parsed::Migration(_)) =>
            {
                Some(("top-level", file.name.clone()))
            }
            _ => None,
        };
        if let Some((kind, why)) = foreign {
            let file = file.name.split('/').next().unwrap_or(&file.name).to_owned();
            return Err(Error::InvalidFile {
                file,
                reason: format!(
                    "looks like a {kind} migration ({why}), but this directory is read as {format}: set `format` in migrate.toml to the layout it is written in, or move the file out"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile::new(name, text)
    }

    fn refuse(format: Format, files: &[SourceFile]) -> Result<(), Error> {
        refuse_foreign(format, files, &signatures(files))
    }

    fn detected(files: &[SourceFile]) -> Format {
        detect(files).unwrap().format
    }

    #[test]
    fn each_layout_is_recognised_by_what_it_holds() {
        assert_eq!(
            detected(&[file("0001_a.up.sql", "SELECT 1;")]),
            Format::Native
        );
        assert_eq!(
            detected(&[file("V1__a.sql", ""), file("0002_b.sql", "")]),
            Format::Native
        );
        assert_eq!(
            detected(&[file("V1__a.sql", "SELECT 1;")]),
            Format::Refinery
        );
        assert_eq!(
            detected(&[file("V1__a.sql", ""), file("R__views.sql", "")]),
            Format::Flyway
        );
        assert_eq!(
            detected(&[file("0_init.up.sql", ""), file("1_a.up.sql", "")]),
            Format::GolangMigrate
        );
        assert_eq!(detected(&[file("1_a.b.up.sql", "")]), Format::GolangMigrate);
        assert_eq!(
            detected(&[file("2024-01-01-000000_a/up.sql", "")]),
            Format::Diesel
        );
        let goose = detect(&[file("00001_a.sql", "\n-- +goose Up\nSELECT 1;\n")]).unwrap();
        assert_eq!(goose.format, Format::Goose);
        assert_eq!(goose.reason, "`-- +goose Up` at line 2 of 00001_a.sql");
        assert_eq!(
            detected(&[file("1_a.sql", "-- +migrate Up\nSELECT 1;")]),
            Format::SqlMigrate
        );
        assert_eq!(
            detected(&[file("20240101_a.sql", "-- migrate:up\nSELECT 1;")]),
            Format::Dbmate
        );
        let err = detect(&[file("U1__a.sql", "")]).unwrap_err();
        assert!(err.to_string().contains("set format = "), "{err}");
    }

    #[test]
    fn a_file_of_another_layout_is_refused_by_name() {
        let files = [
            file("0001_a.up.sql", "SELECT 1;"),
            file(
                "0002_b.sql",
                "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;",
            ),
        ];
        let err = refuse(Format::Native, &files).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid migration file 0002_b.sql: looks like a goose migration (`-- +goose Up` at line 1 of 0002_b.sql), but this directory is read as native"
            ),
            "{err}"
        );
        let err = refuse(
            Format::Native,
            &[file("2024-01-01-000000_a/up.sql", "SELECT 1;")],
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid migration file 2024-01-01-000000_a: looks like a diesel migration"
            ),
            "{err}"
        );
        let err = refuse(
            Format::Diesel,
            &[
                file("2024-01-01-000000_a/up.sql", "SELECT 1;"),
                file("0002_b.up.sql", "SELECT 1;"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("0002_b.up.sql"), "{err}");
        let err = refuse(Format::Goose, &[file("00002_b.go", "package x")]).unwrap_err();
        assert!(err.to_string().contains("goose Go migration"), "{err}");
        assert!(refuse(Format::Native, &[file("V2__b.sql", "SELECT 1;")]).is_ok());
    }
}
