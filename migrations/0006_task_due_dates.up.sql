ALTER TABLE tasks ADD COLUMN due_on TEXT CHECK (due_on IS NULL OR due_on = date(due_on));
CREATE INDEX tasks_due ON tasks (due_on) WHERE due_on IS NOT NULL;
