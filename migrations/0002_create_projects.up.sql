CREATE TABLE projects (
    id       INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title    TEXT    NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id);
