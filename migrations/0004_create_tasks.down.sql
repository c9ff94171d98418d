DROP INDEX tasks_project;
DROP TABLE tasks;
