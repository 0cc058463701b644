-- Friends: each account's friend code, pending requests, friendships and
-- blocks. Guests are ordinary accounts, so they keep friends for the life
-- of their account. The server loads friendships and blocks into memory at
-- start and follows each committed write.

-- One code per account; rotating it replaces the row, so the old code is
-- unknown from then on.
CREATE TABLE friend_codes (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id),
    code TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- A request from one account to another, until accepted or declined.
CREATE TABLE friend_requests (
    from_id BIGINT NOT NULL REFERENCES accounts (id),
    to_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (from_id, to_id)
);

CREATE INDEX friend_requests_by_to ON friend_requests (to_id);

-- A friendship, one row per pair, the lower account id first.
CREATE TABLE friendships (
    low_id BIGINT NOT NULL REFERENCES accounts (id),
    high_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (low_id, high_id)
);

CREATE TABLE friend_blocks (
    blocker_id BIGINT NOT NULL REFERENCES accounts (id),
    blocked_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
