DROP INDEX projects_owner;
DROP TABLE projects;
