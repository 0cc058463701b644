-- The host console's records: who watched each show (for conversion and
-- the after-show summary) and every chat line (for the CSV export).

CREATE TABLE show_viewers (
    show_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (show_id, account_id)
);

CREATE TABLE chat_log (
    id BIGINT PRIMARY KEY,
    room TEXT NOT NULL,
    seq BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);

-- A show's chat is the lines sent while it was live.
CREATE INDEX chat_log_by_time ON chat_log (sent_at);
