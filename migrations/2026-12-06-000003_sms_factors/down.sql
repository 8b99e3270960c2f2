DROP TABLE sms_factors;
