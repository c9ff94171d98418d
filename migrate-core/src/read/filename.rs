//! Migration file names, parsed without touching the file system.
//!
//! Accepted forms, for a version `N` (digits, > 0) and a name:
//! - `N_name.up.sql`, `N_name.down.sql`, `N_name.verify.sql` (native);
//! - `N_name.sql`, an up migration (sqlx style);
//! - `VN__name.sql`, an up migration (refinery style).
//!
//! Any other `.sql` file is malformed and reported, never skipped; files that do not end in
//! `.sql` (README.md, .gitkeep) are not migrations and are ignored.

use crate::read::migration::Version;

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

/// The naming rules of one family of tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Ours and sqlx's (`.up`/`.down`/`.verify` or none), and refinery's `V<n>__<name>.sql`.
    Native,
    /// golang-migrate: `<n>_<name>.up.sql` / `.down.sql`, version 0 allowed, dots in names.
    GolangMigrate,
    /// refinery: `V<n>__<name>.sql` and `U<n>__<name>.sql` (unversioned, still an up migration).
    Refinery,
    /// Flyway: `V<n>__<name>.sql` up, `U<n>__<name>.sql` its undo; repeatable `R__` files are
    /// refused (nothing in this model reruns a file whenever it changes).
    Flyway,
}

impl Style {
    /// Whether the layout's tool finds migrations in sub-directories too (refinery walks the
    /// directory; Flyway scans its locations recursively).
    pub(crate) fn reads_subdirectories(self) -> bool {
        matches!(self, Style::Refinery | Style::Flyway)
    }
}

/// Classifies one file name (not a path) by the rules of `style`.
pub fn parse_as(file_name: &str, style: Style) -> Parsed {
    if file_name.starts_with('.') {
        return Parsed::Unrelated;
    }
    let Some(stem) = strip_suffix_ignoring_case(file_name, ".sql") else {
        return Parsed::Unrelated;
    };
    let parsed = match style {
        Style::Native => parse_stem(stem),
        Style::GolangMigrate => parse_golang_migrate(stem),
        Style::Refinery | Style::Flyway => parse_prefixed(stem, style),
    };
    match parsed {
        Ok(parsed) => Parsed::Migration(parsed),
        Err(reason) => Parsed::Malformed(reason),
    }
}

fn parse_golang_migrate(stem: &str) -> Result<FileName, String> {
    let (base, kind) = if let Some(base) = strip_suffix_ignoring_case(stem, ".up") {
        (base, FileKind::Up)
    } else if let Some(base) = strip_suffix_ignoring_case(stem, ".down") {
        (base, FileKind::Down)
    } else {
        return Err("golang-migrate names are <version>_<title>.up.sql or .down.sql".to_owned());
    };
    let (digits, name) = base
        .split_once('_')
        .ok_or_else(|| "expected <version>_<title>".to_owned())?;
    let version = parse_digits(digits)?;
    if name.is_empty() {
        return Err("missing title after the version".to_owned());
    }
    Ok(FileName {
        version,
        name: name.to_owned(),
        kind,
    })
}

fn parse_prefixed(stem: &str, style: Style) -> Result<FileName, String> {
    match style {
        Style::Refinery => parse_refinery(stem),
        _ => parse_flyway(stem),
    }
}

/// Flyway's names, as its `ResourceNameParser` reads them: an upper-case prefix (`V` versioned,
/// `U` its undo, `R` repeatable, refused here), the version up to the first `__`, the
/// description after it. The version is Flyway's: `_` is a `.`, and trailing zero parts do not
/// count (`1.0`, `1_0` and `01` are all version 1, so two of them are one version twice).
/// Versions here are whole numbers, so one with a part after that (`1.1`) is refused by name.
/// Flyway skips a file whose prefix or version it cannot read (logged, never run): refused here
/// rather than applied.
fn parse_flyway(stem: &str) -> Result<FileName, String> {
    let (prefix, rest) = stem.split_at(stem.chars().next().map_or(0, char::len_utf8));
    let kind = match prefix {
        "V" => FileKind::Up,
        "U" => FileKind::Down,
        "R" if rest.starts_with("__") => {
            return Err(
                "a repeatable migration (R__): rerunning a file whenever it changes is not supported; make it a versioned V file"
                    .to_owned(),
            );
        }
        "v" | "u" | "r" => {
            return Err(format!(
                "Flyway skips this file: its prefixes are upper case (V, U, R), `{prefix}` is not one; rename it"
            ));
        }
        _ => return Err("expected V<version>__<name>.sql or U<version>__<name>.sql".to_owned()),
    };
    let (version, name) = rest
        .split_once("__")
        .ok_or_else(|| "expected <prefix><version>__<name>.sql".to_owned())?;
    let version = flyway_version(version).map_err(|reason| match reason {
        FlywayVersion::Unreadable => format!(
            "Flyway skips this file: it cannot read `{version}` as a version (digits and dots: 1, 1.2, 1_2); rename it"
        ),
        FlywayVersion::Dotted(normal) => format!(
            "dotted version {version} (Flyway's {normal}): versions here are whole numbers; rename the file"
        ),
        FlywayVersion::TooLarge(reason) => reason,
    })?;
    if name.is_empty() {
        return Err("missing name after the version".to_owned());
    }
    Ok(FileName {
        version,
        name: name.to_owned(),
        kind,
    })
}

/// Why a Flyway version is not a version here.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FlywayVersion {
    /// Flyway cannot read it either.
    Unreadable,
    /// A version with a part after the whole number (Flyway's normal form given).
    Dotted(String),
    /// Beyond a 64-bit version.
    TooLarge(String),
}

/// A Flyway version (`1`, `01`, `1.0`, `1_0`, as in a file name or `flyway_schema_history`)
/// as a whole number: `_` is `.`, trailing zero parts do not count, as in Flyway's
/// `MigrationVersion`.
pub(crate) fn flyway_version(text: &str) -> Result<Version, FlywayVersion> {
    let dotted = text.replace('_', ".");
    let mut parts: Vec<&str> = dotted.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(FlywayVersion::Unreadable);
    }
    while parts.len() > 1 && parts.last().is_some_and(|p| p.bytes().all(|b| b == b'0')) {
        parts.pop();
    }
    match parts.as_slice() {
        [whole] => parse_digits(whole).map_err(FlywayVersion::TooLarge),
        _ => Err(FlywayVersion::Dotted(parts.join("."))),
    }
}

/// refinery's names, as its pattern `^([U|V])(\d+(?:\.\d+)?)__(\w+)\.sql$` reads them: an
/// upper-case `V` (versioned) or `U` (unversioned: refinery applies it even below the latest
/// version; both are up migrations here), digits (0 allowed), `__`, and word characters.
/// refinery skips any other `.sql` file with a warning, so a file it would skip is refused
/// here by name rather than applied: refinery never applied it.
fn parse_refinery(stem: &str) -> Result<FileName, String> {
    let skipped = |why: &str| {
        Err(format!(
            "refinery skips this file ({why}; its names are V<version>__<word characters>.sql or U…): rename it, or move it out of the directory"
        ))
    };
    let Some(rest) = stem.strip_prefix(['V', 'U']) else {
        return skipped("the prefix must be an upper-case V or U");
    };
    let Some((digits, name)) = rest.split_once("__") else {
        return skipped("no `__` after the version");
    };
    if digits.contains('.') {
        return Err(format!(
            "dotted version {digits}: refinery cannot parse it as a whole number either; rename the file"
        ));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return skipped("its name has a character other than letters, digits and `_`");
    }
    Ok(FileName {
        version: parse_digits(digits)?,
        name: name.to_owned(),
        kind: FileKind::Up,
    })
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

/// A version of digits only; 0 allowed (golang-migrate, diesel).
pub(crate) fn parse_digits(digits: &str) -> Result<Version, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("version `{digits}` is not a number"));
    }
    digits
        .parse()
        .map_err(|_| format!("version `{digits}` is too large"))
}

fn parse_version(digits: &str) -> Result<Version, String> {
    let version = parse_digits(digits)?;
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

    fn parse(file_name: &str) -> Parsed {
        parse_as(file_name, Style::Native)
    }

    /// The migration `file` names under `style`'s rules (the test fails if it names none).
    fn migration_as(file: &str, style: Style) -> (Version, String, FileKind) {
        let parsed = parse_as(file, style);
        let Parsed::Migration(f) = parsed else {
            panic!("{file}: {parsed:?}")
        };
        (f.version, f.name, f.kind)
    }

    /// Why `file` is refused under `style`'s rules (the test fails if it is not).
    fn malformed_as(file: &str, style: Style) -> String {
        let parsed = parse_as(file, style);
        let Parsed::Malformed(reason) = parsed else {
            panic!("{file}: {parsed:?}")
        };
        reason
    }

    fn ok(file: &str) -> (Version, String, FileKind) {
        migration_as(file, Style::Native)
    }

    fn malformed(file: &str) -> String {
        malformed_as(file, Style::Native)
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
    fn golang_migrate_allows_version_0_and_dots_in_titles() {
        let parsed = |f| migration_as(f, Style::GolangMigrate);
        assert_eq!(
            parsed("0_initial.up.sql"),
            (0, "initial".into(), FileKind::Up)
        );
        assert_eq!(
            parsed("12_passkey_backup_flags..down.sql"),
            (12, "passkey_backup_flags.".into(), FileKind::Down)
        );
        for (file, said) in [
            ("3_x.sql", "golang-migrate names are"),
            ("3.up.sql", "expected <version>_<title>"),
            ("3_.up.sql", "missing title after the version"),
        ] {
            let reason = malformed_as(file, Style::GolangMigrate);
            assert!(reason.contains(said), "{file}: {reason}");
        }
    }

    #[test]
    fn flyway_undo_refinery_unversioned_and_repeatable_refused() {
        let kind = |f, style| migration_as(f, style).2;
        assert_eq!(kind("U3__x.sql", Style::Flyway), FileKind::Down);
        assert_eq!(kind("U3__x.sql", Style::Refinery), FileKind::Up);
        assert_eq!(kind("V3__x.sql", Style::Flyway), FileKind::Up);
        assert!(malformed_as("R__views.sql", Style::Flyway).contains("repeatable"));
        // Flyway's version 1 however written; lower-case prefixes and unreadable versions are
        // files Flyway skips.
        for file in ["V1.0__x.sql", "V1_0__x.sql", "V01__x.sql", "V1.0.0__x.sql"] {
            assert_eq!(migration_as(file, Style::Flyway).0, 1, "{file}");
        }
        for (file, said) in [
            ("v2__x.sql", "prefixes are upper case"),
            ("V1..2__x.sql", "cannot read `1..2`"),
            ("V1a__x.sql", "cannot read `1a`"),
            ("V1_1__x.sql", "dotted version 1_1 (Flyway's 1.1)"),
            ("V1.1__x.sql", "dotted version"),
            (
                "B1__x.sql",
                "expected V<version>__<name>.sql or U<version>__<name>.sql",
            ),
            ("V3_x.sql", "expected <prefix><version>__<name>.sql"),
            ("V3__.sql", "missing name after the version"),
            ("V99999999999999999999__x.sql", "too large"),
        ] {
            let reason = malformed_as(file, Style::Flyway);
            assert!(reason.contains(said), "{file}: {reason}");
        }
        for (file, said) in [
            ("v3__x.sql", "the prefix must be an upper-case V or U"),
            ("V3_x.sql", "no `__` after the version"),
            (
                "V1.2__x.sql",
                "dotted version 1.2: refinery cannot parse it",
            ),
            ("V3__a-b.sql", "a character other than letters"),
        ] {
            let reason = malformed_as(file, Style::Refinery);
            assert!(reason.contains(said), "{file}: {reason}");
        }
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
