//! Running a script statement by statement, so that a failure names its line.
//!
//! SQLite parses the script itself (through rusqlite's `Batch`), so triggers, strings and
//! comments containing `;` are handled exactly as SQLite handles them; we only track where each
//! statement starts to report it.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, Statement};

use crate::migration::Script;

/// A statement that failed, located in its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    /// The 1-based line where the statement (or the bad token) is.
    pub line: usize,
    /// The statement text, without leading comments.
    pub statement: String,
    /// SQLite's message, or what a verification returned.
    pub message: String,
    /// How many statements of the script had already run.
    pub executed: usize,
}

/// Executes every statement of `script`, discarding rows (a PRAGMA or SELECT may return some).
/// Returns the number of statements executed.
pub fn execute(conn: &Connection, script: &Script) -> Result<usize, StatementError> {
    each_statement(conn, script.sql(), |stmt| {
        let mut rows = stmt.raw_query();
        while rows.next().map_err(|e| e.to_string())?.is_some() {}
        Ok(())
    })
}

/// Runs every query of a verify script; each must return exactly one row with one value, 1.
pub fn verify(conn: &Connection, script: &Script) -> Result<usize, StatementError> {
    each_statement(conn, script.sql(), |stmt| {
        if stmt.column_count() != 1 {
            return Err(format!("{} columns", stmt.column_count()));
        }
        let mut rows = stmt.raw_query();
        let mut seen = 0usize;
        let mut first = String::new();
        let mut holds = false;
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            seen += 1;
            if seen == 1 {
                let value = row.get_ref(0).map_err(|e| e.to_string())?;
                holds = matches!(value, ValueRef::Integer(1));
                first = describe(value);
            }
        }
        match seen {
            1 if holds => Ok(()),
            1 => Err(first),
            n => Err(format!("{n} rows")),
        }
    })
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

fn each_statement(
    conn: &Connection,
    sql: &str,
    mut run: impl FnMut(&mut Statement<'_>) -> Result<(), String>,
) -> Result<usize, StatementError> {
    let mut batch = Batch::new(conn, sql);
    // Byte offset where SQLite will start parsing the next statement.
    let mut pos = 0usize;
    let mut executed = 0usize;
    loop {
        let mut stmt = match batch.next() {
            Ok(Some(stmt)) => stmt,
            Ok(None) => return Ok(executed),
            Err(err) => {
                let at = match &err {
                    rusqlite::Error::SqlInputError { offset, .. } if *offset >= 0 => {
                        (pos + *offset as usize).min(sql.len())
                    }
                    _ => pos + leading_trivia(&sql[pos..]),
                };
                let end = statement_end(sql, at);
                let start = pos + leading_trivia(&sql[pos..]);
                return Err(StatementError {
                    line: line_of(sql, at),
                    statement: sql[start.min(end)..end].trim().to_owned(),
                    message: message(&err),
                    executed,
                });
            }
        };
        // SQLite keeps the statement's text from where parsing began up to its end.
        let text = stmt.expanded_sql().unwrap_or_default();
        let begin = match sql[pos..].find(&text) {
            Some(i) if !text.is_empty() => pos + i,
            _ => pos,
        };
        let start = begin + leading_trivia(&sql[begin..]);
        pos = (begin + text.len()).max(start);
        let statement = sql[start..pos].trim().to_owned();
        if let Err(message) = run(&mut stmt) {
            return Err(StatementError {
                line: line_of(sql, start),
                statement,
                message,
                executed,
            });
        }
        executed += 1;
    }
}

fn message(err: &rusqlite::Error) -> String {
    match err {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

fn line_of(sql: &str, byte: usize) -> usize {
    sql[..byte.min(sql.len())].matches('\n').count() + 1
}

/// Length of the whitespace and comments at the start of `sql`.
fn leading_trivia(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            i += sql[i..].find('\n').map_or(sql.len() - i, |n| n + 1);
        } else if bytes[i..].starts_with(b"/*") {
            i += sql[i..].find("*/").map_or(sql.len() - i, |n| n + 2);
        } else {
            return i;
        }
    }
}

/// Where the statement containing `at` probably ends, for showing it in an error: the next
/// `;` or the end of the text.
fn statement_end(sql: &str, at: usize) -> usize {
    sql[at..].find(';').map_or(sql.len(), |n| at + n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(sql: &str) -> Script {
        Script::parse("0001_x.up.sql", sql).unwrap()
    }

    #[test]
    fn runs_every_statement_including_triggers_and_pragmas() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t (x);\n-- a ; in a comment\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\nEND;\nPRAGMA user_version;\nINSERT INTO t VALUES (';');";
        assert_eq!(execute(&conn, &script(sql)).unwrap(), 4);
    }

    #[test]
    fn runtime_error_names_the_statement_line() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t (x);\n\n-- then\nINSERT INTO missing VALUES (1);\nSELECT 1;";
        let err = execute(&conn, &script(sql)).unwrap_err();
        assert_eq!(err.line, 4);
        assert_eq!(err.statement, "INSERT INTO missing VALUES (1);");
        assert!(
            err.message.contains("no such table: missing"),
            "{}",
            err.message
        );
        assert_eq!(err.executed, 1);
    }

    #[test]
    fn syntax_error_names_the_line_of_the_bad_token() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t (x);\nCREATE TABLE u (\n  y INTEGER,\n  z TEXT NOT NUL\n);";
        let err = execute(&conn, &script(sql)).unwrap_err();
        assert_eq!(err.line, 4, "{err:?}");
        assert!(err.statement.starts_with("CREATE TABLE u"), "{err:?}");
        assert_eq!(err.executed, 1);
    }

    #[test]
    fn verify_accepts_one_true_row_only() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE r (x); INSERT INTO r VALUES (1), (2);")
            .unwrap();
        assert_eq!(
            verify(&conn, &script("SELECT count(*) = 2 FROM r;\nSELECT 1;")).unwrap(),
            2
        );
        let cases = [
            ("SELECT count(*) = 3 FROM r;", "0"),
            ("SELECT x FROM r;", "2 rows"),
            ("SELECT x FROM r WHERE x > 5;", "0 rows"),
            ("SELECT NULL;", "NULL"),
            ("SELECT 1, 1;", "2 columns"),
            ("SELECT 'yes';", "'yes'"),
        ];
        for (query, returned) in cases {
            let err = verify(&conn, &script(&format!("SELECT 1;\n{query}"))).unwrap_err();
            assert_eq!((err.line, err.message.as_str()), (2, returned), "{query}");
        }
    }
}
