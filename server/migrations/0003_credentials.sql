-- Registered accounts (hosts, co-hosts, moderators, shoppers with a
-- password) sign in with a username; guests have neither column set.

ALTER TABLE accounts ADD COLUMN username TEXT;
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
CREATE UNIQUE INDEX accounts_by_username ON accounts (username);
