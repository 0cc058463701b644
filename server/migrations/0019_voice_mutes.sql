-- Voice-mutes: a moderator stops a shopper's voice from being forwarded
-- until `until_at`, as chat mutes (0009) stop its chat. Separate from chat
-- mutes: either may run without the other. Ended ones mean nothing; the
-- server clears those at start.

CREATE TABLE moderation_voice_mutes (
    account_id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    until_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    muted_by BIGINT NOT NULL,
    muted_at BIGINT NOT NULL
);
