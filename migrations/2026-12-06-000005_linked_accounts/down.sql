DROP TABLE linked_accounts;
