//! Directives: `-- migrate:<name>` comments among the leading comment lines of a file.
//!
//! The only directive today is `-- migrate:no-transaction`, which runs the file outside a
//! transaction (for statements SQLite refuses inside one, such as `VACUUM`). An unknown
//! `-- migrate:` directive is an error rather than silently ignored, so a typo such as
//! `-- migrate:no-transactoin` cannot quietly change how a file runs.

use serde::Serialize;

use crate::vocab::error::Error;

/// How a script runs with respect to transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionMode {
    /// Inside the run's transaction (the default).
    Transactional,
    /// On its own, outside any transaction (`-- migrate:no-transaction`).
    NoTransaction,
    /// On its own, outside the run's transactions, because the file opens its own (a top-level
    /// `BEGIN`, as golang-migrate and goose files often do): found without a directive.
    OwnTransaction,
}

impl TransactionMode {
    /// Whether the script runs outside the run's transactions (its statements commit as they
    /// go, so the safety net covers it with the backup).
    pub fn runs_outside(self) -> bool {
        self != TransactionMode::Transactional
    }
}

const PREFIX: &str = "migrate:";

/// Reads the directives of a script from its leading comment lines (blank lines and `--`
/// comments before the first statement).
///
/// # Errors
///
/// [`Error::UnknownDirective`] naming `origin` and the line for an unknown directive.
pub fn transaction_mode(origin: &str, sql: &str) -> Result<TransactionMode, Error> {
    let mut mode = TransactionMode::Transactional;
    for (index, line) in sql.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some(comment) = trimmed.strip_prefix("--") else {
            break;
        };
        let Some(directive) = comment.trim().strip_prefix(PREFIX) else {
            continue;
        };
        match directive.trim() {
            "no-transaction" => mode = TransactionMode::NoTransaction,
            other => {
                return Err(Error::UnknownDirective {
                    origin: origin.to_owned(),
                    line: index + 1,
                    directive: other.to_owned(),
                });
            }
        }
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_transaction_directive_in_leading_comments() {
        let sql = "-- reclaim space\n-- migrate:no-transaction\nVACUUM;\n";
        assert_eq!(
            transaction_mode("f", sql).unwrap(),
            TransactionMode::NoTransaction
        );
    }

    #[test]
    fn directive_after_first_statement_is_plain_comment() {
        let sql = "VACUUM;\n-- migrate:no-transaction\n";
        assert_eq!(
            transaction_mode("f", sql).unwrap(),
            TransactionMode::Transactional
        );
    }

    #[test]
    fn unknown_directive_names_file_and_line() {
        let err = transaction_mode("0003_x.up.sql", "\n-- migrate:no-transactoin\nSELECT 1;")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0003_x.up.sql:2: unknown directive `migrate:no-transactoin` (known: no-transaction)"
        );
    }
}
