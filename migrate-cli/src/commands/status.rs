//! `migrate status`: where the database stands.

use belay_migrate::Named;

use super::version_text;
use crate::context;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

/// `status --json`: the core's status with the layout the migrations were read as.
#[derive(serde::Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    status: &'a belay_migrate::Status,
    format: &'a str,
    format_from: &'a str,
}

pub fn run(g: &Settings, out: &Output) -> Result<(), CliError> {
    let db = context::db_path(g)?;
    context::readable(g, out, &db)?;
    let read = context::migrations(g)?;
    let status = context::migrator_over(g, read.migrations)?.status(&db)?;
    let doc = Document {
        status: &status,
        format: read.format.name(),
        format_from: &read.reason,
    };
    out.print(&doc, || {
        let mut text = String::new();
        if !status.database_exists {
            text.push_str(&format!(
                "database: {} does not exist yet (`up` creates it; nothing was created)\n",
                db.display()
            ));
        }
        text.push_str(&format!(
            "current version: {} (latest available: {})\n",
            version_text(status.current_version),
            version_text(status.latest_version)
        ));
        text.push_str(&format!(
            "migrations: {} format ({})\n",
            read.format, read.reason
        ));
        text.push_str(&format!("applied: {}\n", status.applied.len()));
        if out.verbose() {
            for a in &status.applied {
                text.push_str(&format!("  {} {} at {}\n", a.version, a.name, a.applied_at));
            }
        }
        section(&mut text, "pending", &status.pending);
        section(&mut text, "changed since applied", &status.changed);
        section(&mut text, "applied but missing", &status.missing);
        section(
            &mut text,
            "pending below the current version",
            &status.out_of_order,
        );
        if let Some(by) = &status.migrated_by {
            text.push_str(&format!(
                "migrated by {} ({} is here): run `migrate adopt` to take it over\n",
                by.peer, by.table
            ));
        }
        for problem in &status.problems {
            if let belay_migrate::Problem::SchemaDrift { differences, .. } = problem {
                text.push_str(
                    "schema drift: the schema was changed outside migrations since the last run",
                );
                if differences.is_empty() {
                    text.push_str(" (which objects is not known)\n");
                } else {
                    text.push_str(":\n");
                    for d in differences {
                        text.push_str(&format!("  {}\n", d.as_drift()));
                    }
                }
                text.push_str(
                    "  review it, then `migrate accept-drift` (or run with --allow-drift)\n",
                );
            }
        }
        text
    });
    Ok(())
}

fn section(text: &mut String, title: &str, items: &[Named]) {
    if items.is_empty() && title != "pending" {
        return;
    }
    text.push_str(&format!("{title}: {}\n", items.len()));
    for item in items {
        let note = if item.no_statement {
            " (no statement: recorded as applied, runs nothing)"
        } else {
            ""
        };
        text.push_str(&format!("  {} {}{note}\n", item.version, item.name));
    }
}
