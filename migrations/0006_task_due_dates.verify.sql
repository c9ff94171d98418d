SELECT count(*) = 1 FROM pragma_table_info('tasks') WHERE name = 'due_on';
