//! Which databases a fleet command covers: `--dbs GLOB` or `--list FILE` (one path a line).
//!
//! Every target is resolved (links and relative names, as `--db` is) and must be a regular
//! file before anything is opened: a name that does not exist or a FIFO in a list is a typo or
//! a hazard, refused with its line. A glob skips directories and the files this tool and SQLite
//! keep beside a database (`-wal`, `.migrate-lock`, …), which a pattern such as `tenants/*`
//! would otherwise match. Each database appears once, in the glob's sorted order or the list's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Names that are never a tenant database: SQLite's and this tool's files beside one.
const SIDECARS: [&str; 9] = [
    "-wal",
    "-shm",
    "-journal",
    ".migrate-lock",
    ".migrate-run",
    ".migrate-watch",
    ".migrate-probe",
    ".repair.tmp",
    ".fleet-journal",
];

/// Directories this tool keeps beside a database, whose files are never tenants (a plain
/// backup is a `.db` file inside `<db>.backups`).
const SIDECAR_DIRS: [&str; 2] = [".backups", ".archive"];

/// The databases matched by `pattern`.
///
/// # Errors
///
/// [`CliError::Usage`] for a malformed pattern, one that matches no database, or a match that is
/// neither a directory nor a regular file.
pub fn from_glob(pattern: &str) -> Result<Vec<PathBuf>, CliError> {
    // As a shell matches: `*` does not match a leading dot.
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = glob::glob_with(pattern, options)
        .map_err(|e| CliError::Usage(format!("--dbs `{pattern}`: {e}")))?;
    let mut found = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| CliError::Usage(format!("--dbs `{pattern}`: {e}")))?;
        if path.is_dir() || sidecar(&path) {
            continue;
        }
        found.push(checked(&path, &format!("--dbs `{pattern}`"))?);
    }
    if found.is_empty() {
        return Err(CliError::Usage(format!(
            "--dbs `{pattern}` matches no database file"
        )));
    }
    Ok(unique(found))
}

/// The databases named in `list`, one path a line, taken as written (spaces included; a CR
/// before the newline dropped); empty lines and lines starting with `#` are skipped (name such a
/// file `./#name`), and relative paths are relative to the list's directory.
///
/// # Errors
///
/// [`CliError::Usage`] naming the list (and line) when it cannot be read, names nothing, or
/// names something that is not a database file.
pub fn from_list(list: &Path) -> Result<Vec<PathBuf>, CliError> {
    let bytes = std::fs::read(list)
        .map_err(|e| CliError::Usage(format!("--list {}: cannot be read: {e}", list.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        CliError::Usage(format!(
            "--list {} line {line}: not UTF-8 text; a list names one path a line",
            list.display()
        ))
    })?;
    let base = list.parent().unwrap_or(Path::new(""));
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let where_ = format!("--list {} line {}", list.display(), index + 1);
        found.push(checked(&base.join(line), &where_)?);
    }
    if found.is_empty() {
        return Err(CliError::Usage(format!(
            "--list {} names no database",
            list.display()
        )));
    }
    Ok(unique(found))
}

/// Whether `path` is one of the files this tool or SQLite keeps beside a database, or inside a
/// directory this tool keeps beside one.
fn sidecar(path: &Path) -> bool {
    let name = path.to_string_lossy();
    SIDECARS.iter().any(|s| name.ends_with(s))
        || path.ancestors().skip(1).any(|dir| {
            let dir = dir.to_string_lossy();
            SIDECAR_DIRS.iter().any(|s| dir.ends_with(s))
        })
}

/// `path` resolved, if it is a regular file.
fn checked(path: &Path, where_: &str) -> Result<PathBuf, CliError> {
    let refuse = |why: String| CliError::Usage(format!("{where_}: {}: {why}", path.display()));
    let real = std::fs::canonicalize(path).map_err(|e| refuse(e.to_string()))?;
    let meta = std::fs::metadata(&real).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse(
            "is not a regular file, so never a database".to_owned(),
        ));
    }
    Ok(real)
}

/// Each path once, first mention kept.
fn unique(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    paths
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}
