DROP TABLE backup_codes;
DROP TABLE totp_factors;
