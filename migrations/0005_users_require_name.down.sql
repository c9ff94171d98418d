-- The reverse rebuild: name optional again, no email CHECK. Child rows survive as above.
CREATE TABLE old_users (
    id         INTEGER PRIMARY KEY,
    email      TEXT    NOT NULL UNIQUE,
    name       TEXT,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO old_users (id, email, name, created_at)
    SELECT id, email, name, created_at FROM users;
DROP TABLE users;
ALTER TABLE old_users RENAME TO users;
