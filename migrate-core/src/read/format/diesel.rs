//! diesel: a directory per migration, `<version>_<name>/up.sql` with `down.sql` beside it and
//! an optional `metadata.toml` (`run_in_transaction = false`). diesel's version is the text
//! before the directory name's first `_` with the dashes dropped (`2018-02-17-205753` is
//! `20180217205753`), and diesel orders versions as text: `20240313` (a directory
//! `2024-03-13_170000_x`) comes after `20240306170000`. Recorded here as a number, a version
//! shorter than diesel's timestamp (14 digits) is padded with zeros on the right
//! (20240313000000), so that the numbers keep diesel's order; two versions that pad to the same
//! number (`1` and `10`) are refused naming both directories, and any order the numbers still
//! could not keep is refused by `order`. diesel's `00000000000000_diesel_initial_setup` is
//! version 0.

use super::SourceFile;
use super::{Entry, utf8};
use crate::read::directive::TransactionMode;
use crate::read::filename::{FileKind, parse_digits};
use crate::read::migration::Version;
use crate::vocab::error::Error;

pub(super) fn entries(files: Vec<SourceFile>) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    let outside: Vec<String> = files
        .iter()
        .filter(|f| f.name.ends_with("/metadata.toml"))
        .map(|f| run_outside(f).map(|outside| outside.then(|| dir_of(&f.name).to_owned())))
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    for file in files {
        let Some((dir, script)) = file.name.split_once('/') else {
            continue;
        };
        let kind = match script {
            "up.sql" => FileKind::Up,
            "down.sql" => FileKind::Down,
            _ => continue,
        };
        let (version, name) = dir_name(dir).map_err(|reason| Error::InvalidFile {
            file: dir.to_owned(),
            reason,
        })?;
        let mode = outside
            .iter()
            .any(|d| d == dir)
            .then_some(TransactionMode::NoTransaction);
        let text = utf8(&file.name, file.bytes)?;
        out.push(Entry {
            version,
            name,
            kind,
            origin: file.name,
            text,
            mode,
        });
    }
    refuse_collisions(&out)?;
    Ok(out)
}

/// Two directories whose versions differ as diesel reads them (`1`, `10`) but pad to the same
/// number here.
fn refuse_collisions(entries: &[Entry]) -> Result<(), Error> {
    let mut seen: std::collections::BTreeMap<Version, &str> = std::collections::BTreeMap::new();
    for entry in entries.iter().filter(|e| e.kind == FileKind::Up) {
        let dir = dir_of(&entry.origin);
        if let Some(other) = seen.insert(entry.version, dir)
            && version_text(other) != version_text(dir)
        {
            return Err(Error::InvalidFile {
                file: dir.to_owned(),
                reason: format!(
                    "its version `{}` and `{}` of {other} are both recorded here as {}: a version shorter than diesel's 14-digit timestamp is padded with zeros so that diesel's text order survives; rename one",
                    version_text(dir),
                    version_text(other),
                    entry.version
                ),
            });
        }
    }
    Ok(())
}

/// diesel's version of a directory name: the text before the first `_`, dashes dropped.
pub(super) fn version_text(dir: &str) -> String {
    dir.split('_').next().unwrap_or(dir).replace('-', "")
}

/// diesel's version text (digits, dashes allowed) as recorded here: padded on the right with
/// zeros to diesel's 14-digit timestamp when shorter (`20240313` is 20240313000000), so that
/// the numbers order as diesel orders the text.
///
/// # Errors
///
/// Why the text is not a version (not digits and dashes, or too large).
pub(crate) fn version_of(text: &str) -> Result<Version, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(format!("version `{text}` is not digits and dashes"));
    }
    let mut digits: String = text.chars().filter(char::is_ascii_digit).collect();
    while digits.len() < TIMESTAMP_DIGITS {
        digits.push('0');
    }
    parse_digits(&digits)
}

/// The width of the versions `diesel migration generate` writes (`%Y-%m-%d-%H%M%S`).
const TIMESTAMP_DIGITS: usize = 14;

fn dir_of(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// `2018-02-17-205753_create_users` → (20180217205753, `create_users`);
/// `2024-03-13_170000_x` → (20240313000000, `170000_x`), as diesel splits it.
fn dir_name(dir: &str) -> Result<(i64, String), String> {
    let (prefix, name) = dir
        .split_once('_')
        .filter(|(_, name)| !name.is_empty())
        .ok_or_else(|| "diesel directories are named <version>_<name>".to_owned())?;
    Ok((version_of(prefix)?, name.to_owned()))
}

/// Whether the migration of `metadata.toml` runs outside a transaction. diesel reads the file
/// into a struct whose `run_in_transaction` defaults to `bool`'s default: a `metadata.toml`
/// that does not set it (empty, or comments only) runs the migration outside a transaction,
/// as diesel does; only `run_in_transaction = true` keeps it inside. Any other key is an error
/// here (diesel ignores it, which leaves the migration outside a transaction unnoticed).
fn run_outside(file: &SourceFile) -> Result<bool, Error> {
    let text = utf8(&file.name, file.bytes.clone())?;
    let mut outside = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let refuse = |reason: String| Error::InvalidFile {
            file: file.name.clone(),
            reason: format!("line {}: {reason}", i + 1),
        };
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| refuse(format!("expected key = value, found `{line}`")))?;
        match (key.trim(), value.trim()) {
            ("run_in_transaction", "false") => outside = true,
            ("run_in_transaction", "true") => outside = false,
            (key, value) => return Err(refuse(format!("unknown setting `{key} = {value}`"))),
        }
    }
    Ok(outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile::new(name, text)
    }

    #[test]
    fn directories_become_versions_and_metadata_sets_the_mode() {
        let entries = entries(vec![
            file(
                "2018-02-17-205753_create_users/up.sql",
                "CREATE TABLE u (a);",
            ),
            file("2018-02-17-205753_create_users/down.sql", "DROP TABLE u;"),
            file("00000000000000_diesel_initial_setup/up.sql", "SELECT 1;"),
            file("2019-01-01-000000_vacuum/up.sql", "VACUUM;"),
            file(
                "2019-01-01-000000_vacuum/metadata.toml",
                "run_in_transaction = false\n",
            ),
        ])
        .unwrap();
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e.version, e.name.as_str(), e.kind, e.mode))
            .collect();
        assert_eq!(
            seen,
            [
                (20180217205753, "create_users", FileKind::Up, None),
                (20180217205753, "create_users", FileKind::Down, None),
                (0, "diesel_initial_setup", FileKind::Up, None),
                (
                    20190101000000,
                    "vacuum",
                    FileKind::Up,
                    Some(TransactionMode::NoTransaction)
                ),
            ]
        );
        let err = entries_err(vec![file("x-y_z/up.sql", "")]);
        assert!(
            err.contains("x-y_z: version `x-y` is not digits and dashes"),
            "{err}"
        );
        let err = entries_err(vec![file(
            "1_a/metadata.toml",
            "run_in_transaction = maybe\n",
        )]);
        assert!(
            err.contains("1_a/metadata.toml: line 1: unknown setting"),
            "{err}"
        );
    }

    /// diesel's own default: a metadata.toml that does not set the key runs the migration
    /// outside a transaction; `run_in_transaction = true` keeps it inside.
    #[test]
    fn a_metadata_file_without_the_key_runs_outside_as_diesel_does() {
        for (text, outside) in [
            ("", true),
            ("# nothing here\n", true),
            ("run_in_transaction = true\n", false),
            ("run_in_transaction = false # VACUUM\n", true),
        ] {
            assert_eq!(
                run_outside(&file("1_a/metadata.toml", text)).unwrap(),
                outside,
                "{text:?}"
            );
        }
    }

    fn entries_err(files: Vec<SourceFile>) -> String {
        entries(files).unwrap_err().to_string()
    }
}
