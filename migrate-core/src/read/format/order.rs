//! The order each layout's own tool applies its migrations in, and the check that the versions
//! recorded here keep it. Most tools order by the version as a number, which is the order here
//! by construction; diesel compares its versions as text and dbmate its file names, so a set
//! whose numbers would order two migrations the other way is refused, naming both files,
//! before anything runs.

use super::Format;
use super::diesel;
use crate::read::migration::Version;
use crate::vocab::error::Error;

/// Refuses the first two migrations (`(version, up file)`, in the order of their versions) that
/// `format`'s own tool would apply in the other order.
pub(crate) fn check(format: Format, migrations: &[(Version, &str)]) -> Result<(), Error> {
    let Some(rule) = Rule::of(format) else {
        return Ok(());
    };
    for pair in migrations.windows(2) {
        let [(low, low_file), (high, high_file)] = pair else {
            continue;
        };
        let (low_key, high_key) = (rule.key(low_file), rule.key(high_file));
        if low_key >= high_key {
            return Err(Error::InvalidFile {
                file: (*high_file).to_owned(),
                reason: format!(
                    "{format} applies it before {low_file} ({}: `{high_key}` before `{low_key}`), but its version here, {high}, is after {low}: rename one so that both orders agree",
                    rule.explain()
                ),
            });
        }
    }
    Ok(())
}

/// How a tool that does not order by number orders.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// diesel: the version text (before the directory name's first `_`, dashes dropped).
    DieselVersionText,
    /// dbmate: the file name, byte by byte.
    FileName,
}

impl Rule {
    fn of(format: Format) -> Option<Rule> {
        match format {
            Format::Diesel => Some(Rule::DieselVersionText),
            Format::Dbmate => Some(Rule::FileName),
            _ => None,
        }
    }

    fn key(self, file: &str) -> String {
        let first = file.split('/').next().unwrap_or(file);
        match self {
            Rule::DieselVersionText => diesel::version_text(first),
            Rule::FileName => first.to_owned(),
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Rule::DieselVersionText => "diesel compares versions as text",
            Rule::FileName => "dbmate applies files in the order of their names, as text",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_ordered_layouts_can_disagree_and_the_message_names_both_files() {
        let apart = [(2, "2_b.sql"), (10, "10_c.sql")];
        assert!(check(Format::Goose, &apart).is_ok());
        let err = check(Format::Dbmate, &apart).unwrap_err().to_string();
        assert!(
            err.contains("10_c.sql: dbmate applies it before 2_b.sql"),
            "{err}"
        );
        assert!(err.contains("its version here, 10, is after 2"), "{err}");
        assert!(check(Format::Dbmate, &[(2, "02_b.sql"), (10, "10_c.sql")]).is_ok());
        // diesel: 15 digits sort by text before a 14-digit timestamp that is smaller as a number.
        let err = check(
            Format::Diesel,
            &[
                (20240306170001, "2024-03-06-170001_a/up.sql"),
                (202403061700001, "2024-03-06-1700001_b/up.sql"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("2024-03-06-1700001_b/up.sql: diesel applies it before 2024-03-06-170001_a/up.sql (diesel compares versions as text: `202403061700001` before `20240306170001`)"),
            "{err}"
        );
        assert!(check(Format::Diesel, &[(1, "1_a/up.sql")]).is_ok());
    }
}
