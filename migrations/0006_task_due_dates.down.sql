DROP INDEX tasks_due;
ALTER TABLE tasks DROP COLUMN due_on;
