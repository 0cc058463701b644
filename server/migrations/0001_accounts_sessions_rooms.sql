-- Portable SQL: the same file runs on SQLite and PostgreSQL. Ids are made by
-- the application, integers are BIGINT, times are Unix milliseconds.

CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
