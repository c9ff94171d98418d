//! The files `migrate new` writes: one place, so that the reader can tell an unedited template
//! from a migration somebody wrote.

/// The files `migrate new` writes for the migration `base` (`0003_add_email`): up, down and
/// verify, each with its suffix. An up file still holding its template, byte for byte, is
/// refused by the native layout (`Format::empty_up`).
pub fn templates(base: &str) -> [(&'static str, String); 3] {
    [
        ("up", format!("-- {base}: what this migration changes.\n")),
        ("down", format!("-- Undo {base}.\n")),
        (
            "verify",
            format!(
                "-- Queries that must each return one row holding 1 once {base} is applied,\n\
                 -- e.g. SELECT count(*) = 0 FROM users WHERE email IS NULL;\nSELECT 1;\n"
            ),
        ),
    ]
}
