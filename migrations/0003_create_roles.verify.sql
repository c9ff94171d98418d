SELECT count(*) = 3 FROM roles;
SELECT count(*) = 1 FROM roles WHERE name = 'owner';
