//! `migrate backup create|list|verify|prune`.

use belay_migrate::backup::{self, Compression, CreateOptions, Manifest, Reason, Retention};
use serde::Serialize;

use crate::cli::BackupCommand;
use crate::config::CompressionName;
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, command: &BackupCommand) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
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
            out.print(&manifest, || {
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
                format!(
                    "created backup {} ({} bytes, stored as {} bytes in {}{stored})\n",
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
            #[derive(serde::Serialize)]
            struct Document<'a> {
                backups: &'a [belay_migrate::backup::Manifest],
            }
            out.print(&Document { backups: &all }, || list_text(&all));
        }
        BackupCommand::Verify { id, jobs } => {
            let workers = super::check::workers(*jobs);
            let verified = backup::verify(&dir, id, workers)?;
            out.print(&verified, || {
                format!(
                    "backup {} is good: SHA-256 matches over {} bytes, {} found nothing wrong\n",
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
            #[derive(Serialize)]
            struct Pruned<'a> {
                dry_run: bool,
                deleted: &'a [String],
            }
            let verb = if *dry_run { "would delete" } else { "deleted" };
            out.print(
                &Pruned {
                    dry_run: *dry_run,
                    deleted: &deleted,
                },
                || {
                    let mut text = format!("{verb} {} backup(s)\n", deleted.len());
                    for id in &deleted {
                        text.push_str(&format!("  {id}\n"));
                    }
                    text
                },
            );
        }
    }
    Ok(())
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
