-- Fair limits. A guest account records the network it was created from (an
-- IPv4 address, or an IPv6 /64 written as its prefix), so that guests from
-- one network share one per-buyer count and at most so many are made a day.
-- Older accounts and registered ones have none: each counts alone.
ALTER TABLE accounts ADD COLUMN network TEXT;

CREATE INDEX accounts_by_network ON accounts (network, created_at);

-- A coupon bought with points is bound to the account that bought it; NULL
-- for a host's coupon, which anyone may use.
ALTER TABLE coupons ADD COLUMN bound_to BIGINT;
