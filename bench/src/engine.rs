//! The engine benchmark: 1,000 trivial migrations applied to a fresh database, then the
//! "nothing pending" check on the migrated database, for belay-migrate and for refinery 0.10
//! (rusqlite driver) on the same files, in one run.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin engine-bench [-- --migrations N --apply-runs N --check-runs N]
//! ```
//!
//! Prints a markdown table (medians) for docs/benchmarks.md.

use std::path::Path;
use std::time::Duration;

use migrate_bench::{median, time};

use belay_migrate::{Migrator, source};
use rusqlite::Connection;

struct Args {
    migrations: usize,
    apply_runs: usize,
    check_runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        migrations: 1000,
        apply_runs: 5,
        check_runs: 200,
    };
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--migrations" => a.migrations = migrate_bench::number(flag, value),
            "--apply-runs" => a.apply_runs = migrate_bench::number(flag, value),
            "--check-runs" => a.check_runs = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "engine-bench has no child runs");
    a
}

/// One trivial migration per version, named so that both tools read it (`V{n}__t{n}.sql`).
fn write_migrations(dir: &Path, n: usize) {
    for v in 1..=n {
        std::fs::write(
            dir.join(format!("V{v}__t{v}.sql")),
            format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY, v TEXT);\n"),
        )
        .unwrap();
    }
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let migrations_dir = dir.path().join("migrations");
    std::fs::create_dir(&migrations_dir).unwrap();
    write_migrations(&migrations_dir, a.migrations);

    let ours_set = source::read_dir(&migrations_dir).unwrap();
    assert_eq!(ours_set.len(), a.migrations);
    let migrator = Migrator::new(ours_set);
    let theirs_set = refinery::load_sql_migrations(&migrations_dir).unwrap();
    assert_eq!(theirs_set.len(), a.migrations);
    let runner = refinery::Runner::new(&theirs_set);
    let grouped = refinery::Runner::new(&theirs_set).set_grouped(true);

    let db = |name: &str, i: usize| dir.path().join(format!("{name}-{i}.db"));

    // Apply everything to fresh databases.
    let mut ours_apply = Vec::new();
    let mut theirs_apply = Vec::new();
    let mut theirs_grouped_apply = Vec::new();
    for i in 0..a.apply_runs {
        let (t, report) = time(|| migrator.up(db("ours", i)).unwrap());
        assert_eq!(report.steps.len(), a.migrations);
        ours_apply.push(t);
        let path = db("refinery", i);
        let (t, report) = time(|| {
            let mut conn = Connection::open(&path).unwrap();
            runner.run(&mut conn).unwrap()
        });
        assert_eq!(report.applied_migrations().len(), a.migrations);
        theirs_apply.push(t);
        let path = db("refinery-grouped", i);
        let (t, report) = time(|| {
            let mut conn = Connection::open(&path).unwrap();
            grouped.run(&mut conn).unwrap()
        });
        assert_eq!(report.applied_migrations().len(), a.migrations);
        theirs_grouped_apply.push(t);
    }

    // Nothing pending: what every app start or deploy with no new migration pays. Both open
    // the database, as a starting process must.
    let mut ours_check = Vec::new();
    let mut theirs_check = Vec::new();
    let mut theirs_open_conn = Vec::new();
    let mut ours_open_conn = Vec::new();
    let ours_db = db("ours", 0);
    let theirs_db = db("refinery", 0);
    let mut open_conn = Connection::open(&theirs_db).unwrap();
    let our_conn = Connection::open(&ours_db).unwrap();
    let up = belay_migrate::Request::up();
    for _ in 0..a.check_runs {
        let (t, report) = time(|| migrator.up(&ours_db).unwrap());
        assert!(report.steps.is_empty());
        ours_check.push(t);
        let (t, report) = time(|| {
            let mut conn = Connection::open(&theirs_db).unwrap();
            runner.run(&mut conn).unwrap()
        });
        assert!(report.applied_migrations().is_empty());
        theirs_check.push(t);
        let (t, _) = time(|| runner.run(&mut open_conn).unwrap());
        theirs_open_conn.push(t);
        let (t, report) = time(|| migrator.run_on(&our_conn, &up).unwrap());
        assert!(report.steps.is_empty());
        ours_open_conn.push(t);
    }

    let (oa, ta, tga) = (
        median(ours_apply),
        median(theirs_apply),
        median(theirs_grouped_apply),
    );
    let (oc, tc) = (median(ours_check), median(theirs_check));
    let (ooc, toc) = (median(ours_open_conn), median(theirs_open_conn));
    let ratio = |o: Duration, t: Duration| o.as_secs_f64() / t.as_secs_f64();
    println!(
        "{} migrations; medians of {} apply runs and {} nothing-pending checks\n",
        a.migrations, a.apply_runs, a.check_runs
    );
    println!("| measurement | belay-migrate | refinery 0.10 | ratio ours/refinery |");
    println!("|---|---:|---:|---:|");
    println!(
        "| apply all to a fresh database (refinery default: a transaction per migration) | {} | {} | {:.3} |",
        fmt(oa),
        fmt(ta),
        ratio(oa, ta)
    );
    println!(
        "| apply all to a fresh database (refinery `set_grouped(true)`: one transaction) | {} | {} | {:.3} |",
        fmt(oa),
        fmt(tga),
        ratio(oa, tga)
    );
    println!(
        "| nothing pending, opening the database (as at process start) | {} | {} | {:.3} |",
        fmt(oc),
        fmt(tc),
        ratio(oc, tc)
    );
    println!(
        "| nothing pending, on a connection the application already opened | {} | {} | {:.3} |",
        fmt(ooc),
        fmt(toc),
        ratio(ooc, toc)
    );
}
