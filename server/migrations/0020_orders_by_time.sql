-- The console's order list pages newest first by (created_at, id), and the
-- reports read a time range: both walk this index instead of sorting every
-- order of every show.
CREATE INDEX orders_by_created ON orders (created_at, id);
