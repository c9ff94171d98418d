//! `migrate accept-drift`: after review, the schema as it is now becomes the expected one.

use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    let accepted = context::migrator(g)?.accept_drift(&db)?;
    out.print(&accepted, || {
        if !accepted.drifted {
            return "no drift: the schema is as the last run recorded it; nothing recorded\n"
                .to_owned();
        }
        let mut text = String::from("accepted the current schema as the expected one");
        if accepted.differences.is_empty() {
            text.push_str(" (the last run recorded only its fingerprint: which objects changed is not known)\n");
        } else {
            text.push_str(":\n");
            for d in &accepted.differences {
                text.push_str(&format!("  {}\n", d.as_drift()));
            }
        }
        text
    });
    Ok(())
}
