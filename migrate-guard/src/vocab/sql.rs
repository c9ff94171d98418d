//! Building SQL safely: identifiers go through [`quote_ident`]; values are always bound
//! parameters, never formatted into the text.

/// Quotes an SQL identifier (table, column, index name) for SQLite: wrapped in double quotes,
/// with embedded double quotes doubled, so any name, however hostile, stays one identifier.
///
/// ```
/// assert_eq!(belay_guard::vocab::sql::quote_ident("users"), r#""users""#);
/// assert_eq!(belay_guard::vocab::sql::quote_ident(r#"a"; DROP TABLE x; --"#), r#""a""; DROP TABLE x; --""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}
