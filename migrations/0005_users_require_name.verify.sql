-- The rebuilt table has the new constraint, and no child row lost its parent.
SELECT "notnull" = 1 FROM pragma_table_info('users') WHERE name = 'name';
SELECT count(*) = 0 FROM pragma_foreign_key_check;
SELECT count(*) = 0 FROM users WHERE email <> lower(email);
