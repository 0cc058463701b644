-- Restream outlets: other platforms (YouTube, Twitch, any RTMP or RTMPS
-- URL) the show is sent on to while it is live. The stream key is needed
-- to publish, so it is kept, sealed (ChaCha20-Poly1305 under a key in the
-- server's data directory, bound to the row's id); the API shows only its
-- last four characters.

CREATE TABLE restream_outlets (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    key_hint TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL
);
