//! The subscriber for the libraries' `tracing` spans and events: human lines or JSON objects
//! (one a line, for log shippers) on stderr, never on stdout, which carries results only.
//!
//! Which events: `MIGRATE_LOG` in `EnvFilter` syntax (`info`, `belay_migrate=debug,warn`)
//! when set; otherwise `-v` or `--log-format json` show info and above, `-q` nothing, and
//! without either the log is off: the command's own output already says on stderr what a
//! person at a terminal needs, and a second rendering of it would only repeat it.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::cli::{Global, LogFormat};
use crate::error::CliError;

/// Installs the subscriber the options and `MIGRATE_LOG` ask for.
///
/// # Errors
///
/// [`CliError::Usage`] when `MIGRATE_LOG` is not a filter `EnvFilter` reads.
pub fn install(global: &Global) -> Result<(), CliError> {
    let Some(filter) = filter(global, std::env::var("MIGRATE_LOG").ok())? else {
        return Ok(());
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        // Each span's end carries its fields, its recorded outcome and its duration.
        .with_span_events(FmtSpan::CLOSE);
    // A second install (tests calling main twice) keeps the first.
    let _ = match global.log_format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
    Ok(())
}

/// The filter the options and `variable` (MIGRATE_LOG's value) ask for; `None` for no log.
fn filter(global: &Global, variable: Option<String>) -> Result<Option<EnvFilter>, CliError> {
    let directives = match variable.filter(|v| !v.trim().is_empty()) {
        Some(v) => v,
        None if global.quiet => return Ok(None),
        None if global.verbose || global.log_format == LogFormat::Json => "info".to_owned(),
        None => return Ok(None),
    };
    EnvFilter::builder()
        .parse(&directives)
        .map(Some)
        .map_err(|e| {
            CliError::Usage(format!(
                "MIGRATE_LOG=`{directives}` is not a log filter: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> Global {
        let mut all = vec!["migrate"];
        all.extend_from_slice(args);
        all.push("status");
        crate::cli::Cli::parse_from(all).global
    }

    #[test]
    fn the_log_is_off_unless_asked_and_migrate_log_wins() {
        assert!(filter(&global(&[]), None).unwrap().is_none());
        assert!(filter(&global(&["-q"]), None).unwrap().is_none());
        let shown = |g: &Global, v: Option<&str>| {
            filter(g, v.map(str::to_owned))
                .unwrap()
                .map(|f| f.to_string())
        };
        assert_eq!(shown(&global(&["-v"]), None).as_deref(), Some("info"));
        assert_eq!(
            shown(&global(&["--log-format", "json"]), None).as_deref(),
            Some("info")
        );
        assert_eq!(
            shown(&global(&["-q"]), Some("belay_migrate=debug")).as_deref(),
            Some("belay_migrate=debug")
        );
        assert!(shown(&global(&[]), Some("  ")).is_none());
        let err = filter(&global(&[]), Some("belay_migrate=loud".to_owned())).unwrap_err();
        assert!(
            err.to_string()
                .contains("MIGRATE_LOG=`belay_migrate=loud` is not a log filter"),
            "{err}"
        );
    }
}
