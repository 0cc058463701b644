-- A group deal may run "until the show ends" (at most 24 h): it records the
-- show it belongs to, and closes (its open teams voided) when that show
-- ends, or at start-up when the show ended while the server was down.
-- NULL for a deal with a fixed window.

ALTER TABLE group_deals ADD COLUMN show_id BIGINT;

-- Friend requests expire after 30 days unanswered: they are deleted by
-- age, which this index keeps cheap.
CREATE INDEX friend_requests_by_age ON friend_requests (created_at);
