//! A set of migrations: sorted by version, each version once.

use std::borrow::Cow;

use crate::read::migration::{Migration, Version};
use crate::vocab::error::Error;

/// An ordered set of migrations with unique versions.
#[derive(Debug, Clone)]
pub struct Migrations {
    items: Cow<'static, [Migration]>,
}

impl Migrations {
    /// Builds a set from migrations in any order.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateVersion`] when two migrations share a version.
    pub fn new(mut items: Vec<Migration>) -> Result<Self, Error> {
        items.sort_by_key(Migration::version);
        if let Some(pair) = items.windows(2).find(|w| w[0].version() == w[1].version()) {
            return Err(Error::DuplicateVersion {
                version: pair[0].version(),
                first: pair[0].up().origin().to_owned(),
                second: pair[1].up().origin().to_owned(),
            });
        }
        Ok(Self {
            items: Cow::Owned(items),
        })
    }

    /// A set embedded at compile time. The macro that emits this call has already sorted the
    /// migrations and rejected duplicates, with the same code as [`Migrations::new`].
    pub const fn from_static(items: &'static [Migration]) -> Self {
        Self {
            items: Cow::Borrowed(items),
        }
    }

    /// The migrations, by ascending version.
    pub fn iter(&self) -> std::slice::Iter<'_, Migration> {
        self.items.iter()
    }

    /// The migration with this version.
    pub fn get(&self, version: Version) -> Option<&Migration> {
        self.items
            .binary_search_by_key(&version, Migration::version)
            .ok()
            .map(|i| &self.items[i])
    }

    /// The highest version, if any.
    pub fn latest(&self) -> Option<Version> {
        self.items.last().map(Migration::version)
    }

    /// How many migrations the set holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<'a> IntoIterator for &'a Migrations {
    type Item = &'a Migration;
    type IntoIter = std::slice::Iter<'a, Migration>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
