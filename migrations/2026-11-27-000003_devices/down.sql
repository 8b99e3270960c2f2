ALTER TABLE sessions DROP COLUMN device_id;
DROP TABLE devices;
