//! Which repair steps a set of findings calls for: pure, so the choice is tested without a
//! database. The ladder climbs from the least invasive step to the last resort and stops as soon
//! as the database checks clean.

use serde::Serialize;

use crate::integrity::{Finding, FindingKind};

/// One step of the repair ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rung {
    /// Rebuild indexes from their tables (`REINDEX`); rows that break a UNIQUE index are
    /// quarantined first. In place, one transaction.
    Reindex,
    /// Move rows whose foreign-key parent is missing into a quarantine table. In place, one
    /// transaction.
    Quarantine,
    /// Copy everything readable into a fresh file (row by row around damaged pages, with rows
    /// lost in the damage fetched from the latest verified backup where it has them), check it,
    /// and put it in place.
    Rebuild,
    /// Put the latest backup that verifies in place of the database.
    RestoreBackup,
}

impl Rung {
    /// The step's name as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rung::Reindex => "reindex",
            Rung::Quarantine => "quarantine",
            Rung::Rebuild => "rebuild",
            Rung::RestoreBackup => "restore-backup",
        }
    }
}

/// The steps to take for `findings`: the first ones, then the ones to climb to while damage
/// remains. Empty when there is nothing to repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ladder {
    /// Taken in order.
    pub first: Vec<Rung>,
    /// Taken in order, only while the database still fails its checks.
    pub then: Vec<Rung>,
}

/// Plans the ladder for `findings`. A finding of kind [`FindingKind::Unchecked`] (a part
/// SQLite gave no answer for) is no verdict, and no verdict is no reason to change anything:
/// the ladder follows what SQLite did call damaged, and plans nothing when that is nothing.
pub fn plan(findings: &[Finding]) -> Ladder {
    let findings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind != FindingKind::Unchecked)
        .collect();
    if findings.is_empty() {
        return Ladder {
            first: Vec::new(),
            then: Vec::new(),
        };
    }
    let structural = findings
        .iter()
        .any(|f| !matches!(f.kind, FindingKind::Index | FindingKind::ForeignKey));
    if structural {
        return Ladder {
            first: vec![Rung::Rebuild],
            then: vec![Rung::RestoreBackup],
        };
    }
    let mut first = Vec::new();
    if findings.iter().any(|f| f.kind == FindingKind::Index) {
        first.push(Rung::Reindex);
    }
    if findings.iter().any(|f| f.kind == FindingKind::ForeignKey) {
        first.push(Rung::Quarantine);
    }
    Ladder {
        first,
        then: vec![Rung::Rebuild, Rung::RestoreBackup],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind) -> Finding {
        Finding {
            kind,
            page: None,
            root: None,
            object: None,
            table: Some("t".into()),
            message: String::new(),
            obstacle: None,
        }
    }

    #[test]
    fn no_verdict_is_no_reason_to_repair_but_damage_beside_it_is() {
        let mut stopped = finding(FindingKind::Unchecked);
        stopped.obstacle = Some(crate::integrity::Obstacle::Locked);
        let ladder = plan(std::slice::from_ref(&stopped));
        assert!(ladder.first.is_empty() && ladder.then.is_empty());
        let ladder = plan(&[finding(FindingKind::Index), stopped]);
        assert_eq!(ladder.first, [Rung::Reindex]);
    }

    #[test]
    fn nothing_found_means_nothing_to_do() {
        let ladder = plan(&[]);
        assert!(ladder.first.is_empty() && ladder.then.is_empty());
    }

    #[test]
    fn index_and_orphan_problems_are_fixed_in_place_first() {
        let ladder = plan(&[
            finding(FindingKind::ForeignKey),
            finding(FindingKind::Index),
        ]);
        assert_eq!(ladder.first, [Rung::Reindex, Rung::Quarantine]);
        assert_eq!(ladder.then, [Rung::Rebuild, Rung::RestoreBackup]);
        assert_eq!(
            plan(&[finding(FindingKind::ForeignKey)]).first,
            [Rung::Quarantine]
        );
    }

    #[test]
    fn any_structural_damage_goes_straight_to_a_rebuild() {
        for kind in [
            FindingKind::Page,
            FindingKind::Freelist,
            FindingKind::Header,
            FindingKind::Unreadable,
            FindingKind::Constraint,
            FindingKind::Unknown,
        ] {
            let ladder = plan(&[finding(FindingKind::Index), finding(kind)]);
            assert_eq!(ladder.first, [Rung::Rebuild], "{kind:?}");
            assert_eq!(ladder.then, [Rung::RestoreBackup], "{kind:?}");
        }
    }
}
