//! The health report as Prometheus metrics, encoded by `prometheus-client` (the Prometheus
//! project's Rust client): gauges, and counters for the names ending in `_total`.

use std::sync::atomic::AtomicU64;

use belay_migrate::guard::watch::health::Health;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What each metric measures.
fn help(name: &str) -> &'static str {
    match name {
        "migrate_up" => "1 when the report could be made",
        "migrate_schema_version" => "highest applied migration version (NaN: unknown)",
        "migrate_pending_migrations" => "migrations not applied yet",
        "migrate_drift" => "1 when the schema changed outside migrations",
        "migrate_db_bytes" => "size of the database file",
        "migrate_wal_bytes" => "size of the WAL file",
        "migrate_freelist_ratio" => "free pages over all pages",
        "migrate_disk_free_bytes" => "free bytes on the database's file system",
        "migrate_last_check_timestamp_seconds" => "when the last check tick ran",
        "migrate_last_check_ok" => "1 when the last check tick found nothing",
        "migrate_check_coverage_ratio" => "tables covered by the current check pass",
        "migrate_last_backup_timestamp_seconds" => "when the newest backup was taken",
        "migrate_backup_age_seconds" => "age of the newest backup",
        "migrate_rpo_target_seconds" => "the RPO target",
        "migrate_last_drill_timestamp_seconds" => "when the last restore drill ran",
        "migrate_last_drill_ok" => "1 when the last restore drill passed",
        "migrate_checkpoint_blocked_seconds" => "how long checkpoints have left frames behind",
        "migrate_checkpoints_total" => "checkpoints run by the watchman",
        "migrate_checkpoint_errors_total" => "checkpoints that failed",
        "migrate_backups_total" => "backups taken by the watchman",
        "migrate_backup_errors_total" => "backups that failed",
        "migrate_degraded" => "1 when the application's connection layer refuses writes",
        "migrate_archive_lag_seconds" => {
            "how long committed transactions have waited for the archive"
        }
        "migrate_archive_unarchived_bytes" => "committed WAL bytes not archived yet",
        "migrate_archive_gaps_total" => "gaps recorded in the point-in-time archive",
        _ => "",
    }
}

/// The report's metrics in the Prometheus text format.
pub fn encode_health(health: &Health) -> String {
    let mut registry = Registry::default();
    for (name, value) in &health.metrics {
        match name.strip_suffix("_total") {
            Some(base) => {
                let counter = Counter::<f64, AtomicU64>::default();
                counter.inc_by(*value);
                registry.register(base, help(name), counter);
            }
            None => {
                let gauge = Gauge::<f64, AtomicU64>::default();
                gauge.set(*value);
                registry.register(*name, help(name), gauge);
            }
        }
    }
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}
