//! `migrate restore --at TIME | --at-commit ID | --at-version N [--to PATH] [--yes]`: the
//! database as it was at a point of the archive (docs/pitr.md).
//!
//! The point is rebuilt into a new file and checked against the page hash the archive
//! recorded for it, then by SQLite (a mismatch is exit 6 and nothing is written). With `--to`
//! that file is the result. Over the database, the rebuilt state becomes a `point-in-time`
//! backup (listed, restorable by id, never `latest`) and is restored as every restore by hand
//! is: confirmed, the current state backed up first, recorded.

use std::path::Path;

use belay_migrate::backup::{self, CreateOptions, Reason};
use belay_migrate::guard::archive::catalog::{self, Catalog, Located};
use belay_migrate::guard::archive::{self, marks, rebuild};

use super::restore::{Asked, Moment, confirm};
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(
    g: &Settings,
    out: &Output,
    db: &Path,
    moment: Moment<'_>,
    asked: &Asked<'_>,
) -> Result<(), CliError> {
    let here = context::archive_dir(g, db)?;
    // The archive here first; with a store named, the store's archive when this one cannot
    // give the point (the disk that held it is gone, or retention removed it here).
    let (catalog, id, point) = match (point_in(&here, moment), crate::offsite::open(g)?) {
        (Ok(found), _) => found,
        (Err(e), None) => return Err(e),
        (Err(e), Some(remote)) => {
            // A time that names no moment is refused before anything is read from the store.
            if let Moment::Time(text) = moment {
                moment_ms(text)?;
            }
            let copy = context::backup_dir(g, db).join(STORE_COPY);
            let pulled = archive::mirror::pull(&remote, &copy)?;
            for why in &pulled.rejected {
                out.note(&format!("warning: in {}: {why} (not used)", remote.shown()));
            }
            out.note(&format!(
                "{e}; reading the archive in {} instead, copied into {} ({} file(s) downloaded, each SHA-256 checked)",
                remote.shown(),
                copy.display(),
                pulled.downloaded
            ));
            // Past what the copy can prove, its newest point is not the state at that time.
            if let (Some(until), Moment::Time(text)) = (pulled.proven_until, moment)
                && moment_ms(text)? > until.at_ms
            {
                return Err(CliError::Usage(format!(
                    "the archive in {} proves points only up to commit {} ({}); it names later commits it cannot prove (each named above), so {text} is not restored from it",
                    remote.shown(),
                    until.id,
                    belay_migrate::guard::vocab::clock::format_unix_millis(until.at_ms)
                )));
            }
            let found = point_in(&copy, moment)?;
            // Over this database, only its own archive: the store's identity names it.
            let theirs = found.0.identity.as_ref().map(|i| i.database.clone());
            if asked.to.is_none()
                && theirs.as_deref().map(|d| Path::new(d).file_name()) != Some(db.file_name())
            {
                return Err(CliError::Usage(format!(
                    "the archive in {} is of {}, not of {}: nothing was restored (a store's prefix holds one database's archive; restore into a new file with --to to look at it)",
                    remote.shown(),
                    theirs.as_deref().unwrap_or("no database it names"),
                    db.display()
                )));
            }
            found
        }
    };
    let at = belay_migrate::guard::vocab::clock::format_unix_millis(point.at_ms);
    if let Some(to) = asked.to {
        let mode = std::fs::metadata(db).map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777
        });
        let rebuilt = rebuild::rebuild(&catalog, id, to, mode)?;
        out.print(&rebuilt, || {
            format!(
                "restored commit {id} of the archive ({at}) into {} ({} pages, page hash matches, quick_check ok, in {} ms)\n",
                to.display(),
                rebuilt.pages,
                rebuilt.duration_ms
            )
        });
        return Ok(());
    }
    let what = format!("the state at commit {id} of the archive ({at})");
    confirm(db, &what, &[], asked.confirmed)?;
    let backups = context::backup_dir(g, db);
    backup::create_dir(&backups)?;
    let staged = Scratch(backups.join(format!(".point-{id}-{}.db", std::process::id())));
    staged.clear();
    rebuild::rebuild(&catalog, id, &staged.0, 0o600)?;
    let options = CreateOptions {
        reason: Reason::PointInTime,
        busy_timeout: context::lock_timeout(g)?,
        min_ratio: context::min_ratio(g),
        ..CreateOptions::default()
    };
    let manifest = backup::create(&staged.0, &backups, &options, &mut |_| {})?;
    drop(staged);
    out.note(&format!(
        "commit {id} of the archive ({at}) rebuilt and checked; staged as backup {}",
        manifest.id
    ));
    super::restore::over(
        out,
        db,
        &backups,
        &manifest.id,
        asked.current,
        context::lock_timeout(g)?,
    )
}

/// Where `restore --at` copies a store's archive, in the backup directory (hidden from its
/// listing; every file in it checked against its recorded SHA-256 before use).
const STORE_COPY: &str = ".archive-store";

/// The archive in `dir`, the commit `moment` names in it, and that point.
fn point_in(dir: &Path, moment: Moment<'_>) -> Result<(Catalog, u64, catalog::Point), CliError> {
    let catalog = Catalog::read(dir)?;
    if catalog.generations.is_empty() {
        return Err(CliError::Usage(format!(
            "the archive {} holds no point yet (archiving begins with `migrate archive run` or `migrate watch` with [watch] archive)",
            dir.display()
        )));
    }
    let id = resolve(&catalog, moment)?;
    let (_, point) = catalog.find(id).ok_or_else(|| {
        CliError::Usage(format!(
            "the archive {} holds no commit {id} (its commits: `migrate archive status --json`)",
            dir.display()
        ))
    })?;
    Ok((catalog, id, point))
}

/// The time `--at` gives, in ms since the Unix epoch: refused when it does not parse or is in
/// the future.
fn moment_ms(text: &str) -> Result<i64, CliError> {
    let at_ms = catalog::parse_time(text).map_err(CliError::Usage)?;
    if at_ms > belay_migrate::guard::vocab::clock::unix_millis_now() {
        return Err(CliError::Usage(format!(
            "{text} is in the future: the archive cannot say what will be committed"
        )));
    }
    Ok(at_ms)
}

/// The commit a moment names.
fn resolve(catalog: &Catalog, moment: Moment<'_>) -> Result<u64, CliError> {
    match moment {
        Moment::Commit(id) => Ok(id),
        Moment::Version(v) => Ok(marks::resolve(catalog, v)?),
        Moment::Time(text) => {
            let at_ms = moment_ms(text)?;
            let clock = belay_migrate::guard::vocab::clock::format_unix_millis;
            match catalog.at_time(at_ms) {
                Ok(p) => Ok(p.id),
                Err(Located::Before) => Err(CliError::Usage(format!(
                    "{text} is before the archive's first point ({}): nothing older is kept",
                    catalog
                        .generations
                        .first()
                        .map_or("-".to_owned(), |g| clock(g.base.at_ms))
                ))),
                Err(Located::InGap(gap)) => Err(CliError::Usage(format!(
                    "{text} falls in a gap of the archive: the commits after commit {} ({}) until commit {} ({}) were not archived one by one ({}); choose a time outside it",
                    gap.after
                        .as_ref()
                        .map_or("-".to_owned(), |e| e.commit.to_string()),
                    gap.after
                        .as_ref()
                        .map_or("-".to_owned(), |e| clock(e.at_ms)),
                    gap.before.commit,
                    clock(gap.before.at_ms),
                    gap.reason
                ))),
            }
        }
    }
}

/// The staged file and what SQLite left beside it, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn clear(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.clear();
    }
}
