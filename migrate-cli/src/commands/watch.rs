//! `migrate watch`: the watchman of one database, as a long-running process (stopped cleanly
//! by SIGTERM or SIGINT: a task in progress finishes first) or once (`--once`, for cron and
//! systemd timers). Each task's outcome is a line on stdout (a JSON object with `--json`);
//! alerts go to stderr, `on_alert` and the webhook.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use belay_migrate::guard::watch::{Alert, Health, Outcome, Task, Watchman};

use super::health::Document;
use crate::context;
use crate::error::{CliError, code};
use crate::output::{self, Output};
use crate::settings::Settings;
use crate::watching::deliver::{Destinations, Pending};
use crate::watching::serve::{self, Shared, Snapshot};
use crate::watching::{self, metrics};

/// The longest sleep between rounds: the snapshot served is at most this old.
const ROUND: Duration = Duration::from_secs(1);

/// How long a task deferred by a migration run waits before it is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// Long-running, or one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until SIGTERM or SIGINT.
    Guard,
    /// Every due task once.
    Once,
}

pub fn run(g: &Settings, out: &Output, mode: Mode, listen: Option<&str>) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let dir = context::backup_dir(g, &db);
    let mut config = watching::config(g, &db, &dir)?;
    config.remote = crate::offsite::open(g)?.map(Arc::new);
    let destinations = Destinations {
        command: g.file.watch.on_alert.clone(),
        webhook: g.file.watch.webhook.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| CliError::Usage(format!("cannot handle signal {signal}: {e}")))?;
    }
    // A second watchman gets the lock's own error: exit 3, naming `<db>.migrate-watch` and
    // the process that holds it.
    let mut watchman = Watchman::start(config).map_err(belay_migrate::Error::from)?;
    let shared: Shared = Shared::default();
    if let Some(addr) = listen.or(g.file.watch.listen.as_deref()) {
        serve::start(addr, Arc::clone(&shared))?;
    }
    let mut deferred = false;
    let mut pending = Vec::new();
    loop {
        let mut round_deferred = false;
        for task in watchman.due(SystemTime::now()) {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let outcome = watchman.run(task);
            round_deferred |= matches!(outcome, Outcome::Deferred(_));
            show(out, task, &outcome);
        }
        deferred |= round_deferred;
        let report = evaluate(g, &mut watchman, (&destinations, &mut pending), out)?;
        *shared.lock().unwrap_or_else(|p| p.into_inner()) = snapshot(&report);
        if mode == Mode::Once {
            return match watching::exit_code(&report) {
                0 if deferred => Err(CliError::Exit(code::LOCKED)),
                0 => Ok(()),
                code => Err(CliError::Exit(code)),
            };
        }
        // Nothing scheduled: a round a second keeps the report (and its alerts) fresh.
        let next = match watchman.next_due() {
            Some(t) => t
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
            None => ROUND,
        };
        let pause = if round_deferred {
            RETRY
        } else {
            next.min(ROUND)
        };
        if sleep(&stop, pause) {
            return Ok(());
        }
    }
}

/// Sleeps `pause`, waking early when asked to stop; true when asked.
fn sleep(stop: &AtomicBool, pause: Duration) -> bool {
    let until = std::time::Instant::now() + pause;
    loop {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The health report after a round, with its alerts sent.
fn evaluate(
    g: &Settings,
    watchman: &mut Watchman,
    (destinations, pending): (&Destinations, &mut Vec<Pending>),
    out: &Output,
) -> Result<Health, CliError> {
    let db = watchman.config().db.clone();
    let (report, alerts) = watchman.evaluate(watching::inputs(g, &db)?);
    // Alerts that did not reach a destination before go first, in order.
    destinations.retry(pending);
    for alert in &alerts {
        pending.extend(destinations.send(alert));
        announce(out, alert);
    }
    Ok(report)
}

fn snapshot(report: &Health) -> Snapshot {
    Snapshot {
        failing: report.status == belay_migrate::guard::watch::Status::Failing,
        json: serde_json::to_string_pretty(&output::document(&Document::of(report)))
            .expect("reports serialize"),
        metrics: metrics::encode_health(report),
    }
}

/// A task's outcome on stdout.
fn show(out: &Output, task: Task, outcome: &Outcome) {
    let (name, detail) = match outcome {
        Outcome::Done(d) => ("done", d),
        Outcome::Failed(d) => ("failed", d),
        Outcome::Deferred(d) => ("deferred", d),
        Outcome::Quiet(_) => return,
    };
    let line = serde_json::json!({
        "event": "task",
        "task": task.name(),
        "outcome": name,
        "detail": detail,
        "at": belay_migrate::guard::vocab::clock::now_rfc3339(),
    });
    if out.json() {
        output::stdout(&format!("{line}\n"));
    } else if !out.quiet() {
        output::stdout(&format!("{} {name}: {detail}\n", task.name()));
    }
}

/// An alert on stdout too, with `--json`, once it has been delivered, so a supervisor
/// reading the stream sees it.
fn announce(out: &Output, alert: &Alert) {
    if out.json() {
        let mut line = serde_json::to_value(alert).expect("alerts serialize");
        line["event"] = "alert".into();
        output::stdout(&format!("{line}\n"));
    }
}
