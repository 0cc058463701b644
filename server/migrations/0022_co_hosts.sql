-- Co-hosts: people the host invites onto the stage, each with a seat (1 to
-- 4; the host's is 0) and an ingest key. The key is shown once, when the
-- invitation is made; only its SHA-256 digest and last four characters
-- are kept. Revoking keeps the row (who was on the show) and frees the seat.

CREATE TABLE co_hosts (
    id BIGINT PRIMARY KEY,
    seat BIGINT NOT NULL CHECK (seat BETWEEN 1 AND 4),
    name TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    key_hint TEXT NOT NULL,
    invited_by BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- One invitation holds a seat at a time, whatever two requests race.
CREATE UNIQUE INDEX co_hosts_one_per_seat ON co_hosts (seat) WHERE revoked_at IS NULL;
