-- Show control: a show may be scheduled before it goes live, has a line-up
-- of products, features up to three of them, and remembers its peak
-- audience. `started_at` is when it was scheduled to start (or started);
-- `live_at` is when it actually went live.
ALTER TABLE shows ADD COLUMN live_at BIGINT;
UPDATE shows SET live_at = started_at;
ALTER TABLE shows ADD COLUMN lineup TEXT NOT NULL DEFAULT '[]';
ALTER TABLE shows ADD COLUMN featured TEXT NOT NULL DEFAULT '[]';
ALTER TABLE shows ADD COLUMN peak_viewers BIGINT NOT NULL DEFAULT 0;
