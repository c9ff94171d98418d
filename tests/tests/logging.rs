//! What the libraries tell an application's log (#32): a test subscriber records every span
//! (name, fields, the values recorded later) and event (level, message, fields, the span it
//! is in) of a good run and of a failed one, and the CLI's JSON log keeps stdout clean.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use belay_migrate::{DatabaseState, DownTarget, Migrator, Request, TransactionScope, source};
use migrate_tests::{Scratch, example_migrations, fixture};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span as seen: its name and every field it was given or recorded.
#[derive(Debug, Clone, Default)]
struct SeenSpan {
    name: String,
    fields: BTreeMap<String, String>,
}

/// One event as seen.
#[derive(Debug, Clone)]
struct SeenEvent {
    level: tracing::Level,
    message: String,
    fields: BTreeMap<String, String>,
    span: Option<String>,
}

#[derive(Default)]
struct Seen {
    spans: BTreeMap<u64, SeenSpan>,
    events: Vec<SeenEvent>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut span = SeenSpan {
            name: attrs.metadata().name().to_owned(),
            ..SeenSpan::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        self.0.lock().unwrap().spans.insert(id.into_u64(), span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(span) = self.0.lock().unwrap().spans.get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.0.lock().unwrap().events.push(SeenEvent {
            level: *event.metadata().level(),
            message,
            fields,
            span,
        });
    }
}

/// Runs `f` with the recorder as this thread's subscriber, at every level.
fn recorded(f: impl FnOnce()) -> (Vec<SeenSpan>, Vec<SeenEvent>) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, f);
    let seen = recorder.0.lock().unwrap();
    (seen.spans.values().cloned().collect(), seen.events.clone())
}

fn spans_named<'a>(spans: &'a [SeenSpan], name: &str) -> Vec<&'a SeenSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[test]
fn a_good_run_logs_its_run_its_migrations_and_its_safety_steps() {
    let s = Scratch::new();
    // A database with something in it, so that the net (pre-flight, backup) runs.
    s.conn()
        .execute_batch("CREATE TABLE app_settings (k TEXT PRIMARY KEY, v TEXT);")
        .unwrap();
    let migrations = source::read_dir(example_migrations()).unwrap();
    let count = migrations.iter().count();
    let (spans, events) = recorded(|| {
        Migrator::new(migrations).up(s.db()).unwrap();
    });

    let run = spans_named(&spans, "run");
    assert_eq!(run.len(), 1, "{spans:#?}");
    let run = &run[0].fields;
    assert_eq!(run["direction"], "up");
    assert_eq!(run["target"], "all pending");
    assert_eq!(run["outcome"], "applied");
    assert_eq!(run["steps"], count.to_string());
    assert!(run["db"].ends_with("app.db"), "{run:?}");
    assert!(run.contains_key("duration_ms"), "{run:?}");

    let migrations = spans_named(&spans, "migration");
    assert_eq!(migrations.len(), count);
    assert_eq!(migrations[0].fields["version"], "1");
    assert_eq!(migrations[0].fields["migration_name"], "create_users");
    for m in &migrations {
        assert!(m.fields.contains_key("duration_ms"), "{m:?}");
        assert!(m.fields["statements"].parse::<u32>().unwrap() >= 1, "{m:?}");
    }
    for step in ["lock", "recover", "preflight", "backup", "checks"] {
        let found = spans_named(&spans, step);
        assert_eq!(found.len(), 1, "{step}: {spans:#?}");
        assert!(
            found[0].fields.contains_key("duration_ms"),
            "{step}: {found:?}"
        );
    }
    let backup = &spans_named(&spans, "backup")[0].fields;
    assert!(backup["id"].ends_with("pre-migrate"), "{backup:?}");
    // The guard's own span inside the pre-flight (its thread was handed the subscriber).
    let check = spans_named(&spans, "integrity_check");
    assert!(
        check
            .iter()
            .any(|c| c.fields.get("verdict").map(String::as_str) == Some("Ok")),
        "{check:?}"
    );

    let applied: Vec<&SeenEvent> = events
        .iter()
        .filter(|e| e.message == "applied migration")
        .collect();
    assert_eq!(applied.len(), count);
    assert!(applied.iter().all(|e| e.level == tracing::Level::INFO));
    assert_eq!(applied[0].fields["migration_name"], "create_users");
    let end = events.iter().find(|e| e.message == "run finished").unwrap();
    assert_eq!(end.level, tracing::Level::INFO);
    assert_eq!(end.span.as_deref(), Some("run"));
    assert_eq!(end.fields["to_version"], count.to_string());
    assert!(end.fields.contains_key("backup"), "{end:?}");
    // Each statement at trace level, inside its migration's span.
    assert!(events.iter().any(|e| e.level == tracing::Level::TRACE
        && e.message == "statement done"
        && e.span.as_deref() == Some("migration")));
    // Nothing an operator should look at.
    assert!(
        events.iter().all(|e| e.level > tracing::Level::WARN),
        "{:#?}",
        events
            .iter()
            .filter(|e| e.level <= tracing::Level::WARN)
            .collect::<Vec<_>>()
    );
}

/// Each kind of request names its target in the run span, in words, with its direction.
#[test]
fn each_request_names_its_target_in_the_run_span() {
    let s = Scratch::new();
    let m = Migrator::new(source::read_dir(example_migrations()).unwrap());
    let requests = [
        (Request::Up { to: Some(3) }, "up", "up to 3"),
        (Request::Up { to: None }, "up", "all pending"),
        (Request::Down(DownTarget::To(4)), "down", "down to 4"),
        (
            Request::Down(DownTarget::Steps(2)),
            "down",
            "2 step(s) down",
        ),
    ];
    for (request, direction, target) in requests {
        let (spans, _) = recorded(|| {
            m.run(s.db(), &request).unwrap();
        });
        let run = &spans_named(&spans, "run")[0].fields;
        assert_eq!(run["direction"], direction, "{request:?}");
        assert_eq!(run["target"], target, "{request:?}");
    }
    assert_eq!(
        migrate_tests::count(&s.conn(), "SELECT max(version) FROM _migrate_history"),
        2
    );
}

#[test]
fn a_failed_run_says_what_failed_and_what_it_left_at_warn() {
    let s = Scratch::new();
    s.conn()
        .execute_batch("CREATE TABLE app_settings (k TEXT PRIMARY KEY, v TEXT);")
        .unwrap();
    let broken = source::read_dir(fixture("migrations_broken")).unwrap();
    let mut per_migration = Migrator::new(broken);
    per_migration.transaction_scope(TransactionScope::PerMigration);
    let (spans, events) = recorded(|| {
        let error = per_migration.up(s.db()).unwrap_err();
        assert!(matches!(
            error.database_state(),
            DatabaseState::Restored { .. }
        ));
    });
    let run = &spans_named(&spans, "run")[0].fields;
    assert_eq!(run["outcome"], "failed");
    let failed = events.iter().find(|e| e.message == "run failed").unwrap();
    assert_eq!(failed.level, tracing::Level::WARN);
    assert!(failed.fields["error"].contains("0003"), "{failed:?}");
    assert!(failed.fields["database"].contains("restored"), "{failed:?}");
    // The restore of what had committed: its span, its outcome, and a warning.
    let restore = spans_named(&spans, "restore");
    assert_eq!(restore.len(), 1, "{spans:#?}");
    assert!(
        restore[0].fields["outcome"].contains("restored"),
        "{restore:?}"
    );
    assert!(
        events.iter().any(|e| e.level == tracing::Level::WARN
            && e.message == "part of a failed run had committed")
    );
    // Nothing is said to be applied: its commits were undone.
    assert!(!events.iter().any(|e| e.message == "applied migration"));
}

/// `migrate --log-format json up`: every stderr line that is not progress is one JSON object,
/// the run's span closes with its outcome, and stdout carries the results only.
#[test]
fn the_cli_writes_json_log_lines_to_stderr_only() {
    let s = Scratch::with_migrations(&example_migrations());
    let run = s.migrate(&["--log-format", "json", "up"]).expect(0);
    let logged: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["fields"]["message"] == "applied migration" && l["level"] == "INFO"),
        "{}",
        run.stderr
    );
    let closed = logged
        .iter()
        .find(|l| l["span"]["name"] == "run" && l["fields"]["message"] == "close")
        .unwrap();
    assert_eq!(closed["span"]["outcome"], "applied");
    assert!(!run.stdout.contains('{'), "{}", run.stdout);
    assert!(
        run.stdout.contains("applied 1 create_users"),
        "{}",
        run.stdout
    );

    // Off unless asked; MIGRATE_LOG picks the events; a bad filter is a usage error.
    let s = Scratch::with_migrations(&example_migrations());
    let quiet = s.migrate(&["up"]).expect(0);
    assert!(!quiet.stderr.contains("INFO"), "{}", quiet.stderr);
    let bad = migrate_tests::migrate_command()
        .env("MIGRATE_LOG", "belay_migrate=loud")
        .args(["--db"])
        .arg(s.db())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a log filter"));
}
