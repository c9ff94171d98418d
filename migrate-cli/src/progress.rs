//! Showing a run's progress on stderr: a bar with the elapsed time, rate and estimate on a
//! terminal (indicatif), plain timestamped lines elsewhere (a deploy log), nothing with `-q` or
//! `--json`. Stdout stays the result.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use belay_migrate::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Output;

/// How progress is shown.
pub enum Shown {
    /// A bar on the terminal.
    Bar(ProgressBar),
    /// Timestamped lines (statement counts at most every few seconds).
    Lines(Mutex<Instant>),
}

impl Shown {
    /// How `out` shows progress, if at all.
    pub fn for_output(out: &Output) -> Option<Shown> {
        match out.progress() {
            crate::output::ProgressKind::Bar => {
                let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} migrations, ETA {eta}  {msg}",
                    )
                    .expect("a valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(Shown::Bar(bar))
            }
            crate::output::ProgressKind::Lines => Some(Shown::Lines(Mutex::new(Instant::now()))),
            crate::output::ProgressKind::None => None,
        }
    }

    /// Shows one event.
    pub fn show(&self, event: &Progress) {
        match self {
            Shown::Bar(bar) => {
                if let Progress::Migration { index, total, .. } = event {
                    bar.set_length(*total as u64);
                    bar.set_position(index.saturating_sub(1) as u64);
                }
                if matches!(event, Progress::Committing) {
                    bar.set_position(bar.length().unwrap_or(0));
                }
                bar.set_message(describe(event));
            }
            Shown::Lines(last) => {
                if let Progress::Statements { .. } = event {
                    let mut last = last.lock().expect("not poisoned");
                    if last.elapsed() < Duration::from_secs(5) {
                        return;
                    }
                    *last = Instant::now();
                }
                crate::output::stderr(&format!("[{}] {}\n", clock(), describe(event)));
            }
        }
    }

    /// The run is over: the bar goes (the result follows on stdout).
    pub fn finish(&self) {
        if let Shown::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Shows a run's or a restore's progress as `out` wants it: the observer to hand to the
/// library (none when nothing is shown), and the display, to finish once the work is done.
pub struct Display {
    shown: Arc<Option<Shown>>,
}

impl Display {
    pub fn for_output(out: &Output) -> Self {
        Self {
            shown: Arc::new(Shown::for_output(out)),
        }
    }

    /// What the library tells progress to, if anything is shown.
    pub fn observer(&self) -> Option<belay_migrate::Observer> {
        self.shown.as_ref().as_ref()?;
        let shown = Arc::clone(&self.shown);
        Some(belay_migrate::Observer::new(move |event| {
            if let Some(s) = shown.as_ref() {
                s.show(event);
            }
        }))
    }
}

impl Drop for Display {
    /// The work is over (done or failed): the bar goes before the result or the error.
    fn drop(&mut self) {
        if let Some(s) = self.shown.as_ref() {
            s.finish();
        }
    }
}

/// A timeout for people: `1 s`, `2.5 s`, `60 s`.
fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// An event for people.
fn describe(event: &Progress) -> String {
    match event {
        Progress::WaitingForLock {
            holder,
            waited,
            timeout,
        } => format!(
            "waiting for the migration lock (up to {}, {:.1} s so far), held by {}",
            seconds(*timeout),
            waited.as_secs_f64(),
            holder.as_deref().unwrap_or("another process")
        ),
        Progress::CheckingAndBackingUp => {
            "checking the database and taking the pre-run backup".to_owned()
        }
        Progress::Migration {
            version,
            name,
            index,
            total,
        } => format!("migration {index}/{total}: {version} {name}"),
        Progress::Statements {
            version,
            done,
            elapsed,
        } => {
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.0 { *done as f64 / secs } else { 0.0 };
            format!("migration {version}: {done} statements in {secs:.1} s ({rate:.0}/s)")
        }
        Progress::Committing => "checking before COMMIT and committing".to_owned(),
        Progress::BackingUpCurrent => {
            "backing up the state being replaced (pre-restore)".to_owned()
        }
        Progress::Restoring { backup } => format!("verifying and restoring backup {backup}"),
        other => format!("{other:?}"),
    }
}

/// The time of day, UTC, for log lines.
pub fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}Z", day / 3600, day % 3600 / 60, day % 60)
}
