//! Running a script statement by statement, so that a failure names its line.
//!
//! SQLite parses the script itself (through rusqlite's `Batch`), so triggers, strings and
//! comments containing `;` are handled exactly as SQLite handles them; we only track where each
//! statement starts to report it.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, Statement};

use crate::read::migration::Script;

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

/// Whether a script may end the transaction it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// It runs inside the run's transaction: `BEGIN`, `COMMIT`, `END` and `ROLLBACK` (but not
    /// `ROLLBACK TO` a savepoint) are refused before they run, so what came before them is
    /// rolled back with the run's transaction instead of committed half-way.
    Refused,
    /// It runs outside any transaction of the run (a no-transaction file): its own
    /// transactions are its business.
    Allowed,
}

/// Executes every statement of `script`, discarding rows (a PRAGMA or SELECT may return some).
/// Returns the number of statements executed. (The run uses [`execute_observed`].)
///
/// # Errors
///
/// The first statement that fails (or, under [`Control::Refused`], that would end the
/// transaction), located in the script.
#[cfg(test)]
pub fn execute(
    conn: &Connection,
    script: &Script,
    control: Control,
) -> Result<usize, StatementError> {
    execute_observed(conn, script, control, &mut |_| Ok(()))
}

/// [`execute`], calling `after_each` once each statement has run (its error fails the script
/// there, as the statement's would).
pub(crate) fn execute_observed(
    conn: &Connection,
    script: &Script,
    control: Control,
    after_each: &mut dyn FnMut(&Connection) -> Result<(), String>,
) -> Result<usize, StatementError> {
    each_statement(conn, script.sql(), |stmt, text| {
        if control == Control::Refused
            && let Some(keyword) = transaction_control(text)
        {
            return Err(format!(
                "`{keyword}` would end the run's transaction part-way (what came before it would stay committed); remove it, or mark the file `-- migrate:no-transaction` to manage transactions itself"
            ));
        }
        let mut rows = stmt.raw_query();
        while rows.next().map_err(|e| e.to_string())?.is_some() {}
        drop(rows);
        after_each(conn)
    })
}

/// Runs every query of a verify script; each must return exactly one row with one value, 1,
/// and only read: a statement that would write (or control the transaction) is refused before
/// it runs.
///
/// # Errors
///
/// The first query that fails, returns something else, or would write.
pub fn verify(conn: &Connection, script: &Script) -> Result<usize, StatementError> {
    each_statement(conn, script.sql(), |stmt, text| {
        if let Some(keyword) = transaction_control(text) {
            return Err(format!("`{keyword}`: a verify query must only read"));
        }
        if !stmt.readonly() {
            return Err("a statement that writes: a verify query must only read".to_owned());
        }
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

/// The transaction-control keyword a statement starts with (`BEGIN`, `COMMIT`, `END`,
/// `ROLLBACK`), if any; `ROLLBACK TO` a savepoint only rewinds inside the transaction. The
/// statement's bounds come from SQLite's own parser, so its first word is its command.
fn transaction_control(statement: &str) -> Option<&'static str> {
    let mut words = statement
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase);
    let first = words.next()?;
    let keyword = ["BEGIN", "COMMIT", "END", "ROLLBACK"]
        .into_iter()
        .find(|k| *k == first)?;
    if keyword == "ROLLBACK" {
        let next = words.find(|w| w != "TRANSACTION");
        if next.as_deref() == Some("TO") {
            return None;
        }
    }
    Some(keyword)
}

fn each_statement(
    conn: &Connection,
    sql: &str,
    mut run: impl FnMut(&mut Statement<'_>, &str) -> Result<(), String>,
) -> Result<usize, StatementError> {
    // With the text NUL-terminated, SQLite parses each statement where it lies; without, it
    // copies the whole rest of the script before every statement (quadratic in the file's
    // size: a 4 MB file of INSERTs took 13 s). `Script::parse` refuses NUL bytes inside.
    let terminated = format!("{sql}\0");
    let mut batch = Batch::new(conn, &terminated);
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
        let begin = if sql[pos..].starts_with(&text) {
            pos
        } else {
            match sql[pos..].find(&text) {
                Some(i) if !text.is_empty() => pos + i,
                _ => pos,
            }
        };
        let start = begin + leading_trivia(&sql[begin..]);
        pos = (begin + text.len()).max(start);
        let statement = sql[start..pos].trim().to_owned();
        if let Err(message) = run(&mut stmt, &statement) {
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

    /// A large file runs statement by statement where each lies (no copy of the rest per
    /// statement; see `each_statement`), and a failure near its end is still placed exactly.
    #[test]
    fn a_large_file_runs_every_statement_and_places_a_late_failure() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let mut sql: String = (0..30_000)
            .map(|i| format!("INSERT INTO t VALUES ({i}); -- row {i}\n"))
            .collect();
        let ran = execute(&conn, &script(&sql), Control::Refused).unwrap();
        assert_eq!(ran, 30_000);
        sql.push_str("\n  INSERT INTO missing VALUES (1);\n");
        let e = execute(&conn, &script(&sql), Control::Refused).unwrap_err();
        assert_eq!((e.line, e.executed), (30_002, 30_000));
        assert_eq!(e.statement, "INSERT INTO missing VALUES (1);");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 60_000);
    }

    #[test]
    fn a_nul_byte_is_refused_with_its_line() {
        let e = Script::parse("0001_x.up.sql", "SELECT 1;\nSELECT 2;\0 DROP TABLE t;").unwrap_err();
        assert!(e.to_string().contains("NUL byte at line 2"), "{e}");
    }

    #[test]
    fn runs_every_statement_including_triggers_and_pragmas() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t (x);\n-- a ; in a comment\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\nEND;\nPRAGMA user_version;\nINSERT INTO t VALUES (';');";
        assert_eq!(execute(&conn, &script(sql), Control::Refused).unwrap(), 4);
    }

    #[test]
    fn runtime_error_names_the_statement_line() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t (x);\n\n-- then\nINSERT INTO missing VALUES (1);\nSELECT 1;";
        let err = execute(&conn, &script(sql), Control::Refused).unwrap_err();
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
        let err = execute(&conn, &script(sql), Control::Refused).unwrap_err();
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

    #[test]
    fn statements_that_end_the_transaction_are_refused_before_they_run() {
        let conn = Connection::open_in_memory().unwrap();
        for (stmt, keyword) in [
            ("COMMIT;", "COMMIT"),
            ("commit transaction;", "COMMIT"),
            ("END;", "END"),
            ("ROLLBACK;", "ROLLBACK"),
            ("ROLLBACK TRANSACTION;", "ROLLBACK"),
            ("BEGIN IMMEDIATE;", "BEGIN"),
        ] {
            conn.execute_batch("BEGIN; CREATE TABLE IF NOT EXISTS t (x);")
                .unwrap();
            let sql =
                format!("INSERT INTO t VALUES (1);\n/* then */ {stmt}\nINSERT INTO t VALUES (2);");
            let err = execute(&conn, &script(&sql), Control::Refused).unwrap_err();
            assert_eq!((err.line, err.executed), (2, 1), "{stmt}: {err:?}");
            assert!(err.message.contains(&format!("`{keyword}`")), "{err:?}");
            assert!(!conn.is_autocommit(), "{stmt} ended the transaction");
            conn.execute_batch("ROLLBACK").unwrap();
        }
        // Savepoints stay inside the transaction.
        conn.execute_batch("BEGIN; CREATE TABLE u (x);").unwrap();
        let sql = "SAVEPOINT a; INSERT INTO u VALUES (1); ROLLBACK TO a; ROLLBACK TRANSACTION TO SAVEPOINT a; RELEASE a;";
        assert_eq!(execute(&conn, &script(sql), Control::Refused).unwrap(), 5);
        assert!(!conn.is_autocommit());
        conn.execute_batch("ROLLBACK").unwrap();
        // A no-transaction file manages its own.
        let sql = "BEGIN; CREATE TABLE v (x); COMMIT;";
        assert_eq!(execute(&conn, &script(sql), Control::Allowed).unwrap(), 3);
    }

    #[test]
    fn a_verify_query_that_writes_is_refused_before_it_runs() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE r (x); INSERT INTO r VALUES (1);")
            .unwrap();
        for query in [
            "UPDATE r SET x = 2 RETURNING 1;",
            "INSERT INTO r VALUES (5) RETURNING 1;",
            "DELETE FROM r RETURNING 1;",
            "COMMIT;",
        ] {
            let err = verify(&conn, &script(&format!("SELECT 1;\n{query}"))).unwrap_err();
            assert_eq!(err.line, 2, "{query}");
            assert!(err.message.contains("must only read"), "{query}: {err:?}");
        }
        let x: i64 = conn
            .query_row("SELECT sum(x) FROM r", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 1, "a verify query wrote");
    }
}
