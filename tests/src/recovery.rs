//! The recovery campaign: what a killed process leaves is recovery, never damage.
//!
//! Each case takes a copy of a database in rollback-journal or WAL mode and kills a process at a
//! seeded random moment inside its writes: an application (`tests/examples/torn_writer.rs`), or
//! one of our own commands (`up`, `down`, `restore`, `repair`, `baseline`). The file is then left
//! writable, or read-only to the user who looks at it (another user when the tests run as root,
//! else the files and their directory made read-only). Two more kinds kill nothing: an
//! application holding the file in `locking_mode = EXCLUSIVE`, and a WAL database in a directory
//! the user cannot write (after a writer was killed there, or not).
//!
//! The oracle is SQLite's own verdict after its own recovery: the database and its journal or
//! WAL copied to a fresh directory and opened by a connection that can write (which rolls the
//! journal back, or recovers the WAL), then `quick_check` and `integrity_check`, and the user
//! tables dumped. Then ours, as the user of the case:
//!
//! - `migrate check` never says damaged where SQLite's recovered file is ok, nor ok where it is
//!   damaged. Where it gives no verdict it says why, with SPEC.md's exit code (never 6): a
//!   recovery pending for a reader that may not write (2), locked by the EXCLUSIVE holder (3),
//!   access for the read-only directory (2). A writable file always gets a verdict.
//! - `migrate status` never exits 6 on a file SQLite's recovery calls ok.
//! - A reader that may not write changes no byte of the database, its journal or its WAL.
//! - On a writable file, `migrate repair` leaves exactly the user content SQLite's recovery
//!   gives, changes nothing where SQLite calls the recovered file ok, and where it is damaged
//!   (the repair kind starts from a damaged index) repairs it, keeping every row.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::corrupt::Rng;
use crate::{example_bin, migrate_bin, sibling, user_dump};

/// What is killed, or what holds the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An application's large transactions.
    Writer,
    /// `migrate up` of a migration that rewrites every row.
    Up,
    /// `migrate down` of it.
    Down,
    /// `migrate restore latest --yes` of an older backup.
    Restore,
    /// `migrate repair` rebuilding a damaged index.
    Repair,
    /// `migrate baseline 2` on a database no tool recorded.
    Baseline,
    /// An application holding the file with `locking_mode = EXCLUSIVE` (nothing killed).
    Exclusive,
    /// A WAL database in a directory the user cannot write (a writer killed there first, or not).
    ReadOnlyDir,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Writer,
        Kind::Up,
        Kind::Down,
        Kind::Restore,
        Kind::Repair,
        Kind::Baseline,
        Kind::Exclusive,
        Kind::ReadOnlyDir,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Writer => "application killed in a write",
            Kind::Up => "`up` killed",
            Kind::Down => "`down` killed",
            Kind::Restore => "`restore` killed",
            Kind::Repair => "`repair` killed",
            Kind::Baseline => "`baseline` killed",
            Kind::Exclusive => "EXCLUSIVE-mode holder",
            Kind::ReadOnlyDir => "WAL, read-only directory",
        }
    }

    /// The journal modes a kind runs in: a directory a reader cannot write matters only to WAL
    /// (a rollback-journal reader needs nothing there).
    pub fn journals(self) -> &'static [Journal] {
        match self {
            Kind::ReadOnlyDir => &[Journal::Wal],
            _ => &[Journal::Rollback, Journal::Wal],
        }
    }

    /// Who looks after the kill: both kinds of user where a process is killed; the EXCLUSIVE
    /// holder is seen by a user who could write; the read-only directory by one who cannot.
    pub fn accesses(self) -> &'static [Access] {
        match self {
            Kind::Exclusive => &[Access::Writable],
            Kind::ReadOnlyDir => &[Access::ReadOnly],
            _ => &[Access::Writable, Access::ReadOnly],
        }
    }

    /// Whether the case kills a process (the others hold the database, or look at it from a
    /// directory they cannot write).
    fn kills(self) -> bool {
        !matches!(self, Kind::Exclusive | Kind::ReadOnlyDir)
    }

    /// The prepared database the kind starts from.
    fn base(self) -> &'static str {
        match self {
            Kind::Down => "v2",
            Kind::Repair => "damaged",
            Kind::Baseline => "bare",
            _ => "v1",
        }
    }

    /// Our command that is killed, if it is one of ours.
    fn command(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Up => Some(&["up"]),
            Kind::Down => Some(&["down"]),
            Kind::Restore => Some(&["restore", "latest", "--yes"]),
            Kind::Repair => Some(&["repair"]),
            Kind::Baseline => Some(&["baseline", "2"]),
            _ => None,
        }
    }
}

/// The database's journal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Journal {
    Rollback,
    Wal,
}

impl Journal {
    pub fn name(self) -> &'static str {
        match self {
            Journal::Rollback => "rollback",
            Journal::Wal => "WAL",
        }
    }
}

/// Who looks at the database after the kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// A user who can write the file and its directory.
    Writable,
    /// A user who cannot.
    ReadOnly,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::Writable => "writable",
            Access::ReadOnly => "read-only",
        }
    }
}

const ROWS: i64 = 20_000;

const SCHEMA: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL);
CREATE INDEX t_v ON t (v);
CREATE TABLE kept (id INTEGER PRIMARY KEY, note TEXT);";

const UP: &str = "UPDATE t SET v = v || '+up', n = n + 1;";
const DOWN: &str = "UPDATE t SET v = substr(v, 1, length(v) - 3), n = n - 1;";

fn data() -> String {
    format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS})
           INSERT INTO t SELECT x, printf('row %06d %s', x, hex(randomblob(24))), x FROM c;
         INSERT INTO kept (note) VALUES ('before'), ('the'), ('kill');"
    )
}

/// The prepared databases, copied for every case, and how long each of our commands takes
/// uninterrupted (the range its kill is drawn from).
pub struct Template {
    dir: tempfile::TempDir,
    durations: BTreeMap<(Kind, Journal), Duration>,
}

/// `migrate --db DB --migrations M --lock-timeout 5 ARGS`, output captured.
fn migrate(db: &Path, migrations: &Path, args: &[&str]) -> Command {
    let mut cmd = crate::migrate_command();
    cmd.arg("--db")
        .arg(db)
        .arg("--migrations")
        .arg(migrations)
        .args(["--lock-timeout", "5"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run_ok(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Directories another user may enter (a temporary directory is 0700).
fn open_to_all(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Template {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        open_to_all(dir.path());
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(migrations.join("0001_schema.up.sql"), SCHEMA).unwrap();
        std::fs::write(migrations.join("0002_rewrite.up.sql"), UP).unwrap();
        std::fs::write(migrations.join("0002_rewrite.down.sql"), DOWN).unwrap();
        for journal in [Journal::Rollback, Journal::Wal] {
            prepare(dir.path(), journal);
        }
        let mut template = Template {
            dir,
            durations: BTreeMap::new(),
        };
        for journal in [Journal::Rollback, Journal::Wal] {
            for kind in [
                Kind::Up,
                Kind::Down,
                Kind::Restore,
                Kind::Repair,
                Kind::Baseline,
            ] {
                let case = template.copy(kind, journal, "timing");
                let started = Instant::now();
                let out = case.ours(kind.command().unwrap()).output().unwrap();
                assert!(
                    out.status.success(),
                    "{kind:?} {journal:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                template
                    .durations
                    .insert((kind, journal), started.elapsed());
                let _ = std::fs::remove_dir_all(&case.root);
            }
        }
        template
    }

    fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// A copy of the database `kind` starts from, in `journal` mode, in a directory of its own.
    fn copy(&self, kind: Kind, journal: Journal, name: &str) -> CaseDir {
        let root = self.dir.path().join(format!("case-{name}"));
        let _ = std::fs::remove_dir_all(&root);
        crate::copy_tree(
            &self.dir.path().join(journal.name()).join(kind.base()),
            &root,
        );
        open_to_all(&root);
        CaseDir {
            db: root.join("app.db"),
            root,
            migrations: self.migrations(),
        }
    }
}

impl Default for Template {
    fn default() -> Self {
        Self::new()
    }
}

/// The databases of one journal mode: `v1` (data, a manual backup older than the last rows
/// changed, migration 2 pending), `v2` (migration 2 applied), `damaged` (v1 with an index whose
/// definition no longer matches its entries: `integrity_check` calls it damaged, the repair
/// rebuilds it), `bare` (the same schema and data, recorded by no tool).
fn prepare(dir: &Path, journal: Journal) {
    let migrations = dir.join("migrations");
    let base = dir.join(journal.name()).join("v1");
    std::fs::create_dir_all(&base).unwrap();
    let db = base.join("app.db");
    run_ok(migrate(&db, &migrations, &["-q", "up", "--to", "1"]));
    let set_mode = |conn: &Connection| {
        if journal == Journal::Wal {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
        }
    };
    let conn = Connection::open(&db).unwrap();
    set_mode(&conn);
    conn.execute_batch(&data()).unwrap();
    drop(conn);
    run_ok(migrate(&db, &migrations, &["-q", "backup", "create"]));
    Connection::open(&db)
        .unwrap()
        .execute_batch("UPDATE t SET v = v || '*', n = -n WHERE id % 2 = 0;")
        .unwrap();
    let v2 = dir.join(journal.name()).join("v2");
    crate::copy_tree(&base, &v2);
    run_ok(migrate(&v2.join("app.db"), &migrations, &["-q", "up"]));
    let damaged = dir.join(journal.name()).join("damaged");
    crate::copy_tree(&base, &damaged);
    Connection::open(damaged.join("app.db"))
        .unwrap()
        .execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = 'CREATE INDEX t_v ON t (n)' WHERE name = 't_v';",
        )
        .unwrap();
    let bare = dir.join(journal.name()).join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let conn = Connection::open(bare.join("app.db")).unwrap();
    set_mode(&conn);
    conn.execute_batch(SCHEMA).unwrap();
    conn.execute_batch(&data()).unwrap();
}

/// One case's copy.
struct CaseDir {
    root: PathBuf,
    db: PathBuf,
    migrations: PathBuf,
}

impl CaseDir {
    /// Our command on this copy, as the user who can write it.
    fn ours(&self, args: &[&str]) -> Command {
        migrate(&self.db, &self.migrations, args)
    }

    /// Our command as `access`'s user (see [`as_reader`]).
    fn looked_at(&self, access: Access, args: &[&str]) -> Output {
        match access {
            Access::Writable => self.ours(args).output().unwrap(),
            Access::ReadOnly => as_reader(&self.root, &self.db, &self.migrations, args),
        }
    }

    /// The bytes of the database, its journal and its WAL.
    fn bytes(&self) -> Vec<Option<Vec<u8>>> {
        ["", "-journal", "-wal"]
            .iter()
            .map(|s| std::fs::read(sibling(&self.db, s)).ok())
            .collect()
    }

    /// What lies beside the database now, for the description.
    fn leftovers(&self) -> String {
        ["-journal", "-wal"]
            .iter()
            .filter_map(|s| {
                std::fs::metadata(sibling(&self.db, s))
                    .ok()
                    .map(|m| format!("{s} {} bytes", m.len()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `migrate --db DB --migrations M --lock-timeout 2 ARGS` as a user who cannot write `db`, its
/// journal or WAL, or `dir` (the database's directory): when the tests run as root, another
/// user (`nobody`, through util-linux's `setpriv`; root may write anything), otherwise the
/// files and the directory are made read-only around the command.
pub fn as_reader(dir: &Path, db: &Path, migrations: &Path, args: &[&str]) -> Output {
    if rustix::process::geteuid().is_root() {
        open_to_all(dir);
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(migrate_bin())
            .arg("--db")
            .arg(db)
            .arg("--migrations")
            .arg(migrations)
            .args(["--lock-timeout", "2"])
            .args(args);
        for variable in [
            "MIGRATE_DB",
            "DATABASE_URL",
            "MIGRATE_CONFIG",
            "MIGRATE_JSON",
        ] {
            cmd.env_remove(variable);
        }
        return cmd.output().expect("setpriv (util-linux) runs the reader");
    }
    let mut paths = vec![dir.to_path_buf()];
    for suffix in ["", "-journal", "-wal", "-shm"] {
        paths.push(sibling(db, suffix));
    }
    let mut modes = Vec::new();
    for path in paths {
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode();
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !0o222));
            modes.push((path, mode));
        }
    }
    let out = migrate(db, migrations, args).output().unwrap();
    for (path, mode) in modes {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    out
}

/// Kills the application writer on `db` until the kill lands inside a transaction that left a
/// journal (rollback mode) or uncommitted WAL frames; `false` when twenty kills did not.
pub fn kill_writer_inside_a_write(db: &Path) -> bool {
    for attempt in 0..20u64 {
        let writer = start_writer(db, false);
        std::thread::sleep(Duration::from_millis(30 + attempt * 7));
        kill(writer);
        if std::fs::metadata(sibling(db, "-journal")).is_ok_and(|m| m.len() > 0)
            || std::fs::metadata(sibling(db, "-wal")).is_ok_and(|m| m.len() > 0)
        {
            return true;
        }
    }
    false
}

/// SQLite's verdict after its own recovery, on a copy.
struct Oracle {
    quick_ok: bool,
    full_ok: bool,
    content: String,
}

fn oracle(case: &CaseDir) -> Oracle {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("app.db");
    for suffix in ["", "-journal", "-wal"] {
        let from = sibling(&case.db, suffix);
        if from.exists() {
            std::fs::copy(&from, sibling(&copy, suffix)).unwrap();
        }
    }
    // A connection that can write recovers on its first read.
    let says_ok = |pragma: &str| {
        Connection::open(&copy)
            .and_then(|c| c.query_row(pragma, [], |r| r.get::<_, String>(0)))
            .is_ok_and(|answer| answer == "ok")
    };
    let quick_ok = says_ok("PRAGMA quick_check");
    let full_ok = says_ok("PRAGMA integrity_check");
    Oracle {
        quick_ok,
        full_ok,
        content: user_dump(&copy),
    }
}

/// What one case showed.
#[derive(Debug, Clone)]
pub struct Case {
    pub kind: Kind,
    pub journal: Journal,
    pub access: Access,
    pub seed: u64,
    pub description: String,
    /// SQLite's `quick_check` after its own recovery said `ok`.
    pub recovered_ok: bool,
    /// Our check's verdict (`ok`, `damaged`, `could_not_check`) and obstacle, and its exit code.
    pub verdict: String,
    pub obstacle: Option<String>,
    pub check_exit: i32,
    /// `status`'s exit code.
    pub status_exit: i32,
    /// Our check said damaged where SQLite's recovered file is ok.
    pub false_damaged: bool,
    /// Our check said ok where SQLite's recovered file is damaged.
    pub missed: bool,
    /// `repair` left user content other than SQLite's recovery gives (writable cases).
    pub repair_differs: bool,
    /// Everything that broke a rule, in words.
    pub violations: Vec<String>,
}

/// Starts the application writer on `db` (`exclusive` for the EXCLUSIVE holder), once it has
/// committed (or taken the file).
pub fn start_writer(db: &Path, exclusive: bool) -> Child {
    let mut cmd = Command::new(example_bin("torn_writer"));
    cmd.arg(db).stdout(Stdio::piped()).stderr(Stdio::null());
    if exclusive {
        cmd.arg("exclusive");
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

/// Kills `child` (SIGKILL) and reaps it.
pub fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `cmd`, killing it after `delay` unless it finished first; says which.
fn run_and_kill(mut cmd: Command, delay: Duration) -> &'static str {
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return "finished before the kill";
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    kill(child);
    "killed"
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Runs one case (see the module docs); the rules it broke are in `violations`.
pub fn case(
    template: &Template,
    (kind, journal, access): (Kind, Journal, Access),
    seed: u64,
) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (kind as u64) << 32);
    let name = format!("{kind:?}-{journal:?}-{access:?}-{seed}");
    let dir = template.copy(kind, journal, &name);
    let mut holder = None;
    let mut description = String::new();
    match kind {
        // Seed 0 (the one CI runs) kills until the kill lands inside a write, so that every
        // combination sees a journal or WAL left to recover, whatever the timing on the
        // machine; later seeds kill at a random moment.
        Kind::Writer if seed == 0 => {
            let inside = kill_writer_inside_a_write(&dir.db);
            description.push_str(if inside {
                "writer killed inside a write"
            } else {
                "writer killed (twenty kills left nothing to recover)"
            });
        }
        Kind::Writer => {
            let writer = start_writer(&dir.db, false);
            std::thread::sleep(Duration::from_millis(rng.next_u64() % 300));
            kill(writer);
            description.push_str("writer killed");
        }
        Kind::Exclusive => {
            holder = Some(start_writer(&dir.db, true));
            description.push_str("held in EXCLUSIVE mode");
        }
        Kind::ReadOnlyDir => {
            // Even seeds (seed 0 in CI) kill a writer there first, inside a write.
            if seed.is_multiple_of(2) {
                kill_writer_inside_a_write(&dir.db);
                description.push_str("writer killed; ");
            }
            description.push_str("directory read-only");
        }
        _ => {
            let span = template.durations[&(kind, journal)].as_micros() as u64 * 11 / 10;
            let delay = Duration::from_micros(rng.next_u64() % span.max(1));
            let how = run_and_kill(dir.ours(kind.command().unwrap()), delay);
            let _ = write!(description, "{how} after {delay:?}");
        }
    }
    let left = dir.leftovers();
    if !left.is_empty() {
        let _ = write!(description, " ({left} left)");
    }
    let before = dir.bytes();
    let check = dir.looked_at(access, &["--json", "check"]);
    let status = dir.looked_at(access, &["--json", "status"]);
    if let Some(holder) = holder {
        kill(holder);
    }
    // The oracle after the holder let go: SQLite's verdict on what the file is.
    let truth = oracle(&dir);
    let doc = json(&check);
    let mut case = Case {
        kind,
        journal,
        access,
        seed,
        description,
        recovered_ok: truth.quick_ok,
        verdict: doc["verdict"].as_str().unwrap_or("none").to_owned(),
        obstacle: doc["obstacle"].as_str().map(str::to_owned),
        check_exit: check.status.code().unwrap_or(-1),
        status_exit: status.status.code().unwrap_or(-1),
        false_damaged: false,
        missed: false,
        repair_differs: false,
        violations: Vec::new(),
    };
    judge(&mut case, (&check, &status), kind == Kind::Exclusive);
    if access == Access::ReadOnly && dir.bytes() != before {
        case.violations
            .push("a reader that may not write changed the files".to_owned());
    }
    if access == Access::Writable && kind.kills() {
        let repair = dir.ours(&["--json", "repair"]).output().unwrap();
        let report = json(&repair);
        let content = user_dump(&dir.db);
        if content != truth.content {
            case.repair_differs = true;
            case.violations.push(format!(
                "repair (exit {:?}) left user content other than SQLite's recovery gives",
                repair.status.code()
            ));
        }
        if truth.full_ok && report["actions"].as_array().is_some_and(|a| !a.is_empty()) {
            case.violations.push(format!(
                "repair acted on a database SQLite's recovery calls ok: {}",
                report["actions"]
            ));
        }
        if repair.status.code() != Some(0) || report["ok"] != true {
            case.violations.push(format!(
                "repair did not end ok (exit {:?}): {}",
                repair.status.code(),
                String::from_utf8_lossy(&repair.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir.root);
    case
}

/// The rules of the module docs for `check` and `status`.
fn judge(case: &mut Case, (check, status): (&Output, &Output), held: bool) {
    let said = |out: &Output| {
        format!(
            "{} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let expected_exit = match (case.verdict.as_str(), case.obstacle.as_deref()) {
        ("ok", _) => Some(0),
        ("damaged", _) => Some(6),
        ("could_not_check", Some("locked")) => Some(3),
        ("could_not_check", Some("recovery_pending" | "access_denied")) => Some(2),
        _ => None,
    };
    if expected_exit != Some(case.check_exit) {
        case.violations.push(format!(
            "check answered {} ({:?}) with exit {}: {}",
            case.verdict,
            case.obstacle,
            case.check_exit,
            said(check)
        ));
    }
    match case.verdict.as_str() {
        "damaged" if case.recovered_ok => {
            case.false_damaged = true;
            case.violations
                .push("check said damaged where SQLite's recovered file is ok".to_owned());
        }
        "ok" if !case.recovered_ok && !held => {
            case.missed = true;
            case.violations
                .push("check said ok where SQLite's recovered file is damaged".to_owned());
        }
        "could_not_check" => {
            let why = case.obstacle.as_deref().unwrap_or("none");
            let allowed = match (case.kind, case.access) {
                (Kind::Exclusive, _) => why == "locked",
                (_, Access::ReadOnly) => matches!(why, "recovery_pending" | "access_denied"),
                (_, Access::Writable) => false,
            };
            if !allowed {
                case.violations.push(format!(
                    "check gave no verdict ({why}) where it should have: {}",
                    said(check)
                ));
            }
        }
        _ => {}
    }
    let status_exit = case.status_exit;
    if status_exit == 6 && case.recovered_ok {
        case.violations.push(format!(
            "status exited 6 on a database SQLite's recovery calls ok: {}",
            said(status)
        ));
    }
    if !matches!(status_exit, 0 | 2 | 3 | 6) {
        case.violations
            .push(format!("status exited {status_exit}: {}", said(status)));
    }
    if held && case.check_exit != 3 {
        case.violations.push(format!(
            "the EXCLUSIVE holder was not reported as a lock: {}",
            said(check)
        ));
    }
}

/// Counts for one kind, journal mode and access.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub cases: usize,
    pub recovered_damaged: usize,
    pub ok: usize,
    pub damaged: usize,
    pub could_not_check: usize,
    pub false_damaged: usize,
    pub missed: usize,
    pub repair_differs: usize,
    pub violations: usize,
}

/// The totals by kind, journal mode and access.
pub type ByCombination = BTreeMap<(Kind, Journal, Access), Totals>;

/// Runs `per_combination` seeds of every kind, journal mode and access.
pub fn run(per_combination: u64) -> (Vec<Case>, ByCombination) {
    let template = Template::new();
    let mut cases = Vec::new();
    let mut totals = ByCombination::new();
    for kind in Kind::ALL {
        for &journal in kind.journals() {
            for &access in kind.accesses() {
                for seed in 0..per_combination {
                    let c = case(&template, (kind, journal, access), seed);
                    let t = totals.entry((kind, journal, access)).or_default();
                    t.cases += 1;
                    t.recovered_damaged += usize::from(!c.recovered_ok);
                    match c.verdict.as_str() {
                        "ok" => t.ok += 1,
                        "damaged" => t.damaged += 1,
                        _ => t.could_not_check += 1,
                    }
                    t.false_damaged += usize::from(c.false_damaged);
                    t.missed += usize::from(c.missed);
                    t.repair_differs += usize::from(c.repair_differs);
                    t.violations += usize::from(!c.violations.is_empty());
                    cases.push(c);
                }
            }
        }
    }
    (cases, totals)
}

/// The totals as a markdown table.
pub fn table(totals: &ByCombination) -> String {
    let mut out = String::from(
        "| kind | journal | file | cases | SQLite's recovered file damaged | we said ok | we said damaged | we could not check (and said why) | false damaged | missed | repairs that differ from SQLite's recovery |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut sum = Totals::default();
    for ((kind, journal, access), t) in totals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            kind.name(),
            journal.name(),
            access.name(),
            t.cases,
            t.recovered_damaged,
            t.ok,
            t.damaged,
            t.could_not_check,
            t.false_damaged,
            t.missed,
            t.repair_differs
        );
        for (s, n) in [
            (&mut sum.cases, t.cases),
            (&mut sum.recovered_damaged, t.recovered_damaged),
            (&mut sum.ok, t.ok),
            (&mut sum.damaged, t.damaged),
            (&mut sum.could_not_check, t.could_not_check),
            (&mut sum.false_damaged, t.false_damaged),
            (&mut sum.missed, t.missed),
            (&mut sum.repair_differs, t.repair_differs),
        ] {
            *s += n;
        }
    }
    let _ = writeln!(
        out,
        "| **all** | | | {} | {} | {} | {} | {} | {} | {} | {} |",
        sum.cases,
        sum.recovered_damaged,
        sum.ok,
        sum.damaged,
        sum.could_not_check,
        sum.false_damaged,
        sum.missed,
        sum.repair_differs
    );
    out
}
