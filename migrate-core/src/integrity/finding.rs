//! Structured integrity findings: SQLite's messages parsed into what is wrong, where (page,
//! b-tree), and which table it belongs to.

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
    /// A row violates NOT NULL or CHECK.
    Constraint,
    /// A row references a missing parent.
    ForeignKey,
    /// The file header disagrees with the file (size, page count).
    Header,
    /// SQLite could not read the database far enough to check it.
    Unreadable,
    /// A message this version does not classify (reported as SQLite wrote it).
    Other,
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
    /// The table or index the b-tree is (via `sqlite_schema`), when known.
    pub object: Option<String>,
    /// The table the problem belongs to (the index's table, for an index), when known.
    pub table: Option<String>,
    /// The message, as SQLite (or this crate) wrote it.
    pub message: String,
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
        write!(f, ": {}", self.message)
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

/// Parses one line of `PRAGMA integrity_check` / `quick_check` output (SQLite 3.44+ wording,
/// and the older `On tree page` form). `None` for lines that are not findings (`ok`, the
/// `*** in database main ***` banner).
pub(crate) fn parse(line: &str) -> Option<Parsed> {
    let line = line.trim();
    if line.is_empty() || line == "ok" || line.starts_with("*** in database") {
        return None;
    }
    let mut parsed = Parsed {
        kind: FindingKind::Other,
        page: None,
        root: None,
        named: None,
        message: line.to_owned(),
    };
    if let Some(rest) = line.strip_prefix("Tree ") {
        // "Tree R page P cell C: ..." or "Tree R page P: ..."
        let mut words = rest.split_whitespace();
        parsed.root = words.next().and_then(number);
        if words.next() == Some("page") {
            parsed.page = words.next().and_then(number);
        }
        parsed.kind = page_kind(line);
    } else if let Some(rest) = line.strip_prefix("On tree page ") {
        parsed.page = rest.split_whitespace().next().and_then(number);
        parsed.root = parsed.page;
        parsed.kind = page_kind(line);
    } else if let Some(rest) = line.strip_prefix("Page ") {
        // "Page P: never used", "Page P is never used", "Page P: 2nd reference..."
        parsed.page = rest.split([':', ' ']).next().and_then(number);
        parsed.kind = FindingKind::Freelist;
    } else if line.starts_with("Freelist:") || line.contains("freelist") {
        parsed.kind = FindingKind::Freelist;
    } else if let Some(index) = after(line, " missing from index ")
        .or_else(|| after(line, "wrong # of entries in index "))
        .or_else(|| after(line, "non-unique entry in index "))
    {
        parsed.kind = FindingKind::Index;
        parsed.named = Some(index.to_owned());
    } else if let Some(column) = line.strip_prefix("NULL value in ") {
        parsed.kind = FindingKind::Constraint;
        parsed.named = column.split('.').next().map(str::to_owned);
    } else if line == "database disk image is malformed" {
        // What quick_check says when it stops at a page it cannot parse, with no location.
        parsed.kind = FindingKind::Page;
    } else if let Some(table) = line.strip_prefix("CHECK constraint failed in ") {
        parsed.kind = FindingKind::Constraint;
        parsed.named = Some(table.trim().to_owned());
    }
    Some(parsed)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Parsed {
        parse(line).unwrap()
    }

    #[test]
    fn skips_ok_and_banner() {
        assert_eq!(parse("ok"), None);
        assert_eq!(parse("*** in database main ***"), None);
    }

    #[test]
    fn page_level_messages_name_tree_and_page() {
        let f = p("Tree 3 page 20 cell 1: Offset 65535 out of range 176..4092");
        assert_eq!(
            (f.kind, f.root, f.page),
            (FindingKind::Page, Some(3), Some(20))
        );
        let f = p("Tree 4 page 4: btreeInitPage() returns error code 11");
        assert_eq!(
            (f.kind, f.root, f.page),
            (FindingKind::Page, Some(4), Some(4))
        );
        let f = p("On tree page 7 cell 2: invalid page number 999");
        assert_eq!((f.kind, f.page), (FindingKind::Page, Some(7)));
    }

    #[test]
    fn freelist_messages() {
        let f = p("Page 8: never used");
        assert_eq!((f.kind, f.page), (FindingKind::Freelist, Some(8)));
        let f = p("Tree 2 page 2 cell 1: 2nd reference to page 5");
        assert_eq!(f.kind, FindingKind::Freelist);
        assert_eq!(
            p("Freelist: size is 3 but should be 4").kind,
            FindingKind::Freelist
        );
    }

    #[test]
    fn index_and_constraint_messages_name_their_object() {
        let f = p("row 1 missing from index t_v");
        assert_eq!(
            (f.kind, f.named.as_deref()),
            (FindingKind::Index, Some("t_v"))
        );
        let f = p("wrong # of entries in index t_w");
        assert_eq!(
            (f.kind, f.named.as_deref()),
            (FindingKind::Index, Some("t_w"))
        );
        let f = p("NULL value in t.v");
        assert_eq!(
            (f.kind, f.named.as_deref()),
            (FindingKind::Constraint, Some("t"))
        );
        let f = p("CHECK constraint failed in tasks");
        assert_eq!(
            (f.kind, f.named.as_deref()),
            (FindingKind::Constraint, Some("tasks"))
        );
    }

    #[test]
    fn anything_else_is_kept_verbatim() {
        let f = p("something new in SQLite 4");
        assert_eq!(
            (f.kind, f.message.as_str()),
            (FindingKind::Other, "something new in SQLite 4")
        );
    }
}
