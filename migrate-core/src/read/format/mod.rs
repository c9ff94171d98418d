//! Every peer's migration layout, read into the one model ([`Migrations`]).
//!
//! A directory is read by one [`Format`]: named in migrate.toml (`format = "goose"`) or detected
//! from what the directory holds. Whatever is not read is never silently skipped: a file or
//! directory that looks like another layout's migration is an error naming it, and so is an
//! empty directory. The checksum of a migration is over its own up text (a goose file's Up
//! section, a diesel directory's `up.sql`, before placeholders are replaced), so it stays the
//! same whichever reader produced it and whatever the down part says.

mod detect;
mod diesel;
mod order;
mod placeholders;
mod sections;

use std::collections::BTreeMap;

use crate::read::directive::TransactionMode;
use crate::read::filename::FileKind;
use crate::read::migration::Version;
use crate::vocab::error::Error;

pub use detect::{Detected, detect};
pub(crate) use diesel::version_of as diesel_version;
pub(crate) use order::check as check_order;
pub(crate) use placeholders::Placeholders;

/// One file of a migrations directory: its name and its bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file name, as shown in messages.
    pub name: String,
    /// The raw contents.
    pub bytes: Vec<u8>,
}

impl SourceFile {
    /// A file named `name` (relative to the migrations directory) holding `bytes`.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// A migration layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// This tool's own: `N_name.up.sql`, `.down.sql`, `.verify.sql`, `N_name.sql`, `VN__name.sql`.
    Native,
    /// sqlx: `N_name.sql`, or `N_name.up.sql` + `.down.sql` (read as native).
    Sqlx,
    /// refinery: `VN__name.sql`, and `UN__name.sql` (unversioned, an up migration).
    Refinery,
    /// Flyway: `VN__name.sql` and its undo `UN__name.sql`; `${name}` placeholders.
    Flyway,
    /// diesel: a directory per migration, `<timestamp>_<name>/up.sql` + `down.sql`.
    Diesel,
    /// golang-migrate: `N_title.up.sql` + `.down.sql`, version 0 allowed, dots in titles.
    GolangMigrate,
    /// goose: one `N_name.sql` with `-- +goose Up` and `-- +goose Down` sections.
    Goose,
    /// sql-migrate: one `N_name.sql` with `-- +migrate Up` and `-- +migrate Down` sections.
    SqlMigrate,
    /// dbmate: one `N_name.sql` with `-- migrate:up` and `-- migrate:down` sections.
    Dbmate,
}

impl Format {
    /// Every format, in the order documented.
    pub const ALL: [Format; 9] = [
        Format::Native,
        Format::Sqlx,
        Format::Refinery,
        Format::Flyway,
        Format::Diesel,
        Format::GolangMigrate,
        Format::Goose,
        Format::SqlMigrate,
        Format::Dbmate,
    ];

    /// The name used in migrate.toml and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Sqlx => "sqlx",
            Format::Refinery => "refinery",
            Format::Flyway => "flyway",
            Format::Diesel => "diesel",
            Format::GolangMigrate => "golang-migrate",
            Format::Goose => "goose",
            Format::SqlMigrate => "sql-migrate",
            Format::Dbmate => "dbmate",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format `{s}` (known: {})", known.join(", "))
            })
    }
}

/// What an up migration that holds no statement (only comments and whitespace, or nothing)
/// means in a layout, as its own tool treats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmptyUp {
    /// Applied as a no-op and recorded, as the layout's own tool does.
    NoOp,
    /// Provably a mistake: refused, saying why.
    Refused(String),
}

impl Format {
    /// Whether the files of one version may carry different names. golang-migrate pairs an up
    /// and a down file by their version number alone (`7_x..up.sql` with `7_x.down.sql`),
    /// sqlx links them only by version, and Flyway an undo to its versioned migration; the up file's name is the migration's. The native
    /// layout wants one name per version (a mismatch is more often a typo than a choice).
    pub(crate) fn pairs_by_version_only(self) -> bool {
        matches!(self, Format::GolangMigrate | Format::Sqlx | Format::Flyway)
    }

    /// What the up script `text` of the migration whose files are named `stem` means here,
    /// when it holds no statement (`None` when it holds one).
    pub(crate) fn empty_up(self, stem: &str, text: &str) -> Option<EmptyUp> {
        if crate::read::statements::has_statement(text) {
            return None;
        }
        Some(match self {
            // Only what is provably a mistake: a file nobody wrote anything in, or the
            // template `migrate new` wrote, unedited. A comment-only file is a deliberate
            // no-op (a placeholder a project keeps), recorded like any migration.
            Format::Native if text.is_empty() => EmptyUp::Refused(
                "it is empty (zero bytes): write the migration (a comment saying why it does nothing is enough to keep it as a no-op)".to_owned(),
            ),
            // diesel refuses a zero-byte up.sql itself ("Attempted to run an empty
            // migration."); comments only run as the no-op SQLite makes of them.
            Format::Diesel if text.is_empty() => EmptyUp::Refused(
                "it is empty (zero bytes), which diesel refuses to run too (\"Attempted to run an empty migration.\")".to_owned(),
            ),
            Format::Native if crate::read::template::templates(stem)[0].1 == text => {
                EmptyUp::Refused(
                    "it is still the template `migrate new` wrote: write the migration first (or replace the template's comment with why it does nothing)".to_owned(),
                )
            }
            _ => EmptyUp::NoOp,
        })
    }
}

/// How a directory is read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The layout; `None` detects it from the directory.
    pub format: Option<Format>,
    /// `${name}` replacements (migrate.toml's `[placeholders]`). When set, or when the format
    /// is Flyway (which always replaces), an unknown `${name}` is an error naming file and line;
    /// otherwise the text is left as written.
    pub placeholders: Option<BTreeMap<String, String>>,
}

/// One script found by a reader, before it becomes part of a migration.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub version: Version,
    pub name: String,
    pub kind: FileKind,
    /// The file, relative to the migrations directory (`dir/up.sql` for diesel).
    pub origin: String,
    /// The script's text (for a sectioned file, its section, other lines blank so that line
    /// numbers stay the file's).
    pub text: String,
    /// A mode the layout sets outside the text (goose's `NO TRANSACTION`, dbmate's
    /// `transaction:false`, diesel's `run_in_transaction = false`).
    pub mode: Option<TransactionMode>,
}

/// `files` read in their layout (`named`, or detected): the layout and why, and every script,
/// each file either read or refused.
pub(crate) fn read(
    files: Vec<SourceFile>,
    named: Option<Format>,
) -> Result<(Detected, Vec<Entry>), Error> {
    let signs = detect::signatures(&files);
    let detected = match named {
        Some(format) => Detected {
            format,
            reason: "named in the configuration".to_owned(),
        },
        None => detect::detect_signed(&files, &signs)?,
    };
    detect::refuse_foreign(detected.format, &files, &signs)?;
    let entries = entries(detected.format, files)?;
    Ok((detected, entries))
}

/// The entries of `files` read as `format`.
fn entries(format: Format, files: Vec<SourceFile>) -> Result<Vec<Entry>, Error> {
    match format {
        Format::Native | Format::Sqlx => named(files, crate::read::filename::Style::Native),
        Format::Refinery => named(files, crate::read::filename::Style::Refinery),
        Format::Flyway => named(files, crate::read::filename::Style::Flyway),
        Format::GolangMigrate => named(files, crate::read::filename::Style::GolangMigrate),
        Format::Diesel => diesel::entries(files),
        Format::Goose | Format::SqlMigrate | Format::Dbmate => sections::entries(format, files),
    }
}

/// Layouts where the file name says everything: one script per file.
fn named(files: Vec<SourceFile>, style: crate::read::filename::Style) -> Result<Vec<Entry>, Error> {
    use crate::read::filename::{Parsed, parse_as};
    let mut out = Vec::new();
    for file in files {
        // refinery and Flyway read sub-directories, at any depth; the other layouts' tools
        // read the top level only, and so does this reader for them.
        let base = match file.name.rsplit_once('/') {
            None => file.name.as_str(),
            Some((_, base)) if style.reads_subdirectories() => base,
            Some(_) => continue,
        };
        let parsed = match parse_as(base, style) {
            Parsed::Unrelated => continue,
            Parsed::Malformed(reason) => {
                return Err(Error::InvalidFile {
                    file: file.name,
                    reason,
                });
            }
            Parsed::Migration(parsed) => parsed,
        };
        let text = utf8(&file.name, file.bytes)?;
        out.push(Entry {
            version: parsed.version,
            name: parsed.name,
            kind: parsed.kind,
            origin: file.name,
            text,
            mode: None,
        });
    }
    Ok(out)
}

/// The file's text, or an error naming it and the first invalid byte.
pub(crate) fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| Error::InvalidFile {
        file: name.to_owned(),
        reason: format!(
            "not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}
