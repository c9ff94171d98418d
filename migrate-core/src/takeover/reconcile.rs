//! Matching a peer's account against the migration files: which versions to record as applied,
//! or every way they disagree. Pure: no I/O.

use std::collections::BTreeSet;

use sha2::{Digest, Sha384};

use super::ledger::{Applied, Ledger, Row};
use crate::read::migration::Version;
use crate::read::set::Migrations;
use crate::vocab::peer::Peer;

/// The versions the peer applied, each with a file (in order), or every disagreement.
pub(crate) fn reconcile(
    ledger: &Ledger,
    migrations: &Migrations,
) -> Result<Vec<Version>, Vec<String>> {
    let peer = ledger.peer;
    let mut problems: Vec<String> = ledger
        .failed
        .iter()
        .map(|v| format!("version {v}: {peer} recorded it as failed"))
        .chain(ledger.unreadable.iter().map(|u| format!("{peer}: {u}")))
        .collect();
    let rows: Vec<Row> = match &ledger.applied {
        Applied::Each(rows) => rows.clone(),
        Applied::UpTo(upto, rows) => {
            if migrations.get(*upto).is_none() {
                problems.push(format!(
                    "version {upto}: {peer} records the database at it, but there is no migration file for it"
                ));
            }
            migrations
                .iter()
                .filter(|m| m.version() <= *upto)
                .map(|m| Row {
                    version: m.version(),
                    name: None,
                    sha384: None,
                })
                .chain(rows.iter().filter(|r| r.version > *upto).cloned())
                .collect()
        }
        Applied::Count(n) => {
            if *n > migrations.len() {
                problems.push(format!(
                    "user_version is {n}, but there are only {} migrations",
                    migrations.len()
                ));
            }
            migrations
                .iter()
                .take(*n)
                .map(|m| Row {
                    version: m.version(),
                    name: None,
                    sha384: None,
                })
                .collect()
        }
    };
    let mut applied = BTreeSet::new();
    for row in &rows {
        let Some(m) = migrations.get(row.version) else {
            problems.push(format!(
                "version {}: {peer} applied it, but there is no migration file for it",
                row.version
            ));
            continue;
        };
        if let Some(recorded) = &row.sha384
            && Sha384::digest(m.up().sql().as_bytes()).as_slice() != recorded.as_slice()
        {
            problems.push(format!(
                "version {} ({}): {peer}'s checksum differs from {} (edited since it was applied?)",
                row.version,
                m.name(),
                m.up().origin()
            ));
        }
        if peer == Peer::Refinery
            && let Some(name) = &row.name
            && name != m.name()
        {
            problems.push(format!(
                "version {}: {peer} applied it as `{name}`, the file names it `{}`",
                row.version,
                m.name()
            ));
        }
        applied.insert(row.version);
    }
    if let Some(&highest) = applied.last() {
        for m in migrations.iter().filter(|m| m.version() < highest) {
            if !applied.contains(&m.version()) {
                problems.push(format!(
                    "version {} ({}): {peer} did not apply it, though it applied version {highest}",
                    m.version(),
                    m.name()
                ));
            }
        }
    }
    if applied.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{peer} records no applied migration: nothing to adopt"
        ));
    }
    if problems.is_empty() {
        Ok(applied.into_iter().collect())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::migration::{Migration, Script};

    fn set(versions: &[Version]) -> Migrations {
        Migrations::new(
            versions
                .iter()
                .map(|v| {
                    let up =
                        Script::parse(format!("{v}_m.sql"), &format!("CREATE TABLE t{v} (a);"))
                            .unwrap();
                    Migration::new(*v, "m", up)
                })
                .collect(),
        )
        .unwrap()
    }

    fn row(version: Version) -> Row {
        Row {
            version,
            name: None,
            sha384: None,
        }
    }

    fn ledger(peer: Peer, applied: Applied) -> Ledger {
        Ledger {
            peer,
            applied,
            failed: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    #[test]
    fn each_form_of_account_names_the_versions() {
        let s = set(&[1, 2, 3]);
        assert_eq!(
            reconcile(
                &ledger(Peer::Dbmate, Applied::Each(vec![row(1), row(2)])),
                &s
            ),
            Ok(vec![1, 2])
        );
        assert_eq!(
            reconcile(&ledger(Peer::GolangMigrate, Applied::UpTo(3, vec![])), &s),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            reconcile(&ledger(Peer::RusqliteMigration, Applied::Count(2)), &s),
            Ok(vec![1, 2])
        );
    }

    #[test]
    fn every_disagreement_is_reported() {
        let s = set(&[1, 2, 3]);
        let mut l = ledger(Peer::Sqlx, Applied::Each(vec![row(1), row(3), row(7)]));
        l.failed.push("4".into());
        let mut wrong = row(1);
        wrong.sha384 = Some(vec![0; 48]);
        if let Applied::Each(rows) = &mut l.applied {
            rows[0] = wrong;
        }
        let problems = reconcile(&l, &s).unwrap_err();
        let text = problems.join("\n");
        for said in [
            "version 4: sqlx recorded it as failed",
            "version 1 (m): sqlx's checksum differs from 1_m.sql",
            "version 7: sqlx applied it, but there is no migration file for it",
            "version 2 (m): sqlx did not apply it, though it applied version 3",
        ] {
            assert!(text.contains(said), "{said}\n{text}");
        }
        let right = Sha384::digest(b"CREATE TABLE t1 (a);").to_vec();
        let ok = ledger(
            Peer::Sqlx,
            Applied::Each(vec![Row {
                version: 1,
                name: None,
                sha384: Some(right),
            }]),
        );
        assert_eq!(reconcile(&ok, &s), Ok(vec![1]));
        assert!(reconcile(&ledger(Peer::Goose, Applied::Each(vec![])), &s).is_err());
        assert!(reconcile(&ledger(Peer::RusqliteMigration, Applied::Count(4)), &s).is_err());
    }
}
