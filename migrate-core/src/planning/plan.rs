//! Planning: compare the migrations on disk with those recorded as applied and decide what to
//! run, or why not. Pure: no SQLite here, so every rule is tested without a database.
//!
//! `plan(available, applied, schema, request, allow)` gives a [`Plan`] or a [`PlanError`];
//! `Migrator::plan` is the public way in (it reads the applied state first).

use serde::Serialize;

use crate::read::migration::{Script, Version};
use crate::read::set::Migrations;
pub use crate::vocab::direction::Direction;
pub use crate::vocab::problem::{Allow, PlanError, Problem};
pub use crate::vocab::request::{DownTarget, Request};

/// A migration as recorded in `_migrate_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    /// Its version.
    pub version: Version,
    /// Its name when it was applied.
    pub name: String,
    /// The checksum of its up script when it was applied.
    pub checksum: String,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
    /// How long it took.
    pub duration_ms: i64,
    /// Its down script when it was applied, so it can be reverted without the file.
    #[serde(skip)]
    pub down_sql: Option<String>,
}

/// The schema fingerprint recorded after the last run, and the one found now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// Recorded after the last successful run; `None` before the first.
    pub recorded: Option<String>,
    /// Computed from the database now.
    pub current: String,
    /// What differs from the recorded schema, object by object (empty when nothing does, or
    /// when the record predates recording the objects).
    pub differences: Vec<crate::vocab::schema_diff::Difference>,
}

impl SchemaState {
    /// A state with nothing recorded, so no drift can be found.
    pub fn unrecorded() -> Self {
        Self {
            recorded: None,
            current: String::new(),
            differences: Vec::new(),
        }
    }

    fn drifted(&self) -> Option<&str> {
        self.recorded.as_deref().filter(|r| *r != self.current)
    }
}

/// One migration to run.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// The script to execute (up or down).
    pub script: Script,
    /// Queries that must hold afterwards (up only).
    pub verify: Option<Script>,
    /// The checksum to record (up only).
    pub checksum: String,
    /// The down script to record with it (up only).
    pub down: Option<Script>,
}

/// What a run will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Up or down.
    pub direction: Direction,
    /// The highest applied version before the run.
    pub from: Option<Version>,
    /// The highest applied version after the run, if it succeeds.
    pub to: Option<Version>,
    /// The migrations to run, in order.
    pub steps: Vec<Step>,
    /// Problems found but explicitly allowed.
    pub allowed: Vec<Problem>,
}

/// Every problem with the applied migrations and the schema, allowed or not.
pub fn inspect(
    available: &Migrations,
    applied: &[AppliedMigration],
    schema: &SchemaState,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for record in applied {
        match available.get(record.version) {
            Some(m) if m.checksum() != record.checksum => problems.push(Problem::Changed {
                version: record.version,
                name: record.name.clone(),
                recorded: record.checksum.clone(),
                found: m.checksum().to_owned(),
            }),
            Some(_) => {}
            None => problems.push(Problem::Missing {
                version: record.version,
                name: record.name.clone(),
            }),
        }
    }
    if let Some(current) = current_version(applied) {
        let applied_versions = AppliedVersions::new(applied);
        for m in available.iter().take_while(|m| m.version() < current) {
            if !applied_versions.contains(m.version()) {
                problems.push(Problem::OutOfOrder {
                    version: m.version(),
                    name: m.name().to_owned(),
                    current,
                });
            }
        }
    }
    if let Some(recorded) = schema.drifted() {
        problems.push(Problem::SchemaDrift {
            recorded: recorded.to_owned(),
            found: schema.current.clone(),
            differences: schema.differences.clone(),
        });
    }
    problems
}

/// The highest applied version.
pub fn current_version(applied: &[AppliedMigration]) -> Option<Version> {
    applied.iter().map(|a| a.version).max()
}

/// The applied versions, sorted for binary search (cheaper than a map for the thousand-entry
/// histories every start-up reads).
struct AppliedVersions(Vec<Version>);

impl AppliedVersions {
    fn new(applied: &[AppliedMigration]) -> Self {
        let mut versions: Vec<Version> = applied.iter().map(|a| a.version).collect();
        versions.sort_unstable();
        Self(versions)
    }

    fn contains(&self, version: Version) -> bool {
        self.0.binary_search(&version).is_ok()
    }
}

/// Decides what a run does.
///
/// # Errors
///
/// [`PlanError::InvalidTarget`] for a target that does not exist or points the wrong way,
/// [`PlanError::Refused`] listing every problem not allowed, [`PlanError::Irreversible`] when a
/// migration to revert has no down script.
pub fn plan(
    available: &Migrations,
    applied: &[AppliedMigration],
    schema: &SchemaState,
    request: &Request,
    allow: &Allow,
) -> Result<Plan, PlanError> {
    match request {
        Request::Up { to } => plan_up(available, applied, schema, *to, allow),
        Request::Down(target) => plan_down(available, applied, schema, *target, allow),
    }
}

fn refuse_unallowed(problems: Vec<Problem>, allow: &Allow) -> Result<Vec<Problem>, PlanError> {
    let (allowed, refused): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.allowed(allow));
    if refused.is_empty() {
        Ok(allowed)
    } else {
        Err(PlanError::Refused(refused))
    }
}

fn plan_up(
    available: &Migrations,
    applied: &[AppliedMigration],
    schema: &SchemaState,
    to: Option<Version>,
    allow: &Allow,
) -> Result<Plan, PlanError> {
    let current = current_version(applied);
    if let Some(to) = to {
        if available.get(to).is_none() {
            return Err(PlanError::InvalidTarget(format!(
                "there is no migration with version {to}"
            )));
        }
        if let Some(current) = current.filter(|c| to < *c) {
            return Err(PlanError::InvalidTarget(format!(
                "target version {to} is below the current version {current}: revert to it instead"
            )));
        }
    }
    let allowed = refuse_unallowed(inspect(available, applied, schema), allow)?;
    let applied_versions = AppliedVersions::new(applied);
    let steps: Vec<Step> = available
        .iter()
        .filter(|m| !applied_versions.contains(m.version()))
        .filter(|m| to.is_none_or(|to| m.version() <= to))
        .map(|m| Step {
            version: m.version(),
            name: m.name().to_owned(),
            script: m.up().clone(),
            verify: m.verify().cloned(),
            checksum: m.checksum().to_owned(),
            down: m.down().cloned(),
        })
        .collect();
    let to = steps.iter().map(|s| s.version).chain(current).max();
    Ok(Plan {
        direction: Direction::Up,
        from: current,
        to,
        steps,
        allowed,
    })
}

fn plan_down(
    available: &Migrations,
    applied: &[AppliedMigration],
    schema: &SchemaState,
    target: DownTarget,
    allow: &Allow,
) -> Result<Plan, PlanError> {
    let mut newest_first: Vec<&AppliedMigration> = applied.iter().collect();
    newest_first.sort_by_key(|a| std::cmp::Reverse(a.version));
    let count = match target {
        DownTarget::To(to) => {
            if to != 0 && !newest_first.iter().any(|a| a.version == to) {
                return Err(PlanError::InvalidTarget(format!(
                    "version {to} is not applied; a revert goes to an applied version, or 0 to revert all"
                )));
            }
            newest_first.iter().take_while(|a| a.version > to).count()
        }
        DownTarget::Steps(0) => {
            return Err(PlanError::InvalidTarget(
                "a revert by steps reverts at least 1 migration".to_owned(),
            ));
        }
        // Nothing applied, nothing to revert: like `up` with nothing pending, not an error.
        DownTarget::Steps(_) if newest_first.is_empty() => 0,
        DownTarget::Steps(n) => {
            let n = n as usize;
            if n > newest_first.len() {
                return Err(PlanError::InvalidTarget(format!(
                    "cannot revert {n} migrations: only {} applied",
                    newest_first.len()
                )));
            }
            n
        }
    };
    let reverted = &newest_first[..count];
    // Reverting uses the recorded down script, so a missing file is no obstacle for the
    // migrations being reverted; pending migrations are not run, so their order does not matter.
    let problems = inspect(available, applied, schema)
        .into_iter()
        .filter(|p| match p {
            Problem::Missing { version, .. } => !reverted.iter().any(|a| a.version == *version),
            Problem::OutOfOrder { .. } => false,
            _ => true,
        })
        .collect();
    let allowed = refuse_unallowed(problems, allow)?;
    let mut steps = Vec::with_capacity(count);
    for record in reverted {
        let script = match available.get(record.version).and_then(|m| m.down()) {
            Some(down) => down.clone(),
            None => match &record.down_sql {
                Some(sql) => Script::parse(
                    format!(
                        "down script of version {} (stored in history)",
                        record.version
                    ),
                    sql,
                )
                .map_err(|e| PlanError::InvalidTarget(e.to_string()))?,
                None => {
                    return Err(PlanError::Irreversible {
                        version: record.version,
                        name: record.name.clone(),
                    });
                }
            },
        };
        steps.push(Step {
            version: record.version,
            name: record.name.clone(),
            script,
            verify: None,
            checksum: record.checksum.clone(),
            down: None,
        });
    }
    let to = newest_first.get(count).map(|a| a.version);
    Ok(Plan {
        direction: Direction::Down,
        from: newest_first.first().map(|a| a.version),
        to,
        steps,
        allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::migration::Migration;

    fn set(versions: &[Version]) -> Migrations {
        Migrations::new(
            versions
                .iter()
                .map(|v| {
                    let up =
                        Script::parse(format!("{v}_m.up.sql"), &format!("CREATE TABLE t{v} (x);"))
                            .unwrap();
                    let down =
                        Script::parse(format!("{v}_m.down.sql"), &format!("DROP TABLE t{v};"))
                            .unwrap();
                    Migration::new(*v, format!("m{v}"), up).with_down(down)
                })
                .collect(),
        )
        .unwrap()
    }

    fn applied(set: &Migrations, versions: &[Version]) -> Vec<AppliedMigration> {
        versions
            .iter()
            .map(|v| {
                let m = set.get(*v).unwrap();
                AppliedMigration {
                    version: *v,
                    name: m.name().to_owned(),
                    checksum: m.checksum().to_owned(),
                    applied_at: "2026-01-01T00:00:00Z".to_owned(),
                    duration_ms: 1,
                    down_sql: m.down().map(|d| d.sql().to_owned()),
                }
            })
            .collect()
    }

    fn run(
        set: &Migrations,
        applied: &[AppliedMigration],
        request: Request,
    ) -> Result<Plan, PlanError> {
        plan(
            set,
            applied,
            &SchemaState::unrecorded(),
            &request,
            &Allow::default(),
        )
    }

    fn step_versions(plan: &Plan) -> Vec<Version> {
        plan.steps.iter().map(|s| s.version).collect()
    }

    #[test]
    fn up_applies_pending_in_order() {
        let s = set(&[1, 2, 3]);
        let p = run(&s, &applied(&s, &[1]), Request::up()).unwrap();
        assert_eq!(step_versions(&p), [2, 3]);
        assert_eq!((p.from, p.to), (Some(1), Some(3)));
    }

    #[test]
    fn up_to_a_target() {
        let s = set(&[1, 2, 3]);
        let p = run(&s, &[], Request::Up { to: Some(2) }).unwrap();
        assert_eq!(step_versions(&p), [1, 2]);
        assert_eq!(p.to, Some(2));
    }

    #[test]
    fn up_to_unknown_or_lower_target_is_invalid() {
        let s = set(&[1, 2, 3]);
        assert!(matches!(
            run(&s, &[], Request::Up { to: Some(9) }),
            Err(PlanError::InvalidTarget(_))
        ));
        assert!(matches!(
            run(&s, &applied(&s, &[1, 2, 3]), Request::Up { to: Some(1) }),
            Err(PlanError::InvalidTarget(_))
        ));
    }

    #[test]
    fn nothing_pending_is_an_empty_plan() {
        let s = set(&[1, 2]);
        let p = run(&s, &applied(&s, &[1, 2]), Request::up()).unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(p.to, Some(2));
    }

    #[test]
    fn changed_file_refuses() {
        let s = set(&[1, 2]);
        let mut a = applied(&s, &[1]);
        a[0].checksum = "0".repeat(64);
        let err = run(&s, &a, Request::up()).unwrap_err();
        let PlanError::Refused(problems) = err else {
            panic!()
        };
        assert!(matches!(problems[0], Problem::Changed { version: 1, .. }));
        let allow = Allow {
            changed: true,
            ..Allow::default()
        };
        let p = plan(&s, &a, &SchemaState::unrecorded(), &Request::up(), &allow).unwrap();
        assert_eq!(step_versions(&p), [2]);
        assert_eq!(p.allowed.len(), 1);
    }

    #[test]
    fn missing_file_refuses_up_but_not_its_own_revert() {
        let s = set(&[1, 2, 3]);
        let a = applied(&s, &[1, 2, 3]);
        let without_3 = set(&[1, 2]);
        assert!(matches!(
            run(&without_3, &a, Request::up()),
            Err(PlanError::Refused(p)) if matches!(p[0], Problem::Missing { version: 3, .. })
        ));
        let p = run(&without_3, &a, Request::Down(DownTarget::Steps(1))).unwrap();
        assert_eq!(step_versions(&p), [3]);
        assert_eq!(p.steps[0].script.sql(), "DROP TABLE t3;");
        assert!(p.steps[0].script.origin().contains("stored in history"));
        // Reverting 2 still leaves 3's file missing... but 3 is reverted too, so only 2's
        // own file matters.
        assert!(matches!(
            run(&set(&[1, 3]), &a, Request::Down(DownTarget::Steps(1))),
            Err(PlanError::Refused(p)) if matches!(p[0], Problem::Missing { version: 2, .. })
        ));
    }

    #[test]
    fn out_of_order_refuses_unless_allowed() {
        let s = set(&[1, 2, 3]);
        let a = applied(&s, &[1, 3]);
        assert!(matches!(
            run(&s, &a, Request::up()),
            Err(PlanError::Refused(p)) if p == vec![Problem::OutOfOrder { version: 2, name: "m2".into(), current: 3 }]
        ));
        let allow = Allow {
            out_of_order: true,
            ..Allow::default()
        };
        let p = plan(&s, &a, &SchemaState::unrecorded(), &Request::up(), &allow).unwrap();
        assert_eq!(step_versions(&p), [2]);
        assert_eq!(p.to, Some(3));
        // A down run does not care about pending migrations.
        assert_eq!(
            step_versions(&run(&s, &a, Request::Down(DownTarget::Steps(1))).unwrap()),
            [3]
        );
    }

    #[test]
    fn drift_refuses_both_directions() {
        let s = set(&[1]);
        let a = applied(&s, &[1]);
        let schema = SchemaState {
            recorded: Some("a".repeat(64)),
            current: "b".repeat(64),
            differences: Vec::new(),
        };
        for request in [Request::up(), Request::Down(DownTarget::To(0))] {
            assert!(matches!(
                plan(&s, &a, &schema, &request, &Allow::default()),
                Err(PlanError::Refused(p)) if matches!(p[0], Problem::SchemaDrift { .. })
            ));
        }
    }

    #[test]
    fn down_to_and_steps() {
        let s = set(&[1, 2, 3, 4]);
        let a = applied(&s, &[1, 2, 3, 4]);
        let p = run(&s, &a, Request::Down(DownTarget::To(2))).unwrap();
        assert_eq!(step_versions(&p), [4, 3]);
        assert_eq!((p.from, p.to), (Some(4), Some(2)));
        let p = run(&s, &a, Request::Down(DownTarget::To(0))).unwrap();
        assert_eq!(step_versions(&p), [4, 3, 2, 1]);
        assert_eq!(p.to, None);
        let p = run(&s, &a, Request::Down(DownTarget::Steps(2))).unwrap();
        assert_eq!(step_versions(&p), [4, 3]);
    }

    #[test]
    fn down_with_nothing_applied_has_nothing_to_do() {
        let s = set(&[1, 2]);
        for steps in [1, 5] {
            let p = run(&s, &[], Request::Down(DownTarget::Steps(steps))).unwrap();
            assert!(p.steps.is_empty());
        }
    }

    #[test]
    fn down_rejects_bad_targets() {
        let s = set(&[1, 2]);
        let a = applied(&s, &[1, 2]);
        for target in [
            DownTarget::To(7),
            DownTarget::Steps(0),
            DownTarget::Steps(3),
        ] {
            assert!(
                matches!(
                    run(&s, &a, Request::Down(target)),
                    Err(PlanError::InvalidTarget(_))
                ),
                "{target:?}"
            );
        }
    }

    #[test]
    fn down_without_any_down_script_is_irreversible() {
        let up = Script::parse("1_a.sql", "CREATE TABLE a (x);").unwrap();
        let s = Migrations::new(vec![Migration::new(1, "a", up)]).unwrap();
        let mut a = applied(&s, &[1]);
        a[0].down_sql = None;
        assert_eq!(
            run(&s, &a, Request::Down(DownTarget::Steps(1))).unwrap_err(),
            PlanError::Irreversible {
                version: 1,
                name: "a".into()
            }
        );
    }
}
