SELECT count(*) = 1 FROM pragma_foreign_key_list('projects') WHERE "table" = 'users';
