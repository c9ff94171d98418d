//! A fleet run's progress on stderr: a bar over the databases on a terminal, a line every few
//! seconds (and one per failure) in a deploy log, nothing with `-q` or `--json`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::outcome::Row;
use crate::output::{Output, ProgressKind};

/// How often a deploy log hears of the count.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The display.
pub struct Tally {
    shown: Shown,
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

enum Shown {
    Bar(ProgressBar),
    Lines(Mutex<Instant>),
    Nothing,
}

impl Tally {
    /// Progress over `total` databases, as `out` shows progress.
    pub fn for_output(out: &Output, total: usize) -> Self {
        let shown = match out.progress() {
            ProgressKind::Bar => {
                let bar =
                    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} databases, {per_sec}, ETA {eta}  {msg}",
                    )
                    .expect("a valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                Shown::Bar(bar)
            }
            ProgressKind::Lines => Shown::Lines(Mutex::new(Instant::now())),
            ProgressKind::None => Shown::Nothing,
        };
        Self {
            shown,
            total,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        }
    }

    /// One database's row is known.
    pub fn count(&self, row: &Row) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let failed = if row.outcome.failed() {
            self.failed.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.failed.load(Ordering::SeqCst)
        };
        match &self.shown {
            Shown::Bar(bar) => {
                bar.set_position(done as u64);
                if failed > 0 {
                    bar.set_message(format!("{failed} failed"));
                }
            }
            Shown::Lines(last) => {
                let mut last = last.lock().expect("not poisoned");
                if row.outcome.failed() {
                    crate::output::stderr(&format!(
                        "[{}] {}: {} (exit {})\n",
                        crate::progress::clock(),
                        row.outcome.word(),
                        row.db.display(),
                        row.exit_code
                    ));
                }
                if last.elapsed() >= LINE_EVERY || done == self.total {
                    *last = Instant::now();
                    crate::output::stderr(&format!(
                        "[{}] fleet: {done}/{} database(s) done, {failed} failed\n",
                        crate::progress::clock(),
                        self.total
                    ));
                }
            }
            Shown::Nothing => {}
        }
    }
}

impl Drop for Tally {
    /// The bar goes before the summary.
    fn drop(&mut self) {
        if let Shown::Bar(bar) = &self.shown {
            bar.finish_and_clear();
        }
    }
}
