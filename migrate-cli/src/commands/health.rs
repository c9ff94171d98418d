//! `migrate health`: one report, read only, with an exit code a container or systemd probe
//! can use (0 ok, 8 degraded, 6 corruption found by the last check, 9 failing).

use belay_migrate::guard::watch::health;

use crate::cli::HealthFormat;
use crate::context;
use crate::error::CliError;
use crate::output::{self, Output};
use crate::settings::Settings;
use crate::watching::{self, metrics};

pub fn run(g: &Settings, out: &Output, format: HealthFormat) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let dir = context::backup_dir(g, &db);
    let report = health::health(&db, &dir, watching::inputs(g, &db)?);
    match format {
        HealthFormat::Prometheus => output::stdout(&metrics::encode_health(&report)),
        HealthFormat::Json => output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&output::document(&Document::of(&report)))
                .expect("reports serialize")
        )),
        HealthFormat::Text => out.print(&Document::of(&report), || watching::text(&report)),
    }
    match watching::exit_code(&report) {
        0 => Ok(()),
        code => Err(CliError::Exit(code)),
    }
}

/// `health --json`: the report, `ok` true only when the status is ok.
#[derive(serde::Serialize)]
pub struct Document<'a> {
    ok: bool,
    #[serde(flatten)]
    report: &'a health::Health,
}

impl<'a> Document<'a> {
    pub fn of(report: &'a health::Health) -> Self {
        Document {
            ok: report.status == health::Status::Ok,
            report,
        }
    }
}
