ALTER TABLE sessions DROP COLUMN auth_time;
ALTER TABLE sessions DROP COLUMN second_factor;
