//! `migrate new NAME`: the next-numbered migration files.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use belay_migrate::source;
use serde::Serialize;

use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

#[derive(Serialize)]
struct Created {
    version: i64,
    name: String,
    files: Vec<PathBuf>,
}

pub fn run(g: &Settings, out: &Output, name: &str) -> Result<(), CliError> {
    let name = slug(name)?;
    let dir = &crate::context::migrations_dir(g);
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (format, latest) = source::latest_version(dir, &crate::context::read_options(g))?;
    if !matches!(
        format,
        belay_migrate::format::Format::Native | belay_migrate::format::Format::Sqlx
    ) {
        return Err(CliError::Usage(format!(
            "{} is read as {format}; `migrate new` writes this tool's own files (.up.sql, .down.sql, .verify.sql), which would be refused there: write the next {format} migration by hand",
            dir.display()
        )));
    }
    let latest = latest.unwrap_or(0);
    let version = latest.checked_add(1).ok_or_else(|| {
        CliError::Usage(format!(
            "the latest migration is version {latest}, the largest there can be: no version comes after it"
        ))
    })?;
    let base = format!("{version:04}_{name}");
    let templates = belay_migrate::source::templates(&base);
    let mut files = Vec::new();
    for (suffix, text) in templates {
        let path = dir.join(format!("{base}.{suffix}.sql"));
        // create_new: never overwrite a file someone already wrote.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
        file.write_all(text.as_bytes())
            .map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
        files.push(path);
    }
    let created = Created {
        version,
        name,
        files,
    };
    out.print(&created, || {
        created
            .files
            .iter()
            .map(|f| format!("created {}\n", f.display()))
            .collect()
    });
    Ok(())
}

/// `Add Email-Column` becomes `add_email_column`.
fn slug(name: &str) -> Result<String, CliError> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_').to_owned();
    if slug.is_empty() {
        return Err(CliError::Usage(format!(
            "`{name}` is not a usable migration name: use letters, digits and underscores"
        )));
    }
    Ok(slug)
}
