//! Structured integrity findings: SQLite's messages parsed into what is wrong, where (page,
//! b-tree), and which table or index it belongs to.
//!
//! Parsing fails safe. A check passes only when SQLite answered exactly one row, `ok`
//! ([`lines_of`]); any other answer is split into its lines (SQLite packs every b-tree message
//! of a database into one multi-line row under a `*** in database main ***` banner), and every
//! line becomes a finding. A line this module does not recognise is still a finding, of kind
//! [`FindingKind::Unknown`], with SQLite's text kept.

use std::fmt;

use serde::Serialize;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A b-tree page is damaged (bad offsets, invalid page type, bad cell).
    Page,
    /// A page is used twice, never used, or the freelist is wrong.
    Freelist,
    /// An index disagrees with its table (missing or extra entries, wrong count, duplicates
    /// under UNIQUE).
    Index,
    /// A row violates NOT NULL, CHECK or a STRICT column type.
    Constraint,
    /// A row references a missing parent.
    ForeignKey,
    /// The file header disagrees with the file (size, page count, largest root page).
    Header,
    /// SQLite could not read the database (or a part of it) far enough to check it.
    Unreadable,
    /// A message this version does not classify, reported as SQLite wrote it. It counts as
    /// damage: what is not understood is not ok.
    Unknown,
    /// SQLite gave no answer for this part: it was locked, needs a recovery, could not be read
    /// or ran out of time (the finding's `obstacle` says which). Not ok, and not damage.
    Unchecked,
}

impl FindingKind {
    /// Whether a finding of this kind is damage to the file. Every kind is but
    /// [`FindingKind::ForeignKey`] (orphaned rows are the application's data, which a run or a
    /// check reports without calling the file damaged) and [`FindingKind::Unchecked`] (no
    /// answer is not a verdict of damage).
    pub fn is_damage(self) -> bool {
        !matches!(self, FindingKind::ForeignKey | FindingKind::Unchecked)
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The page concerned, when SQLite names one.
    pub page: Option<u64>,
    /// The root page of the b-tree concerned, when SQLite names one.
    pub root: Option<u64>,
    /// The table or index concerned (from the message, its b-tree's root page, its page, or by
    /// checking each object on its own), when it could be told.
    pub object: Option<String>,
    /// The table the problem belongs to (the index's table, for an index), when known.
    pub table: Option<String>,
    /// The message, as SQLite (or this crate) wrote it.
    pub message: String,
    /// What stopped SQLite, for a finding of kind [`FindingKind::Unchecked`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obstacle: Option<crate::vocab::verdict::Obstacle>,
}

impl Finding {
    /// Whether this finding is damage to the file (see [`FindingKind::is_damage`]).
    pub fn is_damage(&self) -> bool {
        self.kind.is_damage()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}]", self.kind)?;
        if let Some(table) = &self.table {
            write!(f, " table {table}")?;
        }
        if let Some(object) = self
            .object
            .as_ref()
            .filter(|o| Some(*o) != self.table.as_ref())
        {
            write!(f, " ({object})")?;
        }
        if let Some(page) = self.page {
            write!(f, " page {page}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(obstacle) = self.obstacle {
            write!(f, " ({obstacle}: {})", obstacle.explain())?;
        }
        Ok(())
    }
}

/// A message parsed, before its b-tree is mapped to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub kind: FindingKind,
    pub page: Option<u64>,
    pub root: Option<u64>,
    /// An index or table named in the message itself.
    pub named: Option<String>,
    pub message: String,
}

/// The lines of an answer to `quick_check` / `integrity_check` that are findings: none when
/// the answer is exactly one row `ok`; otherwise every line of every row but the `*** in
/// database X ***` banners, and when that leaves nothing (no rows, only banners), one line
/// saying what SQLite answered instead of `ok`.
pub(crate) fn lines_of(rows: &[String]) -> Vec<String> {
    if rows.len() == 1 && rows[0] == "ok" {
        return Vec::new();
    }
    let lines: Vec<String> = rows
        .iter()
        .flat_map(|row| row.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_banner(line))
        .map(str::to_owned)
        .collect();
    if !lines.is_empty() {
        return lines;
    }
    vec![if rows.is_empty() {
        "the check returned no rows instead of `ok`".to_owned()
    } else {
        format!("the check answered {rows:?} instead of `ok`")
    }]
}

fn is_banner(line: &str) -> bool {
    line.starts_with("*** in database ") && line.ends_with("***")
}

/// Parses one finding line of `PRAGMA integrity_check` / `quick_check` (SQLite 3.44+ wording,
/// and the older `On tree page` form). A line it does not recognise is [`FindingKind::Unknown`]
/// with the text kept; nothing is dropped.
pub(crate) fn parse(line: &str) -> Parsed {
    let line = line.trim();
    let mut parsed = Parsed {
        kind: FindingKind::Unknown,
        page: None,
        root: None,
        named: None,
        message: line.to_owned(),
    };
    if let Some(rest) = line.strip_prefix("Tree ") {
        // "Tree R page P cell C: ...", "Tree R page P right child: ..." or "Tree R page P: ..."
        let mut words = rest.split_whitespace();
        parsed.root = words.next().and_then(number);
        if words.next() == Some("page") {
            parsed.page = words.next().and_then(number);
        }
        parsed.kind = page_kind(line);
    } else if let Some(rest) = line.strip_prefix("On tree page ") {
        parsed.page = rest.split_whitespace().next().and_then(number);
        parsed.kind = page_kind(line);
    } else if let Some(rest) = line.strip_prefix("Page ") {
        // "Page P: never used", "Page P is never used", "Page P: pointer map referenced"
        parsed.page = rest.split([':', ' ']).next().and_then(number);
        parsed.kind = FindingKind::Freelist;
    } else if line.to_ascii_lowercase().contains("freelist") {
        parsed.kind = FindingKind::Freelist;
        parsed.page = after(line, " on page ").and_then(number);
    } else if line.starts_with("max rootpage") || line.starts_with("incremental_vacuum enabled") {
        parsed.kind = FindingKind::Header;
    } else if let Some(index) = last_word_after(line, " index ") {
        // "row R missing from index I", "wrong # of entries in index I", "non-unique entry in
        // index I", "rowid not at end-of-record for row R of index I", ...
        parsed.kind = FindingKind::Index;
        parsed.named = Some(index.to_owned());
    } else if let Some(column) = ["NULL value in ", "NaN value in "]
        .iter()
        .find_map(|p| line.strip_prefix(p))
        .or_else(|| strict_type(line))
    {
        parsed.kind = FindingKind::Constraint;
        parsed.named = column.rsplit_once('.').map(|(table, _)| table.to_owned());
    } else if let Some(table) = line.strip_prefix("CHECK constraint failed in ") {
        parsed.kind = FindingKind::Constraint;
        parsed.named = Some(table.trim().to_owned());
    } else if let Some(table) = line.strip_prefix("row not in PRIMARY KEY order for ") {
        parsed.kind = FindingKind::Page;
        parsed.named = Some(table.trim().to_owned());
    } else if let Some(table) = after(line, " FTS5 table ") {
        // "malformed inverted index for FTS5 table main.T", "unable to validate ... main.T: ..."
        parsed.kind = FindingKind::Index;
        let table = table.trim_end_matches(':');
        parsed.named = Some(table.split_once('.').map_or(table, |(_, t)| t).to_owned());
    } else if is_unreadable(line) {
        parsed.kind = FindingKind::Unreadable;
    }
    parsed
}

/// "non-INTEGER value in T.C" (a STRICT table's column holding another type).
fn strict_type(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("non-")?;
    let (_, column) = rest.split_once(" value in ")?;
    Some(column)
}

/// SQLite's words for a read that failed, with no location of its own.
fn is_unreadable(line: &str) -> bool {
    const WORDS: [&str; 4] = [
        "malformed",
        "file is not a database",
        "disk I/O error",
        "cannot read",
    ];
    WORDS.iter().any(|w| line.contains(w))
}

fn page_kind(line: &str) -> FindingKind {
    if line.contains("reference to page") || line.contains("never used") {
        FindingKind::Freelist
    } else {
        FindingKind::Page
    }
}

fn number(word: &str) -> Option<u64> {
    word.trim_end_matches([':', ',']).parse().ok()
}

/// The first word after `marker` in `line`.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let start = line.find(marker)? + marker.len();
    line[start..].split_whitespace().next()
}

/// The first word after the last `marker` in `line`, when it ends the line.
fn last_word_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let start = line.rfind(marker)? + marker.len();
    let rest = line[start..].trim();
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rows: &[&str]) -> Vec<String> {
        rows.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn only_a_single_ok_row_is_ok() {
        assert!(lines_of(&rows(&["ok"])).is_empty());
        assert_eq!(lines_of(&rows(&[])).len(), 1);
        assert_eq!(lines_of(&rows(&["ok", "ok"])).len(), 2);
        assert_eq!(lines_of(&rows(&["OK"])), ["OK"]);
        assert_eq!(lines_of(&rows(&["*** in database main ***"])).len(), 1);
        assert_eq!(lines_of(&rows(&["ok "])), ["ok"]);
    }

    #[test]
    fn a_multi_line_row_is_split_and_its_banner_dropped() {
        let answer = rows(&[
            "*** in database main ***\nTree 3 page 3 cell 0: invalid page number 4294967295\nTree 3 page 3 cell 57: Offset 65535 out of range 3749..4092",
            "NULL value in t.v",
        ]);
        let lines = lines_of(&answer);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let first = parse(&lines[0]);
        assert_eq!(
            (first.kind, first.root, first.page),
            (FindingKind::Page, Some(3), Some(3))
        );
        assert_eq!(parse(&lines[2]).kind, FindingKind::Constraint);
    }

    #[test]
    fn page_level_messages_name_tree_and_page() {
        let f = parse("Tree 3 page 20 cell 1: Offset 65535 out of range 176..4092");
        assert_eq!(
            (f.kind, f.root, f.page),
            (FindingKind::Page, Some(3), Some(20))
        );
        let f = parse("Tree 4 page 4: btreeInitPage() returns error code 11");
        assert_eq!(
            (f.kind, f.root, f.page),
            (FindingKind::Page, Some(4), Some(4))
        );
        let f = parse("Tree 4 page 9 right child: Child page depth differs");
        assert_eq!((f.root, f.page), (Some(4), Some(9)));
        let f = parse("On tree page 7 cell 2: invalid page number 999");
        assert_eq!((f.kind, f.page, f.root), (FindingKind::Page, Some(7), None));
    }

    #[test]
    fn freelist_and_header_messages() {
        let f = parse("Page 8: never used");
        assert_eq!((f.kind, f.page), (FindingKind::Freelist, Some(8)));
        let f = parse("Tree 2 page 2 cell 1: 2nd reference to page 5");
        assert_eq!(f.kind, FindingKind::Freelist);
        assert_eq!(
            parse("Freelist: size is 3 but should be 4").kind,
            FindingKind::Freelist
        );
        let f = parse("Main freelist: freelist leaf count too big on page 12");
        assert_eq!((f.kind, f.page), (FindingKind::Freelist, Some(12)));
        assert_eq!(
            parse("max rootpage (9) disagrees with header (7)").kind,
            FindingKind::Header
        );
    }

    #[test]
    fn index_and_constraint_messages_name_their_object() {
        let named = |line: &str| {
            let f = parse(line);
            (f.kind, f.named)
        };
        let index = |name: &str| (FindingKind::Index, Some(name.to_owned()));
        let constraint = |name: &str| (FindingKind::Constraint, Some(name.to_owned()));
        assert_eq!(named("row 1 missing from index t_v"), index("t_v"));
        assert_eq!(named("wrong # of entries in index t_w"), index("t_w"));
        assert_eq!(named("non-unique entry in index u"), index("u"));
        assert_eq!(
            named("rowid not at end-of-record for row 7 of index t_x"),
            index("t_x")
        );
        assert_eq!(
            named("malformed inverted index for FTS5 table main.docs"),
            index("docs")
        );
        assert_eq!(named("NULL value in t.v"), constraint("t"));
        assert_eq!(named("NaN value in t.v"), constraint("t"));
        assert_eq!(named("non-INTEGER value in s.n"), constraint("s"));
        assert_eq!(
            named("CHECK constraint failed in tasks"),
            constraint("tasks")
        );
        assert_eq!(
            named("row not in PRIMARY KEY order for w"),
            (FindingKind::Page, Some("w".to_owned()))
        );
    }

    #[test]
    fn errors_raised_part_way_are_unreadable() {
        assert_eq!(
            parse("database disk image is malformed").kind,
            FindingKind::Unreadable
        );
        assert_eq!(
            parse("file is not a database").kind,
            FindingKind::Unreadable
        );
    }

    #[test]
    fn anything_else_is_kept_verbatim_as_unknown() {
        let f = parse("something new in SQLite 4");
        assert_eq!(
            (f.kind, f.message.as_str()),
            (FindingKind::Unknown, "something new in SQLite 4")
        );
        assert!(f.kind.is_damage());
        assert!(!FindingKind::ForeignKey.is_damage());
    }
}
