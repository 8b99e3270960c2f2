DROP TABLE file_status_changes;
DROP TABLE files;
