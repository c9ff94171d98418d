//! Migration file names, parsed without touching the file system.
//!
//! Accepted forms, for a version `N` (digits, > 0) and a name:
//! - `N_name.up.sql`, `N_name.down.sql`, `N_name.verify.sql` (native);
//! - `N_name.sql`, an up migration (sqlx style);
//! - `VN__name.sql`, an up migration (refinery style).
//!
//! Any other `.sql` file is malformed and reported, never skipped; files that do not end in
//! `.sql` (README.md, .gitkeep) are not migrations and are ignored.

use crate::migration::Version;

/// What a migration file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// The forward script.
    Up,
    /// The script that undoes it.
    Down,
    /// Queries that must hold after it is applied.
    Verify,
}

impl FileKind {
    /// The suffix of the native form, e.g. `up`.
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Up => "up",
            FileKind::Down => "down",
            FileKind::Verify => "verify",
        }
    }
}

/// A parsed migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The version.
    pub version: Version,
    /// The name between the version and the suffix.
    pub name: String,
    /// What the file holds.
    pub kind: FileKind,
}

/// How a file name was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A migration file.
    Migration(FileName),
    /// Not a migration file at all (ignored).
    Unrelated,
    /// Looks like a migration but is malformed; the reason says why.
    Malformed(String),
}

/// Classifies one file name (not a path).
pub fn parse(file_name: &str) -> Parsed {
    if file_name.starts_with('.') {
        return Parsed::Unrelated;
    }
    let Some(stem) = strip_suffix_ignoring_case(file_name, ".sql") else {
        return Parsed::Unrelated;
    };
    match parse_stem(stem) {
        Ok(parsed) => Parsed::Migration(parsed),
        Err(reason) => Parsed::Malformed(reason),
    }
}

/// `text` without `suffix` (ASCII), matched whatever its case: `.UP.SQL` is `.up.sql`, as the
/// file systems that ignore case would have it; never skipped for its case.
fn strip_suffix_ignoring_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let at = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(at) && text[at..].eq_ignore_ascii_case(suffix)).then(|| &text[..at])
}

fn parse_stem(stem: &str) -> Result<FileName, String> {
    if let Some(rest) = stem.strip_prefix('V').or_else(|| stem.strip_prefix('v'))
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        let (digits, name) = rest
            .split_once("__")
            .ok_or_else(|| "refinery-style name must be V<version>__<name>.sql".to_owned())?;
        return Ok(FileName {
            version: parse_version(digits)?,
            name: parse_name(name)?,
            kind: FileKind::Up,
        });
    }
    let (base, kind) = if let Some(base) = strip_suffix_ignoring_case(stem, ".up") {
        (base, FileKind::Up)
    } else if let Some(base) = strip_suffix_ignoring_case(stem, ".down") {
        (base, FileKind::Down)
    } else if let Some(base) = strip_suffix_ignoring_case(stem, ".verify") {
        (base, FileKind::Verify)
    } else {
        (stem, FileKind::Up)
    };
    let digits_end = base
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(base.len());
    if digits_end == 0 {
        return Err(
            "expected <version>_<name>.up.sql, .down.sql, .verify.sql, <version>_<name>.sql \
             or V<version>__<name>.sql"
                .to_owned(),
        );
    }
    let (digits, rest) = base.split_at(digits_end);
    let name = rest
        .strip_prefix('_')
        .ok_or_else(|| format!("expected `_` after version {digits}"))?;
    Ok(FileName {
        version: parse_version(digits)?,
        name: parse_name(name)?,
        kind,
    })
}

fn parse_version(digits: &str) -> Result<Version, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("version `{digits}` is not a number"));
    }
    let version: Version = digits
        .parse()
        .map_err(|_| format!("version `{digits}` is too large"))?;
    if version == 0 {
        return Err("version must be greater than 0".to_owned());
    }
    Ok(version)
}

fn parse_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("missing name after the version".to_owned());
    }
    if name.contains('.') {
        return Err(format!(
            "name `{name}` contains `.`; the suffix must be .up.sql, .down.sql or .verify.sql"
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(file: &str) -> (Version, String, FileKind) {
        match parse(file) {
            Parsed::Migration(f) => (f.version, f.name, f.kind),
            other => panic!("{file}: {other:?}"),
        }
    }

    fn malformed(file: &str) -> String {
        match parse(file) {
            Parsed::Malformed(reason) => reason,
            other => panic!("{file}: {other:?}"),
        }
    }

    #[test]
    fn native_forms() {
        assert_eq!(
            ok("0001_create_users.up.sql"),
            (1, "create_users".into(), FileKind::Up)
        );
        assert_eq!(
            ok("0001_create_users.down.sql"),
            (1, "create_users".into(), FileKind::Down)
        );
        assert_eq!(ok("12_x.verify.sql"), (12, "x".into(), FileKind::Verify));
        assert_eq!(ok("0002_ADD_X.UP.SQL"), (2, "ADD_X".into(), FileKind::Up));
        assert_eq!(
            ok("0002_add_x.Down.Sql"),
            (2, "add_x".into(), FileKind::Down)
        );
        assert_eq!(ok("3_é.VERIFY.sql"), (3, "é".into(), FileKind::Verify));
    }

    #[test]
    fn sqlx_and_refinery_forms() {
        assert_eq!(
            ok("20240101120000_init.sql"),
            (20240101120000, "init".into(), FileKind::Up)
        );
        assert_eq!(
            ok("V1__create_users.sql"),
            (1, "create_users".into(), FileKind::Up)
        );
        assert_eq!(ok("V10__a_b.sql"), (10, "a_b".into(), FileKind::Up));
    }

    #[test]
    fn unrelated_files_are_ignored() {
        for f in ["README.md", ".gitkeep", ".0001_x.up.sql.swp", "notes.txt"] {
            assert_eq!(parse(f), Parsed::Unrelated, "{f}");
        }
    }

    #[test]
    fn malformed_names_say_why() {
        assert_eq!(
            malformed("0000_zero.up.sql"),
            "version must be greater than 0"
        );
        assert_eq!(malformed("0001.up.sql"), "expected `_` after version 0001");
        assert_eq!(malformed("0001_.up.sql"), "missing name after the version");
        assert!(malformed("seed.sql").starts_with("expected <version>_<name>"));
        assert_eq!(
            malformed("99999999999999999999_big.up.sql"),
            "version `99999999999999999999` is too large"
        );
        assert!(malformed("0001_x.updown.sql").contains("contains `.`"));
        assert_eq!(
            malformed("V1_single_underscore.sql"),
            "refinery-style name must be V<version>__<name>.sql"
        );
    }
}
