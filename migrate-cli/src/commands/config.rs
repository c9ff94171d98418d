//! `migrate config`: every effective setting, and where it came from (flag, environment,
//! file, default), so that "which database does this deploy touch?" has one answer.

use belay_migrate::guard::remote::address::shown;
use serde::Serialize;
use serde_json::{Value, json};

use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::{Origin, Settings};

/// One setting as `config` shows it.
#[derive(Serialize)]
struct Setting {
    name: &'static str,
    value: Value,
    from: Origin,
    /// The flag, variable or key it came from.
    source: String,
}

#[derive(Serialize)]
struct Document {
    /// The configuration file read, if any.
    file: Option<String>,
    settings: Vec<Setting>,
}

/// A global option's setting: the flag or its variable, else the file's key, else the default.
fn option(
    g: &Settings,
    (name, id, flag, variable): (&'static str, &str, &str, &str),
    given: Option<Value>,
    (key, file): (&str, Option<Value>),
    default: Value,
) -> Setting {
    match (given, file) {
        (Some(value), _) => {
            let from = g.origin(id);
            let source = match from {
                Origin::Environment => variable.to_owned(),
                _ => flag.to_owned(),
            };
            Setting {
                name,
                value,
                from,
                source,
            }
        }
        (None, Some(value)) => Setting {
            name,
            value,
            from: Origin::File,
            source: key.to_owned(),
        },
        (None, None) => Setting {
            name,
            value: default,
            from: Origin::Default,
            source: "default".to_owned(),
        },
    }
}

/// A setting only migrate.toml can make.
fn file_only(name: &'static str, key: &str, file: Option<Value>, default: Value) -> Setting {
    match file {
        Some(value) => Setting {
            name,
            value,
            from: Origin::File,
            source: key.to_owned(),
        },
        None => Setting {
            name,
            value: default,
            from: Origin::Default,
            source: "default".to_owned(),
        },
    }
}

fn path(p: &std::path::Path) -> Value {
    Value::String(p.display().to_string())
}

pub fn run(g: &Settings, out: &Output) -> Result<(), CliError> {
    let file = &g.file;
    let mut settings = Vec::new();
    // The database: as every command resolves it (an unusable name is shown, not an error).
    settings.push(match context::db_path_and_source(g) {
        Ok((db, from, source)) => Setting {
            name: "database",
            value: path(&db),
            from,
            source: source.to_owned(),
        },
        Err(e) => Setting {
            name: "database",
            value: json!(null),
            from: Origin::Default,
            source: e.to_string(),
        },
    });
    settings.push(option(
        g,
        (
            "migrations",
            "migrations",
            "--migrations",
            "MIGRATE_MIGRATIONS",
        ),
        g.migrations.as_deref().map(path),
        ("migrations", file.migrations.as_deref().map(path)),
        json!("migrations"),
    ));
    // The layout: named in the file, else detected from the directory as every command reads it.
    settings.push(match (file.format, context::migrations(g)) {
        (Some(named), _) => Setting {
            name: "format",
            value: json!(named.0.name()),
            from: Origin::File,
            source: "format".to_owned(),
        },
        (None, Ok(read)) => Setting {
            name: "format",
            value: json!(read.format.name()),
            from: Origin::Default,
            source: format!("detected: {}", read.reason),
        },
        (None, Err(e)) => Setting {
            name: "format",
            value: json!(null),
            from: Origin::Default,
            source: e.to_string(),
        },
    });
    let default_backups = context::db_path(g)
        .map(|db| path(&belay_migrate::backup::default_dir(&db)))
        .unwrap_or(json!("<database>.backups"));
    settings.push(option(
        g,
        (
            "backup_dir",
            "backup_dir",
            "--backup-dir",
            "MIGRATE_BACKUP_DIR",
        ),
        g.backup_dir.as_deref().map(path),
        ("backup_dir", file.backup_dir.as_deref().map(path)),
        default_backups,
    ));
    settings.push(option(
        g,
        (
            "backup_url",
            "backup_url",
            "--backup-url",
            "MIGRATE_BACKUP_URL",
        ),
        // As messages show addresses: a secret someone wrote into one is never printed back.
        g.backup_url.as_deref().map(|u| json!(shown(u))),
        (
            "[backup] url",
            file.backup.url.as_deref().map(|u| json!(shown(u))),
        ),
        json!(null),
    ));
    settings.push(option(
        g,
        (
            "lock_timeout",
            "lock_timeout",
            "--lock-timeout",
            "MIGRATE_LOCK_TIMEOUT",
        ),
        g.lock_timeout.map(|s| json!(s)),
        ("lock_timeout", file.lock_timeout.map(|s| json!(s))),
        json!(belay_migrate::lock::DEFAULT_TIMEOUT.as_secs_f64()),
    ));
    settings.push(file_only(
        "check_timeout",
        "check_timeout",
        file.check_timeout.map(|s| json!(s)),
        json!(belay_migrate::DEFAULT_CHECK_TIMEOUT.as_secs_f64()),
    ));
    settings.push(file_only(
        "migration_timeout",
        "migration_timeout",
        file.migration_timeout.map(|s| json!(s)),
        json!(0.0),
    ));
    settings.push(file_only(
        "verify",
        "verify",
        file.verify.map(|d| json!(d)),
        json!("quick"),
    ));
    settings.push(file_only(
        "exclusive",
        "exclusive",
        file.exclusive.map(|e| json!(e)),
        json!(false),
    ));
    settings.push(file_only(
        "extensions",
        "extensions",
        (!file.extensions.is_empty()).then(|| {
            json!(
                file.extensions
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
            )
        }),
        json!([]),
    ));
    settings.push(file_only(
        "placeholders",
        "[placeholders]",
        file.placeholders.as_ref().map(|p| json!(p)),
        json!({}),
    ));
    let retention = belay_migrate::backup::Retention::default();
    settings.push(file_only(
        "backup.compression",
        "[backup] compression",
        file.backup
            .compression
            .map(|c| json!(format!("{c:?}").to_lowercase())),
        json!("zstd"),
    ));
    settings.push(file_only(
        "backup.min_ratio",
        "[backup] min_ratio",
        file.backup.min_ratio.map(|r| json!(r.0)),
        json!(belay_migrate::backup::DEFAULT_MIN_RATIO),
    ));
    for (name, key, value, default) in [
        (
            "backup.keep_last",
            "[backup] keep_last",
            file.backup.keep_last,
            retention.keep_last,
        ),
        (
            "backup.keep_daily",
            "[backup] keep_daily",
            file.backup.keep_daily,
            retention.keep_daily,
        ),
        (
            "backup.keep_weekly",
            "[backup] keep_weekly",
            file.backup.keep_weekly,
            retention.keep_weekly,
        ),
    ] {
        settings.push(file_only(
            name,
            key,
            value.map(|v| json!(v)),
            json!(default),
        ));
    }
    // [database]: what is not set is left as SQLite has it.
    let database = serde_json::to_value(&file.database).unwrap_or_default();
    for (name, key, field) in [
        (
            "database.journal_mode",
            "[database] journal_mode",
            "journal_mode",
        ),
        (
            "database.synchronous",
            "[database] synchronous",
            "synchronous",
        ),
        (
            "database.busy_timeout",
            "[database] busy_timeout",
            "busy_timeout",
        ),
        (
            "database.wal_autocheckpoint",
            "[database] wal_autocheckpoint",
            "wal_autocheckpoint",
        ),
        (
            "database.journal_size_limit",
            "[database] journal_size_limit",
            "journal_size_limit",
        ),
        (
            "database.foreign_keys",
            "[database] foreign_keys",
            "foreign_keys",
        ),
        ("database.cache_size", "[database] cache_size", "cache_size"),
        ("database.mmap_size", "[database] mmap_size", "mmap_size"),
    ] {
        settings.push(file_only(
            name,
            key,
            database.get(field).cloned(),
            json!("as SQLite has it"),
        ));
    }
    for (name, flag, variable, on) in [
        ("json", "--json", "MIGRATE_JSON", g.json),
        ("quiet", "--quiet", "MIGRATE_QUIET", g.quiet),
        ("verbose", "--verbose", "MIGRATE_VERBOSE", g.verbose),
    ] {
        settings.push(option(
            g,
            (name, name, flag, variable),
            on.then(|| json!(true)),
            (name, None),
            json!(false),
        ));
    }
    let doc = Document {
        file: g.file_path.as_deref().map(|p| p.display().to_string()),
        settings,
    };
    out.print(&doc, || text(&doc));
    Ok(())
}

fn text(doc: &Document) -> String {
    let mut text = format!(
        "configuration file: {}\n",
        doc.file.as_deref().unwrap_or("none")
    );
    let width = doc.settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &doc.settings {
        let value = match &s.value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        let from = match s.from {
            Origin::Flag => format!("flag {}", s.source),
            Origin::Environment => format!("environment {}", s.source),
            Origin::File => format!("file: {}", s.source),
            Origin::Default => s.source.clone(),
        };
        text.push_str(&format!("{:<width$}  {value}  ({from})\n", s.name));
    }
    text
}
