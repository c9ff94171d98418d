SELECT count(*) = 1 FROM sqlite_schema WHERE type = 'index' AND name = 'tasks_project';
