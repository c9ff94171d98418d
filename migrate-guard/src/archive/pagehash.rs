//! The hash of a database's pages, kept up to date page by page.
//!
//! Each page's digest is SHA-256 over its page number (4 bytes, big-endian) and its bytes; the
//! database's hash is the sum of the digests of pages 1 to its size, read as four
//! little-endian 64-bit lanes each added modulo 2^64, written as 64 hex digits (the lanes'
//! bytes in order). A page past the end of the file counts as zeros, as SQLite reads it. A
//! sum changes by one page's difference when one page changes, so the archiver knows the
//! hash after every commit without reading the database again, and a restore checks its file
//! against the hash recorded for its point.

use sha2::{Digest, Sha256};

/// One page's digest as four lanes.
pub type Lanes = [u64; 4];

/// The digest of page `pgno` holding `bytes`.
pub fn page_digest(pgno: u32, bytes: &[u8]) -> Lanes {
    let mut h = Sha256::new();
    h.update(pgno.to_be_bytes());
    h.update(bytes);
    let d = h.finalize();
    let mut lanes = [0u64; 4];
    for (i, lane) in lanes.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[i * 8..i * 8 + 8]);
        *lane = u64::from_le_bytes(b);
    }
    lanes
}

fn add(a: &mut Lanes, b: &Lanes) {
    for i in 0..4 {
        a[i] = a[i].wrapping_add(b[i]);
    }
}

fn sub(a: &mut Lanes, b: &Lanes) {
    for i in 0..4 {
        a[i] = a[i].wrapping_sub(b[i]);
    }
}

/// Lanes as 64 hex digits.
pub fn to_hex(lanes: &Lanes) -> String {
    let mut bytes = Vec::with_capacity(32);
    for lane in lanes {
        bytes.extend_from_slice(&lane.to_le_bytes());
    }
    crate::vocab::hex::hex(&bytes)
}

/// Every page's digest, and their sum.
#[derive(Debug, Clone, Default)]
pub struct PageTable {
    page_size: usize,
    digests: Vec<Lanes>,
    sum: Lanes,
}

/// What [`PageTable::set`] replaced, to put back with [`PageTable::undo`].
#[derive(Debug, Default)]
pub struct Undo {
    steps: Vec<(u32, Option<Lanes>)>,
    pages: Option<usize>,
}

impl PageTable {
    /// A table of no pages.
    pub fn new(page_size: u32) -> Self {
        Self {
            page_size: page_size as usize,
            digests: Vec::new(),
            sum: [0; 4],
        }
    }

    /// The page size.
    pub fn page_size(&self) -> u32 {
        self.page_size as u32
    }

    /// Pages in the database.
    pub fn pages(&self) -> u32 {
        self.digests.len() as u32
    }

    /// The hash of the database as the table holds it.
    pub fn hash(&self) -> String {
        to_hex(&self.sum)
    }

    /// Page `pgno` now holds `bytes` (the table grows to reach it, the pages between counting
    /// as zeros).
    pub fn set(&mut self, pgno: u32, bytes: &[u8], undo: &mut Undo) {
        if undo.pages.is_none() {
            undo.pages = Some(self.digests.len());
        }
        self.grow(pgno, undo);
        let i = pgno as usize - 1;
        let new = page_digest(pgno, bytes);
        let old = std::mem::replace(&mut self.digests[i], new);
        undo.steps.push((pgno, Some(old)));
        sub(&mut self.sum, &old);
        add(&mut self.sum, &new);
    }

    /// The database now has `pages` pages: those past it are dropped, those added are zeros
    /// until set.
    pub fn resize(&mut self, pages: u32, undo: &mut Undo) {
        if undo.pages.is_none() {
            undo.pages = Some(self.digests.len());
        }
        while self.digests.len() > pages as usize {
            let pgno = self.digests.len() as u32;
            let old = self.digests.pop().expect("longer than pages");
            undo.steps.push((pgno, Some(old)));
            sub(&mut self.sum, &old);
        }
        self.grow(pages, undo);
    }

    fn grow(&mut self, pages: u32, undo: &mut Undo) {
        let zeros = vec![0u8; self.page_size];
        while self.digests.len() < pages as usize {
            let pgno = self.digests.len() as u32 + 1;
            let d = page_digest(pgno, &zeros);
            add(&mut self.sum, &d);
            self.digests.push(d);
            undo.steps.push((pgno, None));
        }
    }

    /// Puts back everything `undo` recorded, newest first.
    pub fn undo(&mut self, undo: Undo) {
        for (pgno, old) in undo.steps.into_iter().rev() {
            let i = pgno as usize - 1;
            match old {
                None => {
                    // Added by a grow: the page is the last one at this point of the undo.
                    if let Some(d) = self.digests.pop() {
                        sub(&mut self.sum, &d);
                    }
                }
                Some(old) => {
                    if i < self.digests.len() {
                        let cur = std::mem::replace(&mut self.digests[i], old);
                        sub(&mut self.sum, &cur);
                        add(&mut self.sum, &old);
                    } else {
                        // Dropped by a resize: it comes back at the end.
                        self.digests.push(old);
                        add(&mut self.sum, &old);
                    }
                }
            }
        }
        if let Some(pages) = undo.pages {
            debug_assert_eq!(self.digests.len(), pages);
        }
    }
}

/// The hash of a database file read whole: the pages of `bytes`, `pages` of them (zeros past
/// its end).
pub fn hash_of(page_size: u32, pages: u32, mut read: impl FnMut(u32, &mut [u8]) -> bool) -> String {
    let mut sum = [0u64; 4];
    let mut buf = vec![0u8; page_size as usize];
    for pgno in 1..=pages {
        if !read(pgno, &mut buf) {
            buf.fill(0);
        }
        add(&mut sum, &page_digest(pgno, &buf));
    }
    to_hex(&sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(pages: &[Vec<u8>]) -> String {
        hash_of(8, pages.len() as u32, |pgno, buf| {
            buf.copy_from_slice(&pages[pgno as usize - 1]);
            true
        })
    }

    #[test]
    fn the_running_hash_is_the_hash_of_the_whole() {
        let mut t = PageTable::new(8);
        let mut u = Undo::default();
        t.set(1, &[1; 8], &mut u);
        t.set(3, &[3; 8], &mut u);
        assert_eq!(t.pages(), 3);
        assert_eq!(t.hash(), whole(&[vec![1; 8], vec![0; 8], vec![3; 8]]));
        let before = t.hash();
        let mut u = Undo::default();
        t.set(2, &[2; 8], &mut u);
        t.resize(1, &mut u);
        assert_eq!(t.hash(), whole(&[vec![1; 8]]));
        t.resize(4, &mut u);
        t.set(4, &[4; 8], &mut u);
        assert_eq!(
            t.hash(),
            whole(&[vec![1; 8], vec![0; 8], vec![0; 8], vec![4; 8]])
        );
        t.undo(u);
        assert_eq!(t.hash(), before);
        assert_eq!(t.pages(), 3);
    }

    #[test]
    fn the_page_number_counts() {
        assert_ne!(page_digest(1, &[0; 8]), page_digest(2, &[0; 8]));
    }
}
