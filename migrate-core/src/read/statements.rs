//! Where a script's top-level statements begin, found without a database: the state machine
//! of SQLite's own `sqlite3_complete()`, which knows that the `;` and the `END` inside a
//! `CREATE TRIGGER … BEGIN … END` body do not end the statement, and that quotes and comments
//! hide everything inside them.
//!
//! Used before a script runs, to see that a file manages its own transaction (a top-level
//! `BEGIN`), which SQLite's parser would only tell statement by statement as it executes.

/// One top-level statement: its first word (upper-cased) and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// The statement's first keyword, upper-cased (`CREATE`, `BEGIN`, …).
    pub word: String,
    /// The 1-based line of the script where it starts.
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Semi,
    Space,
    Other,
    Explain,
    Create,
    Temp,
    Trigger,
    End,
}

// States and transitions of sqlite3_complete(): 0 invalid (nothing yet), 1 start (after a
// `;`), 2 normal, 3 after EXPLAIN, 4 after CREATE, 5 inside a trigger, 6 a `;` inside a
// trigger, 7 `END` after such a `;`.
const TRANSITIONS: [[u8; 8]; 8] = [
    // Semi Space Other Explain Create Temp Trigger End
    [1, 0, 2, 3, 4, 2, 2, 2],
    [1, 1, 2, 3, 4, 2, 2, 2],
    [1, 2, 2, 2, 2, 2, 2, 2],
    [1, 3, 3, 2, 4, 2, 2, 2],
    [1, 4, 2, 2, 2, 4, 5, 2],
    [6, 5, 5, 5, 5, 5, 5, 5],
    [6, 6, 5, 5, 5, 5, 5, 7],
    [1, 7, 5, 5, 5, 5, 5, 5],
];

/// The top-level statements of `sql`, in order.
pub(crate) fn starts(sql: &str) -> Vec<Start> {
    let bytes = sql.as_bytes();
    let mut state = 0u8;
    let mut at = 0usize;
    let mut line = 1usize;
    let mut found = Vec::new();
    while at < bytes.len() {
        let begin = at;
        let token = match bytes[at] {
            b';' => {
                at += 1;
                Token::Semi
            }
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => {
                at += 1;
                Token::Space
            }
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = find(bytes, at, b"\n").map_or(bytes.len(), |end| end + 1);
                Token::Space
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = find(bytes, at + 2, b"*/").map_or(bytes.len(), |end| end + 2);
                Token::Space
            }
            quote @ (b'\'' | b'"' | b'`') => {
                at = closing(bytes, at + 1, quote);
                Token::Other
            }
            b'[' => {
                at = find(bytes, at, b"]").map_or(bytes.len(), |end| end + 1);
                Token::Other
            }
            c if is_word(c) => {
                while at < bytes.len() && is_word(bytes[at]) {
                    at += 1;
                }
                keyword(&sql[begin..at])
            }
            _ => {
                at += 1;
                Token::Other
            }
        };
        if token != Token::Space && token != Token::Semi && state <= 1 {
            found.push(Start {
                word: sql[begin..at].to_ascii_uppercase(),
                line,
            });
        }
        line += bytes[begin..at].iter().filter(|&&b| b == b'\n').count();
        state = TRANSITIONS[usize::from(state)][token as usize];
    }
    found
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn keyword(word: &str) -> Token {
    match word.to_ascii_uppercase().as_str() {
        "EXPLAIN" => Token::Explain,
        "CREATE" => Token::Create,
        "TEMP" | "TEMPORARY" => Token::Temp,
        "TRIGGER" => Token::Trigger,
        "END" => Token::End,
        _ => Token::Other,
    }
}

/// The index where `needle` starts at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Past the quote closing one opened before `from` (a doubled quote is an escaped one).
fn closing(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        if bytes[from] == quote {
            if bytes.get(from + 1) == Some(&quote) {
                from += 2;
                continue;
            }
            return from + 1;
        }
        from += 1;
    }
    bytes.len()
}

/// The line of the first top-level `BEGIN` in `sql`: a script that opens (and so manages) its
/// own transaction.
pub(crate) fn own_transaction(sql: &str) -> Option<usize> {
    starts(sql)
        .into_iter()
        .find(|s| s.word == "BEGIN")
        .map(|s| s.line)
}

/// Whether `sql` holds anything but comments, whitespace and `;` (which SQLite would run as
/// nothing at all).
pub fn has_statement(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return !rest.is_empty();
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::fallible_iterator::FallibleIterator;

    use super::*;

    fn words(sql: &str) -> Vec<(String, usize)> {
        starts(sql).into_iter().map(|s| (s.word, s.line)).collect()
    }

    #[test]
    fn trigger_bodies_quotes_and_comments_hide_their_semicolons_and_keywords() {
        let sql = "CREATE TABLE t (x);\n\
                   CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = ';';\n  SELECT 1; END;\n\
                   -- BEGIN; in a comment\n/* COMMIT; */ insert into t values ('a;b', \"c;d\", [e;f]);\n\
                   explain select 1;";
        assert_eq!(
            words(sql),
            [
                ("CREATE".to_owned(), 1),
                ("CREATE".to_owned(), 2),
                ("INSERT".to_owned(), 6),
                ("EXPLAIN".to_owned(), 7)
            ]
        );
        assert_eq!(own_transaction(sql), None);
    }

    #[test]
    fn a_top_level_begin_is_found_with_its_line() {
        let sql = "PRAGMA foreign_keys = OFF;\n\nbegin immediate;\nCREATE TRIGGER a AFTER DELETE ON t BEGIN DELETE FROM u; END;\nCOMMIT;";
        assert_eq!(own_transaction(sql), Some(3));
        assert_eq!(
            words(sql).last(),
            Some(&("COMMIT".to_owned(), 5)),
            "the trigger's END is not a statement"
        );
    }

    /// The first word after leading blanks and comments.
    fn first_word(text: &str) -> String {
        let mut rest = text;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix("--") {
                rest = after.split_once('\n').map_or("", |(_, r)| r);
            } else if let Some(after) = rest.strip_prefix("/*") {
                rest = after.split_once("*/").map_or("", |(_, r)| r);
            } else {
                break;
            }
        }
        rest.split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase()
    }

    /// SQLite's own parser as the oracle: every statement it prepares, one by one, starts where
    /// the splitter says, for scripts built from random pieces.
    #[test]
    fn agrees_with_sqlites_parser_on_random_scripts() {
        let pieces = [
            "CREATE TABLE IF NOT EXISTS t (x, y)",
            "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN UPDATE t SET x = 'END;'; SELECT \"a;\"; END",
            "CREATE TEMP TRIGGER IF NOT EXISTS tt BEFORE DELETE ON t BEGIN SELECT 1; SELECT [b;]; END",
            "/* c; */ INSERT INTO t VALUES (';', 'it''s')",
            "-- line; comment\nSELECT 1",
            "SAVEPOINT s",
            "RELEASE s",
            "EXPLAIN SELECT 2",
            "CREATE VIEW IF NOT EXISTS v AS SELECT 'begin;' AS w",
            "BEGIN",
            "COMMIT",
        ];
        let mut seed = 0x2545_f491_u64;
        for _ in 0..200 {
            let mut sql = String::new();
            let mut expected = Vec::new();
            for _ in 0..6 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let piece = pieces[(seed % pieces.len() as u64) as usize];
                sql.push_str(piece);
                sql.push_str(if seed.is_multiple_of(3) { ";\n" } else { "; " });
                expected.push(piece);
            }
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x, y)")
                .unwrap();
            let mut by_sqlite = Vec::new();
            let mut batch = rusqlite::Batch::new(&conn, &sql);
            while let Some(stmt) = batch.next().unwrap() {
                let text = stmt.expanded_sql().unwrap_or_default();
                by_sqlite.push(first_word(&text));
            }
            let mine: Vec<String> = starts(&sql).into_iter().map(|s| s.word).collect();
            assert_eq!(mine, by_sqlite, "{sql}");
        }
    }
}
