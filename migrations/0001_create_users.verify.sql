SELECT count(*) = 4 FROM pragma_table_info('users');
