-- Moderation: timed mutes, bans, the keyword filter and the log of every
-- moderator action. A mute past its end means nothing; the server clears
-- those at start.

CREATE TABLE moderation_mutes (
    account_id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    until_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    muted_by BIGINT NOT NULL,
    muted_at BIGINT NOT NULL
);

CREATE TABLE moderation_bans (
    account_id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    banned_by BIGINT NOT NULL,
    banned_at BIGINT NOT NULL
);

-- The blocked terms, lower case, in the order the host gave them.
CREATE TABLE moderation_filter_terms (
    position BIGINT PRIMARY KEY,
    term TEXT NOT NULL
);

-- Every action, numbered in the order it was taken (newest: highest seq).
CREATE TABLE moderation_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT NOT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    room_id TEXT,
    target_id BIGINT,
    target_name TEXT,
    details TEXT NOT NULL
);
