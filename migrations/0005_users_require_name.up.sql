-- Make users.name required and lower-case every email: SQLite cannot add NOT NULL or CHECK
-- constraints to an existing column, so the table is rebuilt by the 12-step procedure of
-- https://sqlite.org/lang_altertable.html#otheralter. users is a parent table: projects and
-- memberships reference it with ON DELETE CASCADE. The runner turns foreign-key enforcement
-- off before BEGIN, so DROP TABLE users below deletes no child row, and it runs
-- foreign_key_check before COMMIT.
CREATE TABLE new_users (
    id         INTEGER PRIMARY KEY,
    email      TEXT    NOT NULL UNIQUE CHECK (email = lower(email)),
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO new_users (id, email, name, created_at)
    SELECT id, lower(email), coalesce(name, substr(email, 1, instr(email, '@') - 1)), created_at
    FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
CREATE INDEX users_name ON users (name);
