//! A base snapshot: the database as it stands at a commit of the WAL, read from the files
//! (the database file, each page overlaid by its newest frame up to that commit) while the
//! archiver holds a read transaction. That reader keeps any checkpoint from copying frames past
//! its own snapshot into the file and the WAL from restarting under it, so the file's pages
//! that no frame overlays are the ones from before the WAL began. The pages are written as they
//! are (a decompressed base is a database file), so the base's page hash is the database's.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::pagehash::{PageTable, Undo};
use super::segment::Hashing;
use super::walfile::{FRAME_HEADER_BYTES, HEADER_BYTES, Header, Position, WalFile};
use crate::Error;
use crate::files::durable::Staged;

/// A base written (not yet published).
pub struct Taken {
    /// The staged file.
    pub staged: Staged,
    /// The pages' hashes.
    pub table: PageTable,
    /// Where in the WAL it stands.
    pub wal: Position,
    /// Compressed bytes.
    pub bytes: u64,
    /// SHA-256 of the compressed file.
    pub sha256: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The page size and size in pages the database file's header gives (SQLite trusts the
/// header's size only while its version-valid-for number matches the change counter).
fn db_header(db: &Path, file: &mut File) -> Result<Option<(u32, u32)>, Error> {
    let mut h = [0u8; 100];
    let len = file.metadata().map_err(io(db))?.len();
    if len < 100 {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).map_err(io(db))?;
    file.read_exact(&mut h).map_err(io(db))?;
    let raw = u16::from_be_bytes([h[16], h[17]]) as u32;
    let page_size = if raw == 1 { 65536 } else { raw };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Ok(None);
    }
    let be = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let pages = if be(92) == be(24) && be(28) > 0 {
        be(28)
    } else {
        (len / u64::from(page_size)) as u32
    };
    Ok(Some((page_size, pages)))
}

/// Takes a base of `db` at the last commit of its WAL into `to` (staged), with `header` the
/// WAL's header (`None`: no WAL). The caller holds a read transaction on the database.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when the file is not a database; [`Error::Internal`] when the WAL
/// changed under the read (the caller tries again); [`Error::Io`] for a failed read or write.
pub fn take(
    db: &Path,
    wal: &mut WalFile,
    header: Option<&Header>,
    to: &Path,
) -> Result<Taken, Error> {
    let mut file = File::open(db).map_err(io(db))?;
    let from_file = db_header(db, &mut file)?;
    let page_size = match (header, from_file) {
        (Some(h), _) => h.page_size,
        (None, Some((ps, _))) => ps,
        (None, None) => {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "{} is not a SQLite database; nothing was archived",
                    db.display()
                ),
            });
        }
    };
    // The newest frame of each page up to the last commit, and that commit.
    let mut overlay: HashMap<u32, (u32, [u32; 2])> = HashMap::new();
    let mut end = header.map(Header::start);
    let mut pages = from_file.map_or(0, |(_, n)| n);
    if let Some(h) = header {
        let mut at = h.start();
        let mut pending = Vec::new();
        while let Some(frame) = wal.next(h, &at)? {
            at = Position {
                salt: h.salt,
                frame: frame.index,
                checksum: frame.checksum,
            };
            pending.push((frame.pgno, (frame.index, frame.checksum)));
            if frame.commit_size != 0 {
                overlay.extend(pending.drain(..));
                pages = frame.commit_size;
                end = Some(at);
            }
        }
    }
    let wal_position = end.unwrap_or(Position {
        salt: [0, 0],
        frame: 0,
        checksum: [0, 0],
    });

    let (staged, out) = Staged::create(crate::files::durable::temp_path(to))?;
    let mut sink = Hashing::new(BufWriter::new(out));
    let staged_path = staged.path().to_path_buf();
    let write_err = io(&staged_path);
    let mut enc = zstd::Encoder::new(&mut sink, 1).map_err(&write_err)?;
    let _ = enc.multithread(2);
    let mut table = PageTable::new(page_size);
    let mut undo = Undo::default();
    let mut page = vec![0u8; page_size as usize];
    let file_len = file.metadata().map_err(io(db))?.len();
    for pgno in 1..=pages {
        if let Some(&(index, checksum)) = overlay.get(&pgno) {
            read_frame(
                wal,
                header.expect("frames need a header"),
                index,
                checksum,
                &mut page,
            )?;
        } else {
            let offset = u64::from(pgno - 1) * u64::from(page_size);
            if offset + u64::from(page_size) <= file_len {
                file.seek(SeekFrom::Start(offset)).map_err(io(db))?;
                file.read_exact(&mut page).map_err(io(db))?;
            } else {
                page.fill(0);
            }
        }
        table.set(pgno, &page, &mut undo);
        enc.write_all(&page).map_err(&write_err)?;
        // The undo log of a base is never used; keep it from growing with the database.
        undo = Undo::default();
    }
    enc.finish().map_err(&write_err)?;
    let written = sink.done().map_err(&write_err)?;
    drop(sink);
    Ok(Taken {
        staged,
        table,
        wal: wal_position,
        bytes: written.bytes,
        sha256: written.sha256,
    })
}

/// Reads frame `index`'s page, refusing it unless its header still carries `checksum`.
fn read_frame(
    wal: &mut WalFile,
    header: &Header,
    index: u32,
    checksum: [u32; 2],
    page: &mut [u8],
) -> Result<(), Error> {
    let before = Position {
        salt: header.salt,
        frame: index,
        checksum,
    };
    if !wal.still_at(header, &before)? {
        return Err(Error::Internal {
            reason: format!("WAL frame {index} changed while the base was read"),
        });
    }
    let size = FRAME_HEADER_BYTES + u64::from(header.page_size);
    wal.read_page(
        HEADER_BYTES + u64::from(index - 1) * size + FRAME_HEADER_BYTES,
        page,
    )
}
