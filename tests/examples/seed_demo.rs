//! Inserts a little data into the demo database (`seed_demo DB`), or counts it
//! (`seed_demo DB --count`), so the demo shows child rows surviving the rebuild of their parent
//! table without needing the sqlite3 CLI.

fn main() {
    let db = std::env::args()
        .nth(1)
        .expect("usage: seed_demo DB [--count]");
    let conn = rusqlite::Connection::open(&db).expect("open the demo database");
    if std::env::args().nth(2).as_deref() == Some("--count") {
        println!(
            "{} child rows, {} dangling references",
            count(&conn, CHILDREN),
            count(&conn, DANGLING)
        );
        return;
    }
    conn.execute_batch(
        "INSERT INTO users (id, email, name) VALUES (1, 'Ann@Example.com', 'Ann'), (2, 'bob@example.com', NULL);
         INSERT INTO projects VALUES (10, 1, 'roadmap'), (11, 2, 'garden');
         INSERT INTO memberships VALUES (10, 2, 2);
         INSERT INTO tasks (id, project_id, title) VALUES (100, 10, 'plan'), (101, 11, 'dig');",
    )
    .expect("seed the demo database");
    println!("seeded 2 users and {} child rows", count(&conn, CHILDREN));
}

const CHILDREN: &str = "SELECT (SELECT count(*) FROM projects) + (SELECT count(*) FROM memberships) \
                        + (SELECT count(*) FROM tasks)";
const DANGLING: &str = "SELECT count(*) FROM pragma_foreign_key_check";

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}
