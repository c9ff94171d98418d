//! `${name}` placeholders, replaced from migrate.toml's `[placeholders]` before a script runs
//! (Flyway's syntax). An unknown name is an error naming the file and the line: a migration
//! never runs with a `${…}` left in it by mistake.

use std::collections::BTreeMap;

use crate::vocab::error::Error;

/// The configured replacements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placeholders {
    values: BTreeMap<String, String>,
}

impl Placeholders {
    pub(crate) fn new(values: BTreeMap<String, String>) -> Self {
        Self { values }
    }

    /// `text` with every `${name}` replaced.
    pub(crate) fn apply(&self, origin: &str, text: &str) -> Result<String, Error> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[at..]);
                return Ok(out);
            };
            let name = &after[..end];
            let Some(value) = self.values.get(name) else {
                let line = text[..text.len() - rest.len() + at].matches('\n').count() + 1;
                let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
                return Err(Error::InvalidFile {
                    file: origin.to_owned(),
                    reason: format!(
                        "line {line}: unknown placeholder ${{{name}}} (known: {}); add it to [placeholders] in migrate.toml",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            };
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_known_names_and_names_the_line_of_an_unknown_one() {
        let p = Placeholders::new(BTreeMap::from([("schema".into(), "main".into())]));
        assert_eq!(
            p.apply("f", "CREATE TABLE ${schema}.t (a DEFAULT '${');")
                .unwrap(),
            "CREATE TABLE main.t (a DEFAULT '${');"
        );
        let err = p
            .apply("V2__x.sql", "SELECT 1;\nSELECT '${user}';")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid migration file V2__x.sql: line 2: unknown placeholder ${user} (known: schema); add it to [placeholders] in migrate.toml"
        );
    }
}
