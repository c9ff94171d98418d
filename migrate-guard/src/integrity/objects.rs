//! The tables and indexes of a database, by name, by root page and by page: what a check's
//! messages are located with.
//!
//! SQLite names a b-tree by its root page ("Tree 3 page 20 …"), which `sqlite_schema` maps to
//! its table or index. Where a message names only a page, the page is looked up in the b-trees
//! walked one object at a time through `dbstat`; a walk that fails part-way is itself evidence
//! of damage in that object.

use std::collections::HashMap;

use rusqlite::Connection;

use super::finding::{self, Finding, FindingKind, Parsed};
use crate::vocab::verdict::{Stop, classify, message};

/// One table or index with a b-tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Object {
    pub name: String,
    pub table: String,
    pub root: u64,
}

/// Tables and indexes by name and by root page, from `sqlite_schema`.
pub(super) struct Objects {
    by_root: HashMap<u64, (String, String)>,
    table_of: HashMap<String, String>,
    /// Every table, in schema order.
    pub tables: Vec<String>,
    /// Every object with a b-tree, in schema order.
    pub btrees: Vec<Object>,
}

impl Objects {
    /// Reads `sqlite_schema`.
    ///
    /// # Errors
    ///
    /// SQLite's error when the schema cannot be read: the caller reports it as a finding.
    pub fn read(conn: &Connection) -> rusqlite::Result<Self> {
        let rows: Vec<(String, String, String, Option<i64>)> = conn
            .prepare("SELECT type, name, tbl_name, rootpage FROM sqlite_schema")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut objects = Objects {
            by_root: HashMap::new(),
            table_of: HashMap::new(),
            tables: Vec::new(),
            btrees: Vec::new(),
        };
        // sqlite_schema's own b-tree, page 1, is not listed in itself.
        objects.btrees.push(Object {
            name: "sqlite_schema".to_owned(),
            table: "sqlite_schema".to_owned(),
            root: 1,
        });
        objects
            .by_root
            .insert(1, ("sqlite_schema".to_owned(), "sqlite_schema".to_owned()));
        for (kind, name, table, root) in rows {
            if let Some(root) = root.filter(|r| *r > 0) {
                let root = root as u64;
                objects.by_root.insert(root, (name.clone(), table.clone()));
                objects.btrees.push(Object {
                    name: name.clone(),
                    table: table.clone(),
                    root,
                });
            }
            if kind == "table" {
                objects.tables.push(name.clone());
            }
            objects.table_of.insert(name, table);
        }
        Ok(objects)
    }

    /// No objects: what a check works with when the schema cannot be read.
    pub fn none() -> Self {
        Objects {
            by_root: HashMap::new(),
            table_of: HashMap::new(),
            tables: Vec::new(),
            btrees: Vec::new(),
        }
    }

    /// Parses finding lines, locating each; `checked` is the table a per-table check ran on,
    /// the owner of anything it reports without a location.
    pub fn locate_all(&self, lines: &[String], checked: Option<&str>) -> Vec<Finding> {
        lines
            .iter()
            .map(|l| {
                let mut f = self.locate(finding::parse(l));
                if f.table.is_none() {
                    f.table = checked.map(str::to_owned);
                }
                f
            })
            .collect()
    }

    fn locate(&self, p: Parsed) -> Finding {
        let (object, table) = match (&p.named, p.root.and_then(|r| self.by_root.get(&r))) {
            (Some(named), _) => (
                Some(named.clone()),
                self.table_of
                    .get(named)
                    .cloned()
                    .or_else(|| Some(named.clone())),
            ),
            (None, Some((name, table))) => (Some(name.clone()), Some(table.clone())),
            (None, None) => (None, None),
        };
        Finding {
            kind: p.kind,
            page: p.page,
            root: p.root,
            object,
            table,
            message: p.message,
            obstacle: None,
        }
    }
}

/// Which object each page belongs to, from walking every b-tree through `dbstat`, one object at
/// a time; and the objects whose walk SQLite could not finish.
pub(super) struct PageMap {
    owner: HashMap<u64, usize>,
    objects: Vec<Object>,
    /// Objects whose walk SQLite stopped as damaged, with its message.
    pub unwalkable: Vec<(Object, String)>,
}

impl PageMap {
    /// Walks every b-tree of `objects`. Where `dbstat` is not compiled in, every walk fails
    /// alike, and nothing is mapped (nor called unwalkable).
    pub fn read(conn: &Connection, objects: &Objects) -> Self {
        let mut map = PageMap {
            owner: HashMap::new(),
            objects: objects.btrees.clone(),
            unwalkable: Vec::new(),
        };
        let Ok(mut stmt) = conn.prepare("SELECT pageno FROM dbstat WHERE name = ?1") else {
            return map;
        };
        for (i, object) in objects.btrees.iter().enumerate() {
            let walked: rusqlite::Result<Vec<i64>> = stmt
                .query_map([&object.name], |r| r.get(0))
                .and_then(|rows| rows.collect());
            match walked {
                Ok(pages) => {
                    for page in pages {
                        map.owner.entry(page as u64).or_insert(i);
                    }
                }
                // Only damage is evidence of damage: a walk stopped by a lock says nothing.
                Err(e) if classify(&e) == Stop::Damage => {
                    map.unwalkable.push((object.clone(), message(&e)));
                }
                Err(_) => {}
            }
        }
        map
    }

    /// The object page `page` belongs to.
    pub fn owner(&self, page: u64) -> Option<&Object> {
        self.owner.get(&page).map(|i| &self.objects[*i])
    }

    /// Names the object of each finding that has a page but no object yet.
    pub fn locate(&self, findings: &mut [Finding]) {
        for f in findings.iter_mut().filter(|f| f.object.is_none()) {
            if let Some(object) = f.page.and_then(|p| self.owner(p)) {
                f.object = Some(object.name.clone());
                f.table = Some(object.table.clone());
            }
        }
    }
}

/// A finding for an object whose b-tree SQLite could not walk.
pub(super) fn unwalkable(object: &Object, why: &str) -> Finding {
    Finding {
        kind: FindingKind::Page,
        page: None,
        root: Some(object.root),
        object: Some(object.name.clone()),
        table: Some(object.table.clone()),
        message: format!(
            "the b-tree of {} (root page {}) cannot be walked: {why}",
            object.name, object.root
        ),
        obstacle: None,
    }
}
