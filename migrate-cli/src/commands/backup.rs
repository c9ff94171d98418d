//! `migrate backup create|list|verify|prune`.

use belay_migrate::backup::{
    self, Compression, CreateOptions, Manifest, Reason, Retention, mirror,
};
use belay_migrate::guard::remote::Put;
use serde::Serialize;

use crate::cli::BackupCommand;
use crate::config::CompressionName;
use crate::context;
use crate::error::CliError;
use crate::offsite;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, command: &BackupCommand) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
    let remote = offsite::open(g)?;
    match command {
        BackupCommand::Create { plain } => {
            let configured = g.file.backup.compression;
            let options = CreateOptions {
                compression: if *plain || configured == Some(CompressionName::None) {
                    Compression::None
                } else {
                    Compression::Zstd
                },
                min_ratio: context::min_ratio(g),
                reason: Reason::Manual,
                busy_timeout: context::lock_timeout(g)?,
                // The library reads the schema version from the migration history.
                version_of: None,
            };
            let show = out.progress_visible();
            let mut progress = |p: backup::Progress| {
                if show && p.total > 0 {
                    crate::output::stderr(&format!(
                        "\rcopying {} of {} pages ({}%)",
                        p.copied,
                        p.total,
                        p.copied * 100 / p.total
                    ));
                }
            };
            let manifest = backup::create(&db, &dir, &options, &mut progress);
            if show {
                crate::output::stderr("\n");
            }
            let manifest = manifest?;
            let offsite = match &remote {
                Some(remote) => Some(offsite::push(remote, &dir, &manifest).inspect_err(|_| {
                    out.note(&format!(
                        "backup {} was created in {}, but copying it to {} failed",
                        manifest.id,
                        dir.display(),
                        remote.shown()
                    ));
                })?),
                None => None,
            };
            #[derive(Serialize)]
            struct Created<'a> {
                #[serde(flatten)]
                manifest: &'a Manifest,
                #[serde(skip_serializing_if = "Option::is_none")]
                offsite: Option<&'a offsite::Shipped>,
            }
            let doc = Created {
                manifest: &manifest,
                offsite: offsite.as_ref(),
            };
            out.print(&doc, || {
                let stored = match (manifest.compression, manifest.sample) {
                    (Compression::None, Some(sample))
                        if options.compression == Compression::Zstd =>
                    {
                        format!(
                            "; stored plain: a sample of its pages compressed only {:.2}x, under \
                             [backup] min_ratio",
                            sample.ratio()
                        )
                    }
                    _ => String::new(),
                };
                let copied = offsite.as_ref().map_or(String::new(), |o| {
                    format!(
                        "copied to {} ({})\n",
                        o.url,
                        match o.file {
                            Some(Put::AlreadyThere) => "already there",
                            _ => "created",
                        }
                    )
                });
                format!(
                    "created backup {} ({} bytes, stored as {} bytes in {}{stored})\n{copied}",
                    manifest.id,
                    manifest.byte_size,
                    manifest.compressed_size,
                    manifest.file_path(&dir).display()
                )
            });
        }
        BackupCommand::List => {
            let swept = backup::sweep(&dir)?;
            if !swept.removed.is_empty() {
                out.note(&format!(
                    "removed {} leftover file(s) of stopped processes ({} bytes): {}",
                    swept.removed.len(),
                    swept.bytes,
                    swept
                        .removed
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            warn_rejected(out, &dir)?;
            let all = backup::list(&dir)?;
            let stored = match &remote {
                Some(remote) => {
                    let listing = mirror::list(remote)?;
                    for r in &listing.rejected {
                        out.note(&format!(
                            "warning: {} is not used (left as it is): {}",
                            r.path.display(),
                            r.reason
                        ));
                    }
                    Some(Stored {
                        url: remote.shown().to_owned(),
                        backups: listing.backups,
                    })
                }
                None => None,
            };
            #[derive(serde::Serialize)]
            struct Document<'a> {
                backups: &'a [belay_migrate::backup::Manifest],
                #[serde(skip_serializing_if = "Option::is_none")]
                remote: Option<&'a Stored>,
            }
            let doc = Document {
                backups: &all,
                remote: stored.as_ref(),
            };
            out.print(&doc, || {
                let mut text = list_text(&all);
                if let Some(stored) = &stored {
                    text.push_str(&format!("\nin {}:\n", stored.url));
                    text.push_str(&list_text(&stored.backups));
                }
                text
            });
        }
        BackupCommand::Verify { id, jobs } => {
            let workers = super::check::workers(*jobs);
            // A backup only in the store is fetched (its hash checked) and verified here; one
            // in both is verified here and read through in the store.
            let fetched = match &remote {
                Some(remote) => offsite::bring(out, remote, (&dir, id), offsite::Purpose::Reading)?,
                None => None,
            };
            let verified = backup::verify(&dir, fetched.as_deref().unwrap_or(id), workers)?;
            let stored = match &remote {
                Some(remote) if fetched.is_none() => match mirror::verify(remote, &verified.id) {
                    Ok(_) => Some(remote.shown().to_owned()),
                    Err(belay_migrate::guard::Error::NoSuchBackup { .. }) => None,
                    // The store cannot be read: the backup here is verified; say so.
                    Err(e @ belay_migrate::guard::Error::Remote { .. }) => {
                        out.note(&format!(
                            "the copy in {} could not be read ({e}); only the backup here was verified",
                            remote.shown()
                        ));
                        None
                    }
                    Err(e) => return Err(e.into()),
                },
                Some(remote) => Some(remote.shown().to_owned()),
                None => None,
            };
            #[derive(Serialize)]
            struct Verified<'a> {
                #[serde(flatten)]
                verified: &'a backup::BackupVerification,
                #[serde(skip_serializing_if = "Option::is_none")]
                remote: Option<&'a str>,
            }
            let doc = Verified {
                verified: &verified,
                remote: stored.as_deref(),
            };
            out.print(&doc, || {
                let also = stored.as_ref().map_or(String::new(), |url| {
                    format!("; the copy in {url} has the SHA-256 its manifest records")
                });
                format!(
                    "backup {} is good: SHA-256 matches over {} bytes, {} found nothing wrong{also}\n",
                    verified.id, verified.bytes, verified.check
                )
            });
        }
        BackupCommand::Prune {
            keep_last,
            keep_daily,
            keep_weekly,
            dry_run,
        } => {
            let (file, default) = (&g.file.backup, Retention::default());
            let policy = Retention {
                keep_last: keep_last.or(file.keep_last).unwrap_or(default.keep_last),
                keep_daily: keep_daily.or(file.keep_daily).unwrap_or(default.keep_daily),
                keep_weekly: keep_weekly
                    .or(file.keep_weekly)
                    .unwrap_or(default.keep_weekly),
            };
            warn_rejected(out, &dir)?;
            let deleted = if *dry_run {
                backup::to_delete(&backup::list(&dir)?, &policy)
            } else {
                backup::prune(&dir, &policy)?
            };
            // The store by the same policy, over what it holds (which may be more than this
            // machine: backups of a lost disk).
            let remote_deleted = match &remote {
                Some(remote) if *dry_run => {
                    Some(backup::to_delete(&mirror::list(remote)?.backups, &policy))
                }
                Some(remote) => Some(mirror::prune(remote, &policy)?),
                None => None,
            };
            #[derive(Serialize)]
            struct Pruned<'a> {
                dry_run: bool,
                deleted: &'a [String],
                #[serde(skip_serializing_if = "Option::is_none")]
                remote_deleted: Option<&'a [String]>,
            }
            let verb = if *dry_run { "would delete" } else { "deleted" };
            out.print(
                &Pruned {
                    dry_run: *dry_run,
                    deleted: &deleted,
                    remote_deleted: remote_deleted.as_deref(),
                },
                || {
                    let mut text = format!("{verb} {} backup(s)\n", deleted.len());
                    for id in &deleted {
                        text.push_str(&format!("  {id}\n"));
                    }
                    if let (Some(remote), Some(ids)) = (&remote, &remote_deleted) {
                        text.push_str(&format!(
                            "{verb} {} backup(s) in {}\n",
                            ids.len(),
                            remote.shown()
                        ));
                        for id in ids {
                            text.push_str(&format!("  {id}\n"));
                        }
                    }
                    text
                },
            );
        }
        BackupCommand::Push { id } => {
            let Some(remote) = &remote else {
                return Err(CliError::Usage(
                    "backup push copies backups to a store: name one with --backup-url, MIGRATE_BACKUP_URL or [backup] url in migrate.toml".into(),
                ));
            };
            warn_rejected(out, &dir)?;
            let wanted = match id {
                Some(id) => vec![backup::find(&dir, id)?],
                None => {
                    let stored: Vec<String> = mirror::list(remote)?
                        .backups
                        .into_iter()
                        .map(|m| m.id)
                        .collect();
                    backup::list(&dir)?
                        .into_iter()
                        .filter(|m| !stored.contains(&m.id))
                        .collect()
                }
            };
            // Each backup on its own: one refused (a foreign object at its key) does not keep
            // the others here; the first failure is the command's error, every one is said.
            let mut pushed = Vec::new();
            let mut failed = Vec::new();
            for manifest in &wanted {
                match offsite::push(remote, &dir, manifest) {
                    Ok(shipped) => pushed.push(shipped),
                    Err(e) => {
                        out.note(&format!("copying backup {} failed: {e}", manifest.id));
                        failed.push(e);
                    }
                }
            }
            if !failed.is_empty() {
                out.note(&format!(
                    "copied {} of {} backup(s) to {}; {} failed",
                    pushed.len(),
                    wanted.len(),
                    remote.shown(),
                    failed.len()
                ));
                return Err(failed.remove(0).into());
            }
            #[derive(Serialize)]
            struct Pushed<'a> {
                url: &'a str,
                pushed: &'a [offsite::Shipped],
            }
            out.print(
                &Pushed {
                    url: remote.shown(),
                    pushed: &pushed,
                },
                || {
                    let mut text =
                        format!("copied {} backup(s) to {}\n", pushed.len(), remote.shown());
                    for p in &pushed {
                        text.push_str(&format!("  {}\n", p.id));
                    }
                    text
                },
            );
        }
    }
    Ok(())
}

/// The backups a store holds, as `backup list` shows them.
#[derive(Serialize)]
struct Stored {
    url: String,
    backups: Vec<Manifest>,
}

fn list_text(all: &[Manifest]) -> String {
    if all.is_empty() {
        return "no backups\n".to_owned();
    }
    let mut text = format!(
        "{:<34}  {:<24}  {:<11}  {:>7}  {:>10}  {:>10}\n",
        "ID", "CREATED", "REASON", "VERSION", "SIZE", "STORED"
    );
    for m in all {
        text.push_str(&format!(
            "{:<34}  {:<24}  {:<11}  {:>7}  {:>10}  {:>10}\n",
            m.id,
            m.created_at,
            m.reason.as_str(),
            super::version_text(m.schema_version),
            human_bytes(m.byte_size),
            human_bytes(m.compressed_size)
        ));
    }
    let (size, stored) = all
        .iter()
        .fold((0, 0), |(a, b), m| (a + m.byte_size, b + m.compressed_size));
    text.push_str(&format!(
        "{} backup(s): {} of database images, {} stored\n",
        all.len(),
        human_bytes(size),
        human_bytes(stored)
    ));
    text
}

/// A size for people: bytes, KiB, MiB or GiB with one decimal.
pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Says which manifest-looking files in `dir` are left alone, and why (a manifest is data: one
/// that contradicts itself or its name is never acted on).
fn warn_rejected(out: &Output, dir: &std::path::Path) -> Result<(), CliError> {
    for r in backup::rejected(dir)? {
        out.note(&format!(
            "warning: {} is not used (left as it is): {}",
            r.path.display(),
            r.reason
        ));
    }
    Ok(())
}
