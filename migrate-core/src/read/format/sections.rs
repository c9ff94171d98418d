//! One file per migration, cut into sections by marker comments: goose (`-- +goose Up`,
//! `-- +goose Down`, `StatementBegin`/`StatementEnd`, `NO TRANSACTION`), sql-migrate
//! (`-- +migrate Up [notransaction]`, …) and dbmate (`-- migrate:up [transaction:false]`,
//! `-- migrate:down`).
//!
//! Each section becomes a script whose other lines are blank, so that SQLite's messages and
//! ours name the file's own line numbers. `StatementBegin`/`StatementEnd` need no handling
//! beyond that: statements are split by SQLite's parser, which knows trigger bodies.

use super::SourceFile;
use super::{Entry, Format, utf8};
use crate::read::directive::TransactionMode;
use crate::read::filename::{FileKind, parse_digits};
use crate::read::statements::has_statement;
use crate::vocab::error::Error;

/// What a marker line says.
#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Up(Option<TransactionMode>),
    Down(Option<TransactionMode>),
    /// `StatementBegin` / `StatementEnd`: the lines between are one statement (SQLite's parser
    /// finds the same boundaries).
    Statement,
    /// goose's `NO TRANSACTION`: the whole file runs outside a transaction.
    WholeFileOutside,
}

pub(super) fn entries(format: Format, files: Vec<SourceFile>) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for file in files {
        let lower = file.name.to_ascii_lowercase();
        if file.name.contains('/') || lower.starts_with('.') || !lower.ends_with(".sql") {
            continue;
        }
        let (version, name) =
            file_name(format, &file.name).map_err(|reason| Error::InvalidFile {
                file: file.name.clone(),
                reason,
            })?;
        let text = utf8(&file.name, file.bytes)?;
        let cut = cut(format, &text).map_err(|reason| Error::InvalidFile {
            file: file.name.clone(),
            reason,
        })?;
        out.push(Entry {
            version,
            name: name.clone(),
            kind: FileKind::Up,
            origin: file.name.clone(),
            text: cut.up,
            mode: cut.up_mode,
        });
        if has_statement(&cut.down) {
            out.push(Entry {
                version,
                name,
                kind: FileKind::Down,
                origin: file.name,
                text: cut.down,
                mode: cut.down_mode,
            });
        }
    }
    Ok(out)
}

/// `<version>_<name>.sql` (sql-migrate also `<version>-<name>.sql`).
fn file_name(format: Format, file: &str) -> Result<(i64, String), String> {
    let stem = &file[..file.len() - ".sql".len()];
    let digits_end = stem
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(stem.len());
    let (digits, rest) = stem.split_at(digits_end);
    let separators: &[char] = if format == Format::SqlMigrate {
        &['_', '-']
    } else {
        &['_']
    };
    let name = rest
        .strip_prefix(separators)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{format} files are named <version>_<name>.sql"))?;
    let version = parse_digits(digits)?;
    if version == 0 {
        return Err("version must be greater than 0".to_owned());
    }
    Ok((version, name.to_owned()))
}

/// The marker `line` is, as each tool recognises its own: goose strips `--` and reads the rest
/// whatever its case (`--+goose up`); sql-migrate only a line starting `-- +migrate ` with the
/// command as written (`Up`, not `up`); dbmate a line matching `^--\s*migrate:(up|down)`
/// followed by the end of the line or options. Anything else is a comment or a statement.
fn marker(format: Format, line: &str) -> Option<Result<Marker, String>> {
    match format {
        Format::Goose => goose_marker(line),
        Format::SqlMigrate => sql_migrate_marker(line),
        _ => dbmate_marker(line),
    }
}

fn goose_marker(line: &str) -> Option<Result<Marker, String>> {
    let trimmed = line.trim();
    let rest = trimmed.strip_prefix("--")?.trim_start();
    let lower = rest.to_ascii_lowercase();
    let rest = lower.strip_prefix("+goose")?;
    let command: Vec<&str> = rest.split_whitespace().collect();
    Some(match command.as_slice() {
        ["up"] => Ok(Marker::Up(None)),
        ["down"] => Ok(Marker::Down(None)),
        ["statementbegin"] | ["statementend"] => Ok(Marker::Statement),
        ["no", "transaction"] => Ok(Marker::WholeFileOutside),
        ["envsub", ..] => Err(format!(
            "`{trimmed}`: environment substitution is not supported; use [placeholders] in migrate.toml (${{name}})"
        )),
        _ => Err(format!("unknown annotation `{trimmed}`")),
    })
}

fn sql_migrate_marker(line: &str) -> Option<Result<Marker, String>> {
    let rest = line.strip_prefix("-- +migrate ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let outside = |options: &[&str]| match options {
        [] => Ok(None),
        ["notransaction"] => Ok(Some(TransactionMode::NoTransaction)),
        _ => Err(format!("unknown option on `{}`", line.trim())),
    };
    Some(match fields.as_slice() {
        ["Up", options @ ..] => outside(options).map(Marker::Up),
        ["Down", options @ ..] => outside(options).map(Marker::Down),
        ["StatementBegin"] | ["StatementEnd"] => Ok(Marker::Statement),
        _ => Err(format!("unknown annotation `{}`", line.trim())),
    })
}

fn dbmate_marker(line: &str) -> Option<Result<Marker, String>> {
    let rest = line
        .strip_prefix("--")?
        .trim_start()
        .strip_prefix("migrate:")?;
    let (word, options) = if let Some(options) = rest.strip_prefix("up") {
        ("up", options)
    } else {
        ("down", rest.strip_prefix("down")?)
    };
    // `-- migrate:upgrade` is a comment: the word ends at whitespace or the line's end.
    if !options.is_empty() && !options.starts_with(char::is_whitespace) {
        return None;
    }
    let mode = match options.trim() {
        "" | "transaction:true" => None,
        "transaction:false" => Some(TransactionMode::NoTransaction),
        other => {
            return Some(Err(format!(
                "unknown option `{other}` on `{}`",
                line.trim()
            )));
        }
    };
    Some(Ok(if word == "up" {
        Marker::Up(mode)
    } else {
        Marker::Down(mode)
    }))
}

/// A file cut into its sections.
#[derive(Debug)]
struct Cut {
    up: String,
    up_mode: Option<TransactionMode>,
    down: String,
    down_mode: Option<TransactionMode>,
}

fn cut(format: Format, text: &str) -> Result<Cut, String> {
    #[derive(PartialEq)]
    enum At {
        Before,
        Up,
        Down,
    }
    let mut at = At::Before;
    let (mut up, mut down) = (String::new(), String::new());
    let (mut up_mode, mut down_mode, mut whole) = (None, None, None);
    for (i, line) in text.lines().enumerate() {
        let where_ = |what: String| format!("line {}: {what}", i + 1);
        match marker(format, line) {
            Some(Err(reason)) => return Err(where_(reason)),
            Some(Ok(found)) => {
                match found {
                    Marker::Up(mode) if at == At::Before => {
                        at = At::Up;
                        up_mode = mode;
                    }
                    Marker::Up(_) => return Err(where_("a second Up section".to_owned())),
                    Marker::Down(mode) if at == At::Up => {
                        at = At::Down;
                        down_mode = mode;
                    }
                    Marker::Down(_) if at == At::Before => {
                        return Err(where_("a Down section before the Up section".to_owned()));
                    }
                    Marker::Down(_) => return Err(where_("a second Down section".to_owned())),
                    Marker::Statement => {}
                    Marker::WholeFileOutside => whole = Some(TransactionMode::NoTransaction),
                }
                up.push('\n');
                down.push('\n');
                continue;
            }
            None => {}
        }
        match at {
            At::Before => {
                let bare = line.trim();
                if !bare.is_empty() && !bare.starts_with("--") {
                    return Err(where_(format!(
                        "a statement before the Up marker ({})",
                        up_marker(format)
                    )));
                }
                up.push('\n');
                down.push('\n');
            }
            At::Up => {
                up.push_str(line);
                up.push('\n');
                down.push('\n');
            }
            At::Down => {
                down.push_str(line);
                down.push('\n');
            }
        }
    }
    if at == At::Before {
        return Err(format!("no Up section: expected {}", up_marker(format)));
    }
    if format == Format::Dbmate && at == At::Up {
        // dbmate refuses the file too ("dbmate requires each migration to define a down
        // block with '-- migrate:down'"), so no set it applied lacks one.
        return Err("no `-- migrate:down` section: dbmate requires one in every migration (it may be empty)".to_owned());
    }
    Ok(Cut {
        up,
        up_mode: whole.or(up_mode),
        down,
        down_mode: whole.or(down_mode),
    })
}

fn up_marker(format: Format) -> &'static str {
    match format {
        Format::Goose => "`-- +goose Up`",
        Format::SqlMigrate => "`-- +migrate Up`",
        _ => "`-- migrate:up`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goose_sections_keep_the_files_line_numbers() {
        let text = "-- creates t\n-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE t (a);\n-- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE t;\n";
        let c = cut(Format::Goose, text).unwrap();
        assert_eq!(c.up, "\n\n\nCREATE TABLE t (a);\n\n\n\n");
        assert_eq!(c.down, "\n\n\n\n\n\n\nDROP TABLE t;\n");
        assert_eq!((c.up_mode, c.down_mode), (None, None));
        // The down part is not in the up text: editing it leaves the checksum alone.
        let edited = cut(
            Format::Goose,
            &text.replace("DROP TABLE t", "DROP TABLE IF EXISTS t"),
        )
        .unwrap();
        assert_eq!(edited.up, c.up);
    }

    #[test]
    fn modes_from_each_layout() {
        let goose = cut(
            Format::Goose,
            "-- +goose NO TRANSACTION\n-- +goose Up\nVACUUM;\n",
        )
        .unwrap();
        assert_eq!(goose.up_mode, Some(TransactionMode::NoTransaction));
        assert_eq!(goose.down_mode, Some(TransactionMode::NoTransaction));
        let sm = cut(
            Format::SqlMigrate,
            "-- +migrate Up notransaction\nVACUUM;\n-- +migrate Down\nSELECT 1;\n",
        )
        .unwrap();
        assert_eq!(sm.up_mode, Some(TransactionMode::NoTransaction));
        assert_eq!(sm.down_mode, None);
        let dbmate = cut(
            Format::Dbmate,
            "-- migrate:up transaction:false\nVACUUM;\n\n-- migrate:down\n",
        )
        .unwrap();
        assert_eq!(dbmate.up_mode, Some(TransactionMode::NoTransaction));
        assert!(!has_statement(&dbmate.down));
    }

    #[test]
    fn malformed_sections_name_the_line() {
        for (format, text, said) in [
            (
                Format::Goose,
                "CREATE TABLE t (a);\n-- +goose Up\n",
                "line 1: a statement before the Up marker",
            ),
            (
                Format::Goose,
                "-- +goose Down\nSELECT 1;\n",
                "line 1: a Down section before the Up section",
            ),
            (
                Format::Goose,
                "-- +goose Up\n-- +goose Up\n",
                "line 2: a second Up section",
            ),
            (
                Format::Goose,
                "-- +goose Up\n-- +goose ENVSUB ON\n",
                "line 2: `-- +goose ENVSUB ON`: environment substitution",
            ),
            (
                Format::Goose,
                "-- +goose Upp\n",
                "line 1: unknown annotation `-- +goose Upp`",
            ),
            (Format::Goose, "SELECT 1;\n", "line 1: a statement before"),
            (
                Format::Goose,
                "-- nothing\n",
                "no Up section: expected `-- +goose Up`",
            ),
            (
                Format::Dbmate,
                "-- migrate:up transaction:maybe\n",
                "line 1: unknown option `transaction:maybe`",
            ),
            (
                Format::Dbmate,
                "-- migrate:up\nCREATE TABLE t (a);\n",
                "no `-- migrate:down` section",
            ),
            // sql-migrate ignores a command it does not know (then finds no Up section);
            // named here instead.
            (
                Format::SqlMigrate,
                "-- +migrate up\nSELECT 1;\n",
                "line 1: unknown annotation `-- +migrate up`",
            ),
            (
                Format::SqlMigrate,
                "-- +migrate Up sometimes\n",
                "line 1: unknown option on `-- +migrate Up sometimes`",
            ),
        ] {
            let err = cut(format, text).unwrap_err();
            assert!(err.starts_with(said), "{text:?}: {err}");
        }
    }

    /// Each tool's own spelling of its markers: goose ignores case and the space after `--`,
    /// dbmate the space only, sql-migrate neither.
    #[test]
    fn markers_are_recognised_as_each_tool_recognises_them() {
        let goose = cut(
            Format::Goose,
            "--+GOOSE UP\nCREATE TABLE t (a);\n--  +goose down\n",
        )
        .unwrap();
        assert!(has_statement(&goose.up));
        let dbmate = cut(
            Format::Dbmate,
            "--migrate:up\nCREATE TABLE t (a);\n-- migrate:upgrade notes\n--   migrate:down\nDROP TABLE t;\n",
        )
        .unwrap();
        assert!(has_statement(&dbmate.up) && has_statement(&dbmate.down));
        assert!(dbmate.up.contains("-- migrate:upgrade notes"));
        // dbmate's markers are lower case: `-- MIGRATE:UP` is a comment, so there is no Up.
        assert!(cut(Format::Dbmate, "-- MIGRATE:UP\n-- migrate:down\n").is_err());
        let sm = cut(
            Format::SqlMigrate,
            "-- +migrate Up\nCREATE TABLE t (a);\n-- +migrate Down\nDROP TABLE t;\n",
        )
        .unwrap();
        assert!(has_statement(&sm.down));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name(Format::Goose, "20230101120000_add.users.sql").unwrap(),
            (20230101120000, "add.users".to_owned())
        );
        assert_eq!(
            file_name(Format::SqlMigrate, "3-seed.sql").unwrap(),
            (3, "seed".to_owned())
        );
        assert!(file_name(Format::Goose, "3-seed.sql").is_err());
        assert!(file_name(Format::Dbmate, "users.sql").is_err());
    }
}
