//! `migrate history [--limit N]`: every recorded attempt, newest first.

use belay_migrate::history;

use super::version_text;
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, limit: Option<u32>) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let timeout = context::lock_timeout(g)?;
    let attempts = history::read_attempts(&db, limit, timeout)?;
    #[derive(serde::Serialize)]
    struct Document<'a> {
        attempts: &'a [belay_migrate::history::AttemptRow],
    }
    out.print(
        &Document {
            attempts: &attempts,
        },
        || {
            if attempts.is_empty() {
                return "no attempts recorded\n".to_owned();
            }
            let mut text = String::new();
            for a in &attempts {
                let versions = a
                    .versions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                text.push_str(&format!(
                    "#{} {} {} at {}: {} -> {} [{}] {} ms from start to record, pid {} on {}\n",
                    a.id,
                    a.command,
                    a.outcome,
                    a.started_at,
                    version_text(a.from_version),
                    version_text(a.to_version),
                    versions,
                    a.duration_ms.unwrap_or(0),
                    a.pid,
                    a.host
                ));
                if let Some(error) = &a.error {
                    text.push_str(&format!("    error: {}\n", error.replace('\n', "\n    ")));
                }
            }
            text
        },
    );
    Ok(())
}
