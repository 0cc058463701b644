-- Engagement: shows, the points ledger, badges, polls, Q&A and giveaways.

CREATE TABLE shows (
    id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    started_by BIGINT NOT NULL
);

-- Every point earned or spent, with why. (account, reason, ref) is unique:
-- the same minute watched from two rooms, or a retried grant, counts once.
CREATE TABLE point_grants (
    id BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    points BIGINT NOT NULL,
    reason TEXT NOT NULL,
    ref TEXT NOT NULL,
    show_id BIGINT,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX point_grants_once ON point_grants (account_id, reason, ref);
CREATE INDEX point_grants_by_show ON point_grants (show_id);

CREATE TABLE badges (
    account_id BIGINT NOT NULL,
    badge TEXT NOT NULL,
    show_id BIGINT,
    earned_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, badge)
);

CREATE TABLE polls (
    id BIGINT PRIMARY KEY,
    show_id BIGINT,
    question TEXT NOT NULL,
    -- A JSON array of the option texts.
    options TEXT NOT NULL,
    closes_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE poll_votes (
    poll_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    option_index BIGINT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (poll_id, account_id)
);

CREATE TABLE questions (
    id BIGINT PRIMARY KEY,
    show_id BIGINT,
    account_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    asked_at BIGINT NOT NULL,
    answered_at BIGINT
);

CREATE TABLE question_votes (
    question_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    PRIMARY KEY (question_id, account_id)
);

CREATE TABLE giveaways (
    id BIGINT PRIMARY KEY,
    show_id BIGINT,
    prize TEXT NOT NULL,
    -- 'everyone', 'present' (rule_minutes) or 'bought_in_show'.
    rule TEXT NOT NULL,
    rule_minutes BIGINT NOT NULL,
    -- Hex: the secret seed, and its SHA-256 published at once.
    seed TEXT NOT NULL,
    commitment TEXT NOT NULL,
    closes_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE giveaway_entries (
    giveaway_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    entered_at BIGINT NOT NULL,
    PRIMARY KEY (giveaway_id, account_id)
);

CREATE TABLE giveaway_draws (
    giveaway_id BIGINT NOT NULL,
    draw BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    drawn_at BIGINT NOT NULL,
    claim_by BIGINT NOT NULL,
    claimed_at BIGINT,
    PRIMARY KEY (giveaway_id, draw)
);

CREATE TABLE invites (
    code TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

ALTER TABLE accounts ADD COLUMN invited_by BIGINT;
